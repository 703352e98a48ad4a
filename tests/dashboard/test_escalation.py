"""A site's escalation policies through the API: an admin sets one per severity, the care team reads it; a policy
without steps is kept as set (never escalate), not taken for the defaults; removing a policy returns to them."""

from __future__ import annotations

from dashboard_support import Served

URL = "/api/sites/s1/escalation-policies/{}"


def test_a_policy_without_steps_reads_back_as_set_and_empty(served: Served) -> None:
    with served.client("admin") as admin, served.client("operator") as operator:
        assert operator.get(URL.format("info")).json()["configured"] is False  # none set: the defaults apply
        put = admin.put(URL.format("info"), json={"steps": []})
        assert put.status_code == 200, put.text
        got = operator.get(URL.format("info")).json()
        assert got == put.json() and (got["configured"], got["steps"]) == (True, [])
        admin.put(URL.format("info"), json={"steps": [{"after_minutes": 5, "target": "operators"}]})
        assert operator.get(URL.format("info")).json()["steps"] == [{"after_minutes": 5, "target": "operators"}]


def test_removing_a_policy_returns_to_the_defaults(served: Served) -> None:
    with served.client("admin") as admin, served.client("operator") as operator:
        admin.put(URL.format("warning"), json={"steps": []})
        assert operator.delete(URL.format("warning")).status_code == 403
        assert admin.delete(URL.format("warning")).status_code == 204
        assert operator.get(URL.format("warning")).json() | {"steps": None} == {
            "site_id": "s1", "severity": "warning", "configured": False, "steps": None,
        }  # fmt: skip
        assert admin.delete(URL.format("warning")).status_code == 404
        assert admin.delete("/api/sites/nowhere/escalation-policies/warning").status_code == 404
