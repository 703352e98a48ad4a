"""The registry as an admin writes it through the API (sites, residents, users): a field the client leaves out keeps
its stored value, so re-saving a name or a room never resets a resident's SpO2 scale or birth year nor a site's time
zone; ids usable in URLs and MQTT topics, names not blank and bounded, each refusal a short, clear 422 that does not
echo the input. Against the real app and a real SQLite store."""

from __future__ import annotations

import pytest
from dashboard_support import Served

from carewatch.model import Resident

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
    ],
)
def test_bad_ids_and_names_are_refused_briefly_and_clearly(
    served: Served, path: str, body: dict[str, object], message: str
) -> None:
    with served.client("admin") as admin:
        before = admin.get("/api/sites").json(), admin.get("/api/residents").json()
        response = admin.put(path, json=body)
        assert response.status_code == 422, response.text
        assert message in response.text
        assert len(response.text) < 500  # no echo of the input
        assert (admin.get("/api/sites").json(), admin.get("/api/residents").json()) == before


def test_user_names_are_not_blank_and_ids_are_checked(served: Served) -> None:
    user = {"username": "nurse1", "display_name": "  ", "role": "operator", "password": "0123456789", "site_ids": []}
    with served.client("admin") as admin:
        blank = admin.post("/api/users", json=user)
        assert blank.status_code == 422 and "a name cannot be blank" in blank.text
        bad_id = admin.post("/api/users", json=user | {"username": "nurse 1", "display_name": "Nurse"})
        assert bad_id.status_code == 422 and ID_RULE in bad_id.text
        assert admin.get("/api/users/nurse1").status_code == 404
