"""The in-memory view of the registry that the hot path consults: device -> site and resident, resident -> index.

Dict reads are safe from any thread; `refresh` swaps whole dicts, so a reader never sees a half-built view, and
keeps the old dicts when nothing changed, so that a consumer can tell a change by identity (`is`), cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from carewatch.manifest_checks import ManifestError, check_registry, entries
from carewatch.model import (
    SITE_CONTACT_ROLES,
    Contact,
    ContactLink,
    ContactRole,
    Device,
    DeviceKind,
    Registered,
    Resident,
    Severity,
    Site,
    SiteKind,
    upserted,
)
from carewatch.storage.base import (
    ContactChannel,
    ContactPreference,
    Store,
    channel_address_problem,
    preference_problem,
)


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
    """Register the sites, residents, devices, contacts and their links of a JSON manifest, and what routing reads:
    contacts' channels (``contact_channels``) and family contacts' preferences (``contact_preferences``), sites' own
    contacts (``site_contacts``). Upserts: safe to apply again; a field the manifest leaves out keeps its stored value
    (`upserted`), as through the API. A bad entry (`carewatch.manifest_checks`, and one routing could not use)
    raises ManifestError before anything is written."""
    check_registry(store, manifest)
    sites = [_typed(s, "kind", SiteKind) for s in manifest.get("sites", [])]
    devices = [_typed(d, "kind", DeviceKind) for d in manifest.get("devices", [])]
    contacts = [_typed(c, "role", ContactRole) for c in manifest.get("contacts", [])]
    new_sites = _upserted_all(store.sites(), Site, sites, "site_id")
    new_contacts = _upserted_all(store.contacts(), Contact, contacts, "contact_id")
    reach = _reach(store, manifest, new_sites, new_contacts)
    store.upsert_sites(new_sites)
    store.upsert_residents(_upserted_all(store.residents(), Resident, manifest.get("residents", []), "resident_id"))
    store.upsert_devices(_upserted_all(store.devices(), Device, devices, "device_id"))
    links = manifest.get("contact_links", [])
    store.upsert_contacts(
        new_contacts, _upserted_all(store.contact_links(), ContactLink, links, "resident_id", "contact_id")
    )
    store.upsert_contact_channels(reach.channels)
    store.upsert_contact_preferences(reach.preferences)
    for site_id, contact_id in reach.site_contacts:
        store.add_site_contacts(site_id, [contact_id])


def _typed(entry: dict[str, Any], name: str, kind: type[Enum]) -> dict[str, Any]:
    """The entry with its kind (or role) as the catalogue's member, if it gives one (a stored record keeps its own)."""
    return {**entry, name: kind(entry[name])} if name in entry else entry


def _upserted_all(
    stored: Iterable[Registered], new: Callable[..., Registered], records: list[dict[str, Any]], *key: str
) -> list[Registered]:
    """A manifest's records, each `upserted` over the stored record with the same ``key`` fields."""
    by_key = {tuple(getattr(s, k) for k in key): s for s in stored}
    return [upserted(by_key.get(tuple(r[k] for k in key)), new, r) for r in records]


# What routing reads: checked whole before anything is written -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reach:
    channels: list[ContactChannel]
    preferences: list[ContactPreference]
    site_contacts: list[tuple[str, str]]


def _reach(store: Store, manifest: dict[str, Any], sites: list[Site], contacts: list[Contact]) -> _Reach:
    roles = {c.contact_id: c.role for c in [*store.contacts(), *contacts]}
    site_ids = {s.site_id for s in [*store.sites(), *sites]}
    stored = store.contact_preferences(list(roles))
    channels = _entries(manifest, "contact_channels", ("contact_id", "channel", "address"))
    preferences = _entries(manifest, "contact_preferences", ("contact_id",), PREFERENCE_FIELDS)
    site_contacts = _entries(manifest, "site_contacts", ("site_id", "contact_id"))
    return _Reach(
        [_channel(where, e, roles) for where, e in channels],
        [_preference(where, e, roles, stored) for where, e in preferences],
        [_site_contact(where, e, roles, site_ids) for where, e in site_contacts],
    )


PREFERENCE_FIELDS = ("timezone", "quiet_start", "quiet_end", "rules")  # each optional: left out, the stored value


def _entries(
    manifest: dict[str, Any], key: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> list[tuple[str, dict[str, Any]]]:
    """The entries of ``key``, each with where it is (``key[i]``), once each has its fields and no others."""
    checked = []
    for where, entry in entries(manifest, key, f"an object with {', '.join(required)}"):
        missing = [f for f in required if not isinstance(entry.get(f), str)]
        unknown = sorted(set(entry) - {*required, *optional})
        if missing or unknown:
            raise ManifestError(f"{where}: " + "; ".join(
                [f"give {f} (text)" for f in missing] + [f"unknown field {f!r}" for f in unknown]
            ))  # fmt: skip
        checked.append((where, entry))
    return checked


def _contact(where: str, contact_id: str, roles: dict[str, ContactRole], *allowed: ContactRole) -> None:
    if contact_id not in roles:
        raise ManifestError(f"{where}: no contact {contact_id!r} (register it under contacts)")
    if roles[contact_id] not in allowed:
        raise ManifestError(f"{where}: contact {contact_id!r} is {roles[contact_id]}, not {' or '.join(allowed)}")


def _channel(where: str, entry: dict[str, Any], roles: dict[str, ContactRole]) -> ContactChannel:
    _contact(where, entry["contact_id"], roles, *ContactRole)
    problem = channel_address_problem(entry["channel"], entry["address"])
    if problem is not None:
        raise ManifestError(f"{where}: {problem}")
    return ContactChannel(entry["contact_id"], entry["channel"], entry["address"])


def _preference(
    where: str, entry: dict[str, Any], roles: dict[str, ContactRole], stored: dict[str, ContactPreference]
) -> ContactPreference:
    """The contact's preferences as the entry changes them (routing reads them for family contacts only)."""
    contact_id = entry["contact_id"]
    _contact(where, contact_id, roles, ContactRole.FAMILY)
    if ("quiet_start" in entry) != ("quiet_end" in entry):
        raise ManifestError(f"{where}: give both quiet_start and quiet_end (null for none), or neither")
    fields: dict[str, Any] = {f: entry[f] for f in ("timezone", "quiet_start", "quiet_end") if f in entry}
    if "rules" in entry:
        fields["rules"] = _rules(where, entry["rules"])
    try:
        preference = replace(stored.get(contact_id) or ContactPreference(contact_id), **fields)
        problem = preference_problem(preference)
    except TypeError:  # a number or a text where the other belongs
        problem = "timezone is text (an IANA name); quiet_start and quiet_end are minutes after local midnight"
    if problem is not None:
        raise ManifestError(f"{where}: {problem}")
    return preference


def _rules(where: str, rules: Any) -> tuple[tuple[str, Severity], ...]:
    try:
        return tuple((_text(r["rule"]), Severity(r["lowest"])) for r in rules)
    except (TypeError, KeyError, ValueError):
        severities = ", ".join(Severity)
        raise ManifestError(f"{where}: rules are a list of {{rule, lowest}}, lowest one of {severities}") from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _site_contact(
    where: str, entry: dict[str, Any], roles: dict[str, ContactRole], site_ids: set[str]
) -> tuple[str, str]:
    if entry["site_id"] not in site_ids:
        raise ManifestError(f"{where}: no site {entry['site_id']!r} (register it under sites)")
    _contact(where, entry["contact_id"], roles, *SITE_CONTACT_ROLES)
    return entry["site_id"], entry["contact_id"]
