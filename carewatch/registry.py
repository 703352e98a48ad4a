"""The in-memory view of the registry that the hot path consults: device -> site and resident, resident -> index.

Dict reads are safe from any thread; `refresh` swaps whole dicts, so a reader never sees a half-built view, and
keeps the old dicts when nothing changed, so that a consumer can tell a change by identity (`is`), cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from carewatch.model import (
    Contact,
    ContactLink,
    ContactRole,
    Device,
    DeviceKind,
    Registered,
    Resident,
    Site,
    SiteKind,
    upserted,
)
from carewatch.storage.base import Store


@dataclass(slots=True)
class Registry:
    devices: dict[str, Device] = field(default_factory=dict)
    by_friendly_name: dict[str, Device] = field(default_factory=dict)
    residents: dict[str, Resident] = field(default_factory=dict)
    site_ids: frozenset[str] = frozenset()

    @classmethod
    def load(cls, store: Store) -> Registry:
        registry = cls()
        registry.refresh(store)
        return registry

    def refresh(self, store: Store) -> None:
        devices = {d.device_id: d for d in store.devices()}
        if devices != self.devices:
            self.devices = devices
            self.by_friendly_name = {d.friendly_name: d for d in devices.values() if d.friendly_name}
        residents = {r.resident_id: r for r in store.residents()}
        if residents != self.residents:
            self.residents = residents
        self.site_ids = frozenset(site.site_id for site in store.sites())


def apply_manifest(store: Store, manifest: dict[str, Any]) -> None:
    """Register the sites, residents, devices, contacts and their links of a JSON manifest (upserts: safe to apply
    again). A field the manifest leaves out keeps its stored value (`upserted`), as through the API."""
    sites = [{**s, "kind": SiteKind(s["kind"])} for s in manifest.get("sites", [])]
    store.upsert_sites(_upserted_all(store.sites(), Site, sites, "site_id"))
    store.upsert_residents(_upserted_all(store.residents(), Resident, manifest.get("residents", []), "resident_id"))
    devices = [{**d, "kind": DeviceKind(d["kind"])} for d in manifest.get("devices", [])]
    store.upsert_devices(_upserted_all(store.devices(), Device, devices, "device_id"))
    contacts = [{**c, "role": ContactRole(c["role"])} for c in manifest.get("contacts", [])]
    links = manifest.get("contact_links", [])
    store.upsert_contacts(
        _upserted_all(store.contacts(), Contact, contacts, "contact_id"),
        _upserted_all(store.contact_links(), ContactLink, links, "resident_id", "contact_id"),
    )


def _upserted_all(
    stored: Iterable[Registered], new: Callable[..., Registered], records: list[dict[str, Any]], *key: str
) -> list[Registered]:
    """A manifest's records, each `upserted` over the stored record with the same ``key`` fields."""
    by_key = {tuple(getattr(s, k) for k in key): s for s in stored}
    return [upserted(by_key.get(tuple(r[k] for k in key)), new, r) for r in records]
