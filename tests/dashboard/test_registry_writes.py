"""The registry as an admin writes it through the API (sites, residents, devices, contacts and their links, users): a
field the client leaves out keeps its stored value, so re-saving a name or a room never resets a resident's SpO2 scale
or birth year, a site's time zone, a device's Zigbee2MQTT name nor a contact's phone; ids usable in URLs and MQTT
topics, names not blank and bounded, each refusal a short, clear 422 that does not echo the input. Against the real
app and a real SQLite store."""

from __future__ import annotations

import pytest
from dashboard_support import Served

from carewatch.model import Contact, ContactLink, ContactRole, Device, DeviceKind, Resident

REGISTRY = ("sites", "residents", "devices", "contacts")
ID_RULE = "an id is letters, digits and . _ : - (not dots alone; no spaces"


def test_re_saving_a_resident_keeps_what_the_client_leaves_out(served: Served) -> None:
    served.store.upsert_residents([Resident("r9", "s1", "Sun Li", "109", 1941, spo2_scale=2)])
    with served.client("admin") as admin:
        put = admin.put("/api/residents/r9", json={"site_id": "s1", "name": " Sun Li Hua ", "room": "110"})
        assert put.status_code == 200, put.text
        assert (put.json()["name"], put.json()["spo2_scale"], put.json()["birth_year"]) == ("Sun Li Hua", 2, 1941)
        assert served.store.resident("r9") == Resident("r9", "s1", "Sun Li Hua", "110", 1941, spo2_scale=2)
        got = admin.get("/api/residents/r9").json()
        assert (got["room"], got["birth_year"], got["spo2_scale"]) == ("110", 1941, 2)
        body = {"site_id": "s1", "name": "Sun Li Hua", "room": None, "birth_year": None, "spo2_scale": 1}
        assert admin.put("/api/residents/r9", json=body).status_code == 200  # given: changed, null clears
        assert served.store.resident("r9") == Resident("r9", "s1", "Sun Li Hua", None, None, spo2_scale=1)
        assert admin.put("/api/residents/r10", json={"site_id": "s2", "name": "Qian Yu"}).status_code == 200
        assert served.store.resident("r10") == Resident("r10", "s2", "Qian Yu")  # new: the defaults


def test_re_saving_a_site_keeps_its_time_zone(served: Served) -> None:
    with served.client("admin") as admin:
        put = admin.put("/api/sites/s9", json={"name": "Harbour home", "kind": "home", "timezone": "Asia/Shanghai"})
        assert put.status_code == 200, put.text
        renamed = admin.put("/api/sites/s9", json={"name": "Harbour House", "kind": "care_institution"})
        assert renamed.status_code == 200, renamed.text
        [site] = [s for s in admin.get("/api/sites").json() if s["site_id"] == "s9"]
        assert site == renamed.json() == {
            "site_id": "s9", "name": "Harbour House", "kind": "care_institution", "timezone": "Asia/Shanghai",
        }  # fmt: skip
        assert admin.put("/api/sites/s8", json={"name": "New home", "kind": "home"}).json()["timezone"] == "UTC"


def test_re_saving_a_device_keeps_what_the_client_leaves_out(served: Served) -> None:
    served.store.upsert_devices([Device("door9", "s1", DeviceKind.DOOR, "r2", "hall", "front_door_9")])
    with served.client("admin") as admin:
        put = admin.put("/api/devices/door9", json={"site_id": "s1", "kind": "door", "room": "porch"})
        assert put.status_code == 200, put.text
        assert put.json()["friendly_name"] == "front_door_9"
        assert served.store.devices()[0] == Device("door9", "s1", DeviceKind.DOOR, "r2", "porch", "front_door_9")
        moved = admin.put("/api/devices/door9", json={"site_id": "s2", "kind": "door"})  # r2 lives at s1
        assert moved.status_code == 422 and "no resident r2 at site s2" in moved.text
        body = {"site_id": "s2", "kind": "door", "resident_id": None, "friendly_name": None}
        assert admin.put("/api/devices/door9", json=body).status_code == 200  # given: changed, null clears
        assert served.store.devices()[0] == Device("door9", "s2", DeviceKind.DOOR, None, "porch", None)
        new = admin.put("/api/devices/bed9", json={"site_id": "s1", "kind": "bed", "friendly_name": "bed_9"})
        assert new.json() == {
            "device_id": "bed9", "site_id": "s1", "kind": "bed", "resident_id": None, "room": None,
            "friendly_name": "bed_9",
        }  # fmt: skip
        taken = admin.put("/api/devices/door9", json={"site_id": "s2", "kind": "door", "friendly_name": "bed_9"})
        assert taken.status_code == 409


def test_re_saving_a_contact_keeps_their_phone_and_email(served: Served) -> None:
    served.store.upsert_contacts(
        [Contact("gp9", "Dr Chen", ContactRole.CLINICIAN, "chen@clinic.example", "+86 10 5555")],
        [ContactLink("r2", "gp9", "GP", priority=3)],
    )
    with served.client("admin") as admin:
        put = admin.put("/api/contacts/gp9", json={"name": "Dr Chen Jie", "role": "clinician"})
        assert put.status_code == 200, put.text
        assert (put.json()["phone"], put.json()["links"]) == (
            "+86 10 5555", [{"resident_id": "r2", "contact_id": "gp9", "relation": "GP", "priority": 3}],
        )  # fmt: skip
        body = {"name": "Dr Chen Jie", "role": "clinician", "relation": "family doctor"}
        assert admin.put("/api/residents/r2/contacts/gp9", json=body).status_code == 200
        [(contact, link)] = [(c, k) for c, k in served.store.contacts_of("r2") if c.contact_id == "gp9"]
        assert contact == Contact("gp9", "Dr Chen Jie", ContactRole.CLINICIAN, "chen@clinic.example", "+86 10 5555")
        assert link == ContactLink("r2", "gp9", "family doctor", priority=3)
        cleared = admin.put("/api/contacts/gp9", json={"name": "Dr Chen Jie", "role": "clinician", "email": None})
        assert cleared.json()["email"] is None and cleared.json()["phone"] == "+86 10 5555"


