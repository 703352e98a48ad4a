"""The on-call rota through the API: the care team lists a site's current and upcoming shifts, an admin adds and
removes one; nobody else may remove one, and a site outside the user's scope does not exist for them."""

from __future__ import annotations

import time

from dashboard_support import Served


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
