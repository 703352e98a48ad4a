"""A resident's NEWS2 escalation through the API: set, read, replaced, removed, audited; refused when out of range,
out of order or without a reason; for those who set thresholds, within their scope (tests/dashboard/test_rbac.py has
the full role matrix). Against the real app and a real SQLite store."""

from __future__ import annotations

import pytest
from dashboard_support import Served

URL = "/api/residents/{}/news2-escalation"
COPD = {"urgent_from": 7, "emergency_from": 9, "red_score": False, "reason": " COPD on home oxygen, baseline 5 "}


def test_an_escalation_is_set_read_replaced_removed_and_audited(served: Served) -> None:
    with served.client("clinician") as clinician, served.client("operator") as operator:
        clinician.delete(URL.format("r2"))  # whatever an earlier test left
        defaults = operator.get(URL.format("r2")).json()
        assert defaults == {
            "resident_specific": False, "urgent_from": 5, "emergency_from": 7, "red_score": True, "reason": None,
            "set_by": None, "set_at": None,
        }  # fmt: skip
        before = len(operator.get(URL.format("r2") + "/changes").json())
        put = clinician.put(URL.format("r2"), json=COPD)
        assert put.status_code == 200, put.text
        got = operator.get(URL.format("r2")).json()
        assert got == put.json() and got["resident_specific"] and got["set_by"] == "clinician"
        assert (got["urgent_from"], got["emergency_from"], got["red_score"]) == (7, 9, False)
        assert got["reason"] == "COPD on home oxygen, baseline 5"  # trimmed
        replaced = clinician.put(URL.format("r2"), json={"urgent_from": 6, "reason": "COPD, baseline 4"})
        assert (replaced.json()["urgent_from"], replaced.json()["emergency_from"]) == (6, 7)  # RCP's 7 by default
        assert replaced.json()["red_score"] is True
        assert clinician.delete(URL.format("r2")).status_code == 204
        assert clinician.delete(URL.format("r2")).status_code == 404
        assert operator.get(URL.format("r2")).json() == defaults
        changes = operator.get(URL.format("r2") + "/changes").json()[before:]
        assert [(c["by"], c["escalation"] and c["escalation"]["urgent_from"]) for c in changes] == [
            ("clinician", 7), ("clinician", 6), ("clinician", None),
        ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"urgent_from": 7, "emergency_from": 7, "reason": "COPD"}, "emergency_from (7) must be above urgent_from (7)"),
        ({"urgent_from": 8, "reason": "COPD"}, "emergency_from (7) must be above urgent_from (8)"),
        ({"urgent_from": 0, "reason": "COPD"}, "greater than or equal to 1"),
        ({"urgent_from": 6, "emergency_from": 21, "reason": "COPD"}, "less than or equal to 20"),
        ({"urgent_from": 6, "emergency_from": 8}, "Field required"),
        ({"urgent_from": 6, "emergency_from": 8, "reason": "   "}, "give the clinical reason"),
        ({"urgent_from": 6, "emergency_from": 8, "reason": "x" * 501}, "at most 500 characters"),
        ({"urgent_from": 6.5, "emergency_from": 8, "reason": "COPD"}, "valid integer"),
    ],
)
def test_invalid_levels_or_no_reason_are_refused_with_a_clear_message(
    served: Served, body: dict[str, object], message: str
) -> None:
    with served.client("clinician") as clinician:
        before = clinician.get(URL.format("r1")).json()
        response = clinician.put(URL.format("r1"), json=body)
        assert response.status_code == 422
        assert message in response.text
        assert clinician.get(URL.format("r1")).json() == before  # nothing changed


def test_only_those_who_set_thresholds_within_their_scope(served: Served) -> None:
    with served.client("operator") as operator, served.client("clinician") as clinician:
        assert operator.put(URL.format("r1"), json=COPD).status_code == 403
        assert clinician.put(URL.format("r3"), json=COPD).status_code == 404  # another site's resident
        assert clinician.get(URL.format("r3")).status_code == 404
    with served.client("family") as family:
        assert family.get(URL.format("r1")).status_code == 403