def test_an_admin_lists_links_and_unlinks_contacts(served: Served) -> None:
    with served.client("admin") as admin:
        nurse = admin.put("/api/contacts/nurse9", json={"name": " Nurse Liu ", "role": "operator"})
        assert nurse.status_code == 200, nurse.text
        defaults = {"configured": False, "timezone": "UTC", "quiet_start": None, "quiet_end": None, "rules": []}
        assert nurse.json() == {
            "contact_id": "nurse9", "name": "Nurse Liu", "role": "operator", "email": None, "phone": None, "links": [],
            "channels": [], "preferences": defaults,
        }  # fmt: skip
        assert {"nurse9", "c1"} <= {c["contact_id"] for c in admin.get("/api/contacts").json()}  # linked or not
        link = admin.put("/api/contacts/nurse9/links/r1", json={"relation": "key worker", "priority": 2})
        assert link.json() == {"resident_id": "r1", "contact_id": "nurse9", "relation": "key worker", "priority": 2}
        [listed] = [c for c in admin.get("/api/contacts").json() if c["contact_id"] == "nurse9"]
        assert listed["links"] == [link.json()]
        assert "nurse9" in {c["contact_id"] for c in admin.get("/api/residents/r1/contacts").json()}
        assert admin.put("/api/contacts/nobody/links/r1", json={"relation": "GP"}).status_code == 404
        assert admin.put("/api/contacts/nurse9/links/r99", json={"relation": "GP"}).status_code == 404
        assert admin.delete("/api/contacts/nurse9/links/r1").status_code == 204
        assert admin.delete("/api/contacts/nurse9/links/r1").status_code == 404
        assert "nurse9" not in {c["contact_id"] for c in admin.get("/api/residents/r1/contacts").json()}
        assert [c["links"] for c in admin.get("/api/contacts").json() if c["contact_id"] == "nurse9"] == [[]]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/sites/a+b", {"name": "A", "kind": "home"}, ID_RULE),
        ("/api/sites/a%20b", {"name": "A", "kind": "home"}, ID_RULE),
        ("/api/sites/a%23b", {"name": "A", "kind": "home"}, ID_RULE),
        ("/api/residents/r9", {"site_id": "..", "name": "A"}, ID_RULE),
        ("/api/sites/s9", {"name": "   ", "kind": "home"}, "a name cannot be blank"),
        ("/api/sites/s9", {"name": "x" * 5000, "kind": "home"}, "at most 200 characters"),
        (
            "/api/sites/s9",
            {"name": "A", "kind": "home", "timezone": "Mars/Olympus"},
            "unknown time zone 'Mars/Olympus'",
        ),
        ("/api/sites/" + "s" * 65, {"name": "A", "kind": "home"}, "at most 64 characters"),
        ("/api/residents/r%2Bx", {"site_id": "s1", "name": "A"}, ID_RULE),
        ("/api/residents/r9", {"site_id": "s/1", "name": "A"}, ID_RULE),
        ("/api/residents/r9", {"site_id": "s1", "name": "\t "}, "a name cannot be blank"),
        ("/api/devices/d%231", {"site_id": "s1", "kind": "wearable"}, ID_RULE),
        ("/api/devices/d1", {"site_id": "s 1", "kind": "wearable"}, ID_RULE),
        ("/api/devices/d1", {"site_id": "s1", "kind": "toaster"}, "Input should be 'wearable'"),
        ("/api/contacts/c%2B1", {"name": "A", "role": "family"}, ID_RULE),
        ("/api/contacts/c9", {"name": " ", "role": "family"}, "a name cannot be blank"),
        ("/api/contacts/c9", {"name": "A", "role": "family", "email": "not an address"}, "String should match"),
    ],
)
def test_bad_ids_and_names_are_refused_briefly_and_clearly(
    served: Served, path: str, body: dict[str, object], message: str
) -> None:
    with served.client("admin") as admin:
        before = [admin.get(f"/api/{things}").json() for things in REGISTRY]
        response = admin.put(path, json=body)
        assert response.status_code == 422, response.text
        assert message in response.text
        assert len(response.text) < 500  # no echo of the input
        assert [admin.get(f"/api/{things}").json() for things in REGISTRY] == before


def test_user_names_are_not_blank_and_ids_are_checked(served: Served) -> None:
    user = {"username": "nurse1", "display_name": "  ", "role": "operator", "password": "0123456789", "site_ids": []}
    with served.client("admin") as admin:
        blank = admin.post("/api/users", json=user)
        assert blank.status_code == 422 and "a name cannot be blank" in blank.text
        bad_id = admin.post("/api/users", json=user | {"username": "nurse 1", "display_name": "Nurse"})
        assert bad_id.status_code == 422 and ID_RULE in bad_id.text
        assert admin.get("/api/users/nurse1").status_code == 404
