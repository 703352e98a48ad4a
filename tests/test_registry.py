"""The registry view: a refresh that finds nothing new keeps the same dicts (the alert core then skips its resize).
A manifest loaded again keeps what it leaves out; it gives contacts the channels and preferences routing reads and
sites their own contacts, and an entry routing could not use is refused, naming it, before anything is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carewatch.model import Contact, ContactLink, ContactRole, Device, DeviceKind, Resident, Severity, Site, SiteKind
from carewatch.registry import ManifestError, Registry, apply_manifest
from carewatch.storage.base import ContactChannel, ContactPreference
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


REACH = {
    **MANIFEST,
    "contacts": [
        *MANIFEST["contacts"],
        {"contact_id": "op1", "name": "Zhang", "role": "operator"},
        {"contact_id": "doc1", "name": "Dr Chen", "role": "clinician"},
    ],
    "contact_channels": [
        {"contact_id": "c1", "channel": "email", "address": "na@example.org"},
        {"contact_id": "c1", "channel": "mqtt", "address": "carewatch/v1/notify/c1"},
        {"contact_id": "op1", "channel": "webhook", "address": "https://station.example/alerts"},
    ],
    "contact_preferences": [
        {
            "contact_id": "c1",
            "timezone": "Asia/Shanghai",
            "quiet_start": 1320,
            "quiet_end": 420,
            "rules": [{"rule": "fall", "lowest": "warning"}],
        },
    ],
    "site_contacts": [{"site_id": "h1", "contact_id": "op1"}, {"site_id": "h1", "contact_id": "doc1"}],
}


def test_a_manifest_gives_contacts_their_channels_and_preferences_and_a_site_its_own_contacts(store: Any) -> None:
    apply_manifest(store, REACH)
    assert store.contact_channels(["c1", "op1"]) == [
        ContactChannel("c1", "email", "na@example.org"),
        ContactChannel("c1", "mqtt", "carewatch/v1/notify/c1"),
        ContactChannel("op1", "webhook", "https://station.example/alerts"),
    ]
    night = ContactPreference("c1", "Asia/Shanghai", 1320, 420, (("fall", Severity.WARNING),))
    assert store.contact_preferences(["c1"]) == {"c1": night}
    assert [c.contact_id for c in store.site_contacts("h1")] == ["doc1", "op1"]
    apply_manifest(store, {"contact_preferences": [{"contact_id": "c1", "quiet_start": 1260, "quiet_end": 360}]})
    assert store.contact_preferences(["c1"]) == {"c1": ContactPreference("c1", "Asia/Shanghai", 1260, 360, night.rules)}


@pytest.mark.parametrize(
    ("key", "entry", "problem"),
    [
        ("contact_channels", {"contact_id": "c1", "channel": "email", "address": "na at example.org"},
         "contact_channels[0]: 'na at example.org' is not an e-mail address"),
        ("contact_channels", {"contact_id": "c1", "channel": "webhook", "address": "ftp://x.example"},
         "contact_channels[0]: a webhook is an http:// or https:// URL"),
        ("contact_channels", {"contact_id": "c1", "channel": "sms", "address": "+86 139"},
         "contact_channels[0]: channel must be one of email, webhook, mqtt, not 'sms'"),
        ("contact_channels", {"contact_id": "c9", "channel": "mqtt", "address": "t/c9"},
         "contact_channels[0]: no contact 'c9' (register it under contacts)"),
        ("contact_channels", {"contact_id": "c1", "channel": "mqtt"}, "contact_channels[0]: give address (text)"),
        ("contact_preferences", {"contact_id": "c1", "quiet_start": 1320},
         "contact_preferences[0]: give both quiet_start and quiet_end"),
        ("contact_preferences", {"contact_id": "c1", "quiet_start": 1320, "quiet_end": 1440},
         "contact_preferences[0]: quiet hours are minutes after local midnight, 0 to 1439"),
        ("contact_preferences", {"contact_id": "c1", "timezone": "Mars/Olympus"},
         "contact_preferences[0]: unknown time zone 'Mars/Olympus'"),
        ("contact_preferences", {"contact_id": "c1", "rules": [{"rule": "fall", "lowest": "loud"}]},
         "contact_preferences[0]: rules are a list of {rule, lowest}, lowest one of info, warning, urgent, critical"),
        ("contact_preferences", {"contact_id": "op1", "quiet_start": 1320, "quiet_end": 420},
         "contact_preferences[0]: contact 'op1' is operator, not family"),
        ("contact_preferences", {"contact_id": "c1", "quiet": "22-7"}, "contact_preferences[0]: unknown field 'quiet'"),
        ("contact_preferences", {"contact_id": "c1", "rules": [{"rule": "fal", "lowest": "urgent"}]},
         "contact_preferences[0]: 'fal' is not a rule's name"),
        ("site_contacts", {"site_id": "h1", "contact_id": "c1"}, "site_contacts[0]: contact 'c1' is family"),
        ("site_contacts", {"site_id": "h9", "contact_id": "op1"}, "site_contacts[0]: no site 'h9'"),
    ],
)  # fmt: skip
def test_a_manifest_entry_routing_could_not_use_is_refused_and_nothing_written(
    store: Any, key: str, entry: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ManifestError) as refused:
        apply_manifest(store, {**REACH, key: [entry]})
    assert str(refused.value).startswith(problem)
    assert (store.sites(), store.contacts(), store.contact_channels(["c1", "op1"])) == ([], [], [])


def test_the_readmes_manifest_example_loads(store: Any) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = json.loads(readme.split("```json\n", 1)[1].split("```", 1)[0])
    apply_manifest(store, example)
    assert [c.contact_id for c in store.site_contacts("s1")] == ["desk", "drchen"]
    assert store.contact_preferences(["min"])["min"].quiet_start == 1320
    assert len(store.contact_channels(["min", "desk", "drchen"])) == 3


SITE = {"site_id": "h1", "name": "Home", "kind": "home"}
RESIDENT = {"resident_id": "r1", "site_id": "h1", "name": "Ada"}


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        ([], "a manifest is a JSON object of sections"),
        ({"sites": {"site_id": "h1"}}, "sites: give a list of objects"),
        ({"sites": [{"name": "Home", "kind": "home"}]}, "sites[0]: site_id: give it, as text"),
        ({"sites": [{**SITE, "site_id": "a/b"}]}, "sites[0]: site_id: an id is letters, digits"),
        ({"sites": [{"site_id": "h1", "name": "Home"}]}, "sites[0]: give kind"),
        ({"sites": [{**SITE, "kind": "castle"}]}, "sites[0]: kind 'castle' is not one of home, "),
        ({"sites": [{**SITE, "timezone": "Mars/Olympus"}]}, "sites[0]: unknown time zone 'Mars/Olympus'"),
        ({"sites": [SITE, {**SITE, "colour": "red"}]}, "sites[1]: site_id 'h1' is given twice"),
        ({"sites": [{**SITE, "colour": "red"}]}, "sites[0]: unknown field 'colour'"),
        ({"sites": [SITE], "residents": [RESIDENT, RESIDENT]}, "residents[1]: resident_id 'r1' is given twice"),
        ({"sites": [SITE], "residents": [{**RESIDENT, "site_id": "h9"}]},
         "residents[0]: no site 'h9' (register it under sites)"),
        ({"sites": [SITE], "devices": [{"device_id": "w1", "site_id": "h1", "kind": "toaster"}]},
         "devices[0]: kind 'toaster' is not one of "),
        ({"sites": [SITE], "residents": [RESIDENT],
          "devices": [{"device_id": "w1", "site_id": "h1", "kind": "wearable", "resident_id": "r9"}]},
         "devices[0]: no resident 'r9' (register it under residents)"),
        ({"sites": [SITE, {**SITE, "site_id": "h2"}], "residents": [RESIDENT],
          "devices": [{"device_id": "w1", "site_id": "h2", "kind": "wearable", "resident_id": "r1"}]},
         "devices[0]: resident 'r1' lives at site 'h1', not 'h2'"),
        ({"sites": [SITE], "residents": [RESIDENT], "contacts": [{"contact_id": "c1", "name": "Na", "role": "aunt"}]},
         "contacts[0]: role 'aunt' is not one of "),
        ({"sites": [SITE], "residents": [RESIDENT], "contact_links": [{"resident_id": "r1", "contact_id": "c9",
                                                                       "relation": "son"}]},
         "contact_links[0]: no contact 'c9' (register it under contacts)"),
    ],
)  # fmt: skip
def test_a_bad_registry_entry_is_named_and_nothing_is_written(store: Any, manifest: Any, problem: str) -> None:
    with pytest.raises(ManifestError) as refused:
        apply_manifest(store, manifest)
    assert str(refused.value).startswith(problem), str(refused.value)
    assert (store.sites(), store.residents(), store.devices(), store.contacts()) == ([], [], [], [])


def test_a_manifest_may_refer_to_what_is_stored_and_leave_out_what_it_keeps(store: Any) -> None:
    apply_manifest(store, {"sites": [SITE], "residents": [RESIDENT]})
    apply_manifest(store, {"devices": [{"device_id": "w1", "site_id": "h1", "kind": "wearable", "resident_id": "r1"}]})
    apply_manifest(store, {"devices": [{"device_id": "w1", "room": "bedroom"}], "residents": [{"resident_id": "r1"}]})
    assert store.devices() == [Device("w1", "h1", DeviceKind.WEARABLE, "r1", "bedroom")]
