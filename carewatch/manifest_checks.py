"""A manifest's registry sections checked whole before anything of it is written (`carewatch registry load`), so that a
bad entry leaves the registry as it was: each section a list of objects with the record's fields, ids usable in URLs
and MQTT topics, kinds and roles of the catalogue, IANA time zones, no id twice, and every reference (a resident's
site, a device's site and resident, a link's resident and contact) to a record stored or in the manifest. A failure
names the entry: ``devices[3]: no resident 'r9' (register it under residents)``."""

from __future__ import annotations

from dataclasses import MISSING, fields
from enum import Enum
from typing import Any

from carewatch.model import (
    Contact,
    ContactLink,
    ContactRole,
    Device,
    DeviceKind,
    Resident,
    Site,
    SiteKind,
    id_problem,
)
from carewatch.storage.base import Store, timezone_problem

ENUMS: dict[str, type[Enum]] = {"sites.kind": SiteKind, "devices.kind": DeviceKind, "contacts.role": ContactRole}


class ManifestError(ValueError):
    """A manifest entry that cannot be registered: which one, and why. Nothing of the manifest was written."""


def check_registry(store: Store, manifest: Any) -> None:
    """Raise ManifestError for the first entry of the registry sections that cannot be registered."""
    if not isinstance(manifest, dict):
        raise ManifestError("a manifest is a JSON object of sections (sites, residents, devices, contacts, ...)")
    stored_sites = {s.site_id for s in store.sites()}
    sites = stored_sites | set(_section(manifest, "sites", Site, "site_id", stored_sites))
    residents: dict[str, Any] = {r.resident_id: r.site_id for r in store.residents()}
    for resident_id, (where, entry) in _section(manifest, "residents", Resident, "resident_id", set(residents)).items():
        residents[resident_id] = entry.get("site_id", residents.get(resident_id))
        _known(where, "site", residents[resident_id], sites, "sites")
    devices = {d.device_id: d for d in store.devices()}
    for device_id, (where, entry) in _section(manifest, "devices", Device, "device_id", set(devices)).items():
        stored = devices.get(device_id)
        site_id: Any = entry.get("site_id", stored.site_id if stored else None)
        owner: Any = entry.get("resident_id", stored.resident_id if stored else None)
        _known(where, "site", site_id, sites, "sites")
        if owner is not None:
            _known(where, "resident", owner, residents, "residents")
            if residents[owner] != site_id:
                raise ManifestError(f"{where}: resident {owner!r} lives at site {residents[owner]!r}, not {site_id!r}")
    stored_contacts = {c.contact_id for c in store.contacts()}
    contacts = stored_contacts | set(_section(manifest, "contacts", Contact, "contact_id", stored_contacts))
    for where, entry in entries(manifest, "contact_links"):
        _fields(where, entry, ContactLink, new=True)
        _known(where, "resident", entry["resident_id"], residents, "residents")
        _known(where, "contact", entry["contact_id"], contacts, "contacts")


def _section(
    manifest: dict[str, Any], name: str, record: type, key: str, stored: set[str]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """The section's entries, each checked alone: id -> (where it is, the entry)."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for where, entry in entries(manifest, name):
        record_id = entry.get(key)
        if not isinstance(record_id, str):
            raise ManifestError(f"{where}: {key}: give it, as text")
        if (problem := id_problem(record_id)) is not None:
            raise ManifestError(f"{where}: {key}: {problem}")
        if record_id in found:
            raise ManifestError(f"{where}: {key} {record_id!r} is given twice")
        _fields(where, entry, record, new=record_id not in stored)
        for field_name, value in entry.items():
            _value(where, f"{name}.{field_name}", value)
        found[record_id] = (where, entry)
    return found


def entries(manifest: dict[str, Any], name: str, shape: str = "an object") -> list[tuple[str, dict[str, Any]]]:
    """The section ``name``'s entries, each with where it is (``name[i]``): a list of objects (``shape`` says which)."""
    section = manifest.get(name, [])
    if not isinstance(section, list):
        raise ManifestError(f"{name}: give a list of objects")
    for i, entry in enumerate(section):
        if not isinstance(entry, dict):
            raise ManifestError(f"{name}[{i}]: give {shape}")
    return [(f"{name}[{i}]", entry) for i, entry in enumerate(section)]


def _fields(where: str, entry: dict[str, Any], record: type, new: bool) -> None:
    """No field the record does not have; a new record's required fields all given."""
    known = {f.name: f for f in fields(record)}
    unknown = sorted(set(entry) - set(known))
    required = [n for n, f in known.items() if f.default is MISSING and f.default_factory is MISSING]
    missing = [n for n in required if n not in entry] if new else []
    if unknown or missing:
        problems = [f"unknown field {n!r}" for n in unknown] + [f"give {n}" for n in missing]
        raise ManifestError(f"{where}: " + "; ".join(problems))


def _value(where: str, field_name: str, value: Any) -> None:
    enum = ENUMS.get(field_name)
    if enum is not None and value not in [member.value for member in enum]:
        allowed = ", ".join(member.value for member in enum)
        raise ManifestError(f"{where}: {field_name.split('.')[1]} {value!r} is not one of {allowed}")
    if field_name == "sites.timezone":
        problem = timezone_problem(value) if isinstance(value, str) else "give timezone as text (an IANA name)"
        if problem is not None:
            raise ManifestError(f"{where}: {problem}")


def _known(where: str, what: str, record_id: Any, known: dict[str, Any] | set[str], section: str) -> None:
    if record_id not in known:
        raise ManifestError(f"{where}: no {what} {record_id!r} (register it under {section})")
