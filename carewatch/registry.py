"""The in-memory view of the registry that the hot path consults: device -> site and resident, resident -> index.

Dict reads are safe from any thread; `refresh` swaps whole dicts, so a reader never sees a half-built view, and
keeps the old dicts when nothing changed, so that a consumer can tell a change by identity (`is`), cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from carewatch.model import Contact, ContactLink, ContactRole, Device, DeviceKind, Resident, Site, SiteKind, upserted
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
    """Register the sites, residents, devices and contacts of a JSON manifest (upserts: safe to apply again). A
    site's or resident's field the manifest leaves out keeps its stored value (`upserted`), as through the API."""
    sites = {s.site_id: s for s in store.sites()}
    store.upsert_sites(
        [upserted(sites.get(s["site_id"]), Site, {**s, "kind": SiteKind(s["kind"])}) for s in manifest.get("sites", [])]
    )
    residents = {r.resident_id: r for r in store.residents()}
    store.upsert_residents(
        [upserted(residents.get(r["resident_id"]), Resident, r) for r in manifest.get("residents", [])]
    )
    store.upsert_devices([Device(**{**d, "kind": DeviceKind(d["kind"])}) for d in manifest.get("devices", [])])
    contacts = [Contact(**{**c, "role": ContactRole(c["role"])}) for c in manifest.get("contacts", [])]
    store.upsert_contacts(contacts, [ContactLink(**k) for k in manifest.get("contact_links", [])])
