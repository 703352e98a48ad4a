"""The registry view: a refresh that finds nothing new keeps the same dicts (the alert core then skips its resize).
A manifest loaded again keeps what it leaves out."""

from __future__ import annotations

from pathlib import Path

from carewatch.model import Contact, ContactLink, ContactRole, Device, DeviceKind, Resident, Site, SiteKind
from carewatch.registry import Registry, apply_manifest
from carewatch.storage.sqlite import SqliteStore

MANIFEST = {
    "sites": [{"site_id": "h1", "name": "Li home", "kind": "home"}],
    "residents": [{"resident_id": "r1", "site_id": "h1", "name": "Li Wei"}],
    "devices": [{"device_id": "door1", "site_id": "h1", "kind": "door", "room": "hall", "friendly_name": "front_door"}],
    "contacts": [{"contact_id": "c1", "name": "Li Na", "role": "family", "phone": "+86 139"}],
    "contact_links": [{"resident_id": "r1", "contact_id": "c1", "relation": "daughter", "priority": 2}],
}


def test_refresh_keeps_unchanged_views_and_replaces_changed_ones(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "r.db")
    store.init_schema()
    store.upsert_sites([Site("h1", "Home", SiteKind.HOME)])
    store.upsert_residents([Resident("r1", "h1", "Li Wei")])
    store.upsert_devices([Device("w1", "h1", DeviceKind.WEARABLE, "r1")])
    registry = Registry.load(store)
    devices, residents = registry.devices, registry.residents
    registry.refresh(store)
    assert registry.devices is devices and registry.residents is residents
    store.upsert_devices([Device("door1", "h1", DeviceKind.DOOR, None, "hall", "h1/front_door")])
    registry.refresh(store)
    assert registry.devices is not devices and set(registry.devices) == {"w1", "door1"}
    assert registry.by_friendly_name["h1/front_door"].device_id == "door1"
    assert registry.residents is residents and registry.site_ids == {"h1"}
    store.close()


def test_a_manifest_loaded_again_keeps_the_fields_it_leaves_out(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "r.db")
    store.init_schema()
    store.upsert_sites([Site("h1", "Home", SiteKind.HOME, "Asia/Shanghai")])
    store.upsert_residents([Resident("r1", "h1", "Li Wei", "bedroom", 1940, spo2_scale=2)])  # set since the load
    sites = [{"site_id": "h1", "name": "Li home", "kind": "home"}, {"site_id": "h2", "name": "Wu", "kind": "home"}]
    residents = [
        {"resident_id": "r1", "site_id": "h1", "name": "Li Wei"},
        {"resident_id": "r2", "site_id": "h2", "name": "Wu Fei"},
    ]
    apply_manifest(store, {"sites": sites, "residents": residents})
    assert store.sites() == [Site("h1", "Li home", SiteKind.HOME, "Asia/Shanghai"), Site("h2", "Wu", SiteKind.HOME)]
    assert store.residents() == [
        Resident("r1", "h1", "Li Wei", "bedroom", 1940, spo2_scale=2), Resident("r2", "h2", "Wu Fei")
    ]  # fmt: skip
    store.close()


def test_a_manifest_loaded_again_keeps_a_devices_and_a_contacts_fields_it_leaves_out(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "r.db")
    store.init_schema()
    apply_manifest(store, MANIFEST)
    again = {
        "devices": [{"device_id": "door1", "site_id": "h1", "kind": "door"}],
        "contacts": [{"contact_id": "c1", "name": "Li Na", "role": "family"}],
        "contact_links": [{"resident_id": "r1", "contact_id": "c1", "relation": "daughter"}],
    }
    apply_manifest(store, again)
    assert store.devices() == [Device("door1", "h1", DeviceKind.DOOR, None, "hall", "front_door")]
    assert store.contacts() == [Contact("c1", "Li Na", ContactRole.FAMILY, phone="+86 139")]
    assert store.contact_links() == [ContactLink("r1", "c1", "daughter", priority=2)]
    store.close()
