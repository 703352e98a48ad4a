"""A site's escalation policies through the API: an admin sets one per severity, the care team reads it; a policy
without steps is kept as set (never escalate), not taken for the defaults."""

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
