"""The on-call rota through the API: the care team lists a site's current and upcoming shifts, an admin adds and
removes one; nobody else may remove one, and a site outside the user's scope does not exist for them. A contact
with shifts not yet over is not removed from the directory, the site's own contacts or their last resident there
(409, naming the shifts) until the shifts are reassigned; then their past shifts and channels go with them."""

from __future__ import annotations

import time

from dashboard_support import Served

from carewatch.model import Contact, ContactLink, ContactRole
from carewatch.storage.base import ContactChannel


def test_an_admin_adds_lists_and_removes_shifts(served: Served) -> None:
    now = time.time()
    shifts = [
        {"contact_id": "c1", "starts_at": now - 7200, "ends_at": now - 3600},  # over: not listed
        {"contact_id": "c1", "starts_at": now + 86_400.5, "ends_at": now + 90_000},
        {"contact_id": "c1", "starts_at": now - 60, "ends_at": now + 3600},
    ]
    with served.client("admin") as admin:
        for shift in shifts:
            assert admin.post("/api/sites/s1/on-call", json=shift).status_code == 201
        listed = admin.get("/api/sites/s1/on-call/shifts").json()
        mine = [s for s in listed if s["contact_id"] == "c1"]
        assert [(s["starts_at"], s["ends_at"]) for s in mine] == [
            (shifts[2]["starts_at"], shifts[2]["ends_at"]), (shifts[1]["starts_at"], shifts[1]["ends_at"])
        ]  # current first, then upcoming  # fmt: skip
        with served.client("operator") as operator:
            assert operator.get("/api/sites/s1/on-call/shifts").json() == listed  # the care team reads the rota
            removal = {"contact_id": "c1", "starts_at": mine[1]["starts_at"]}
            assert operator.delete("/api/sites/s1/on-call/shifts", params=removal).status_code == 403
            assert operator.get("/api/sites/s2/on-call/shifts").status_code == 404  # not their site
        with served.client("family") as family:
            assert family.get("/api/sites/s1/on-call/shifts").status_code == 403
        assert admin.delete("/api/sites/s1/on-call/shifts", params=removal).status_code == 204
        assert admin.delete("/api/sites/s1/on-call/shifts", params=removal).status_code == 404  # gone
        assert admin.delete("/api/sites/s1/on-call/shifts", params={"contact_id": "c1"}).status_code == 422
        after = admin.get("/api/sites/s1/on-call/shifts").json()
        assert [s["starts_at"] for s in after] == [shifts[2]["starts_at"]]
        assert (
            admin.delete(
                "/api/sites/s1/on-call/shifts", params={**removal, "starts_at": shifts[2]["starts_at"]}
            ).status_code
            == 204
        )


def test_a_contact_on_the_rota_is_removed_only_once_their_shifts_are_reassigned(served: Served) -> None:
    served.store.upsert_contacts(
        [Contact("doc9", "Dr Sun", ContactRole.CLINICIAN), Contact("fam9", "Zhao Min", ContactRole.FAMILY)],
        [ContactLink("r2", "fam9", "son")],
    )
    served.store.upsert_contact_channels([ContactChannel("doc9", "email", "sun@clinic.example")])
    now = time.time()
    with served.client("admin") as admin:
        assert admin.put("/api/sites/s1/contacts/doc9").status_code == 200
        night = {"contact_id": "doc9", "starts_at": now - 60, "ends_at": now + 3600}
        tomorrow = {"contact_id": "fam9", "starts_at": now + 86_400, "ends_at": now + 90_000}
        past = {"contact_id": "doc9", "starts_at": now - 7200, "ends_at": now - 3600}
        for shift in (night, tomorrow, past):
            assert admin.post("/api/sites/s1/on-call", json=shift).status_code == 201

        for url in ("/api/contacts/doc9", "/api/sites/s1/contacts/doc9"):
            refused = admin.delete(url)
            assert refused.status_code == 409, refused.text
            assert refused.json()["detail"].startswith("contact doc9 is on the on-call rota (s1 ")
            assert refused.json()["detail"].endswith("): reassign or remove these shifts first")
            assert refused.json()["shifts"] == [{"site_id": "s1", **night}]
        refused = admin.delete("/api/contacts/fam9/links/r2")  # their only tie to s1
        assert refused.status_code == 409 and refused.json()["shifts"] == [{"site_id": "s1", **tomorrow}]
        assert "fam9" in {k["contact_id"] for k in admin.get("/api/residents/r2/contacts").json()}
        assert admin.get("/api/sites/s1/on-call", params={"at": now}).json()["contact_ids"] == ["doc9"]

        gone = {"contact_id": "doc9", "starts_at": night["starts_at"]}
        assert admin.delete("/api/sites/s1/on-call/shifts", params=gone).status_code == 204  # reassigned first
        assert admin.delete("/api/contacts/doc9").status_code == 204
        assert admin.delete("/api/contacts/doc9").status_code == 404
        assert "doc9" not in {c["contact_id"] for c in admin.get("/api/contacts").json()}
        assert admin.get("/api/sites/s1/contacts").json() == []
        assert served.store.contact_channels(["doc9"]) == []
        assert "doc9" not in {s.contact_id for s in served.store.on_call_shifts("s1", 0)}  # the past one went too
        with served.client("operator") as operator:
            assert operator.delete("/api/contacts/fam9").status_code == 403
