"""A resident's thresholds through the API: set with the reason for them, read, replaced, removed, audited; refused
without a reason, out of order or for an unknown metric; for those who set thresholds, within their scope
(tests/dashboard/test_rbac.py has the full role matrix). Against the real app and a real SQLite store."""

from __future__ import annotations

import pytest
from dashboard_support import Served

URL = "/api/residents/{}/thresholds"
COPD = {"low": 88, "reason": " COPD on home oxygen, usual SpO2 88-92 % "}


def test_a_threshold_is_set_read_replaced_removed_and_audited(served: Served) -> None:
    with served.client("clinician") as clinician, served.client("operator") as operator:
        for metric in ("spo2", "hr"):
            clinician.delete(URL.format("r2") + f"/{metric}")  # whatever an earlier test left
        before = len(operator.get(URL.format("r2") + "/changes").json())
        put = clinician.put(URL.format("r2") + "/spo2", json=COPD)
        assert put.status_code == 200, put.text
        [got] = operator.get(URL.format("r2")).json()
        assert got == put.json() and got["updated_by"] == "clinician"
        assert (got["low"], got["high"]) == (88, None)
        assert got["reason"] == "COPD on home oxygen, usual SpO2 88-92 %"  # trimmed
        replaced = clinician.put(URL.format("r2") + "/spo2", json={"low": 86, "high": 99, "reason": "lower asleep"})
        assert replaced.status_code == 200, replaced.text
        assert [(t["low"], t["reason"]) for t in operator.get(URL.format("r2")).json()] == [(86, "lower asleep")]
        assert clinician.put(URL.format("r2") + "/hr", json={"high": 115, "reason": "AF"}).status_code == 200
        assert clinician.delete(URL.format("r2") + "/spo2").status_code == 204
        assert clinician.delete(URL.format("r2") + "/spo2").status_code == 404
        assert [t["metric"] for t in operator.get(URL.format("r2")).json()] == ["hr"]
        changes = operator.get(URL.format("r2") + "/changes").json()[before:]
        assert [(c["metric"], c["by"], c["threshold"] and c["threshold"]["reason"]) for c in changes] == [
            ("spo2", "clinician", "COPD on home oxygen, usual SpO2 88-92 %"),
            ("spo2", "clinician", "lower asleep"),
            ("hr", "clinician", "AF"),
            ("spo2", "clinician", None),
        ]
        assert changes[1]["threshold"] | {"updated_at": 0} == {
            "metric": "spo2", "context": "always", "low": 86, "high": 99, "reason": "lower asleep", "updated_at": 0,
            "updated_by": "clinician",
        }  # fmt: skip
        assert [c["at"] for c in changes] == sorted(c["at"] for c in changes)  # oldest first


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"low": 88}, "Field required"),
        ({"low": 88, "reason": ""}, "at least 1 character"),
        ({"low": 88, "reason": "   "}, "give the clinical reason"),
        ({"low": 88, "reason": "x" * 501}, "at most 500 characters"),
        ({"low": 88, "reason": "COPD\x00"}, "NUL characters are not allowed"),
        ({"reason": "COPD"}, "give low, high or both"),
        ({"low": 95, "high": 90, "reason": "COPD"}, "low must be below high"),
        ({"low": 1e308, "reason": "COPD"}, "low 1e+308 is outside the plausible range of SpO2 (50 to 100 %)"),
        ({"low": 49.9, "reason": "COPD"}, "low 49.9 is outside the plausible range of SpO2 (50 to 100 %)"),
        ({"low": 88, "high": 100.5, "reason": "COPD"}, "high 100.5 is outside the plausible range of SpO2"),
    ],
)
def test_no_reason_or_bad_limits_are_refused_with_a_clear_message(
    served: Served, body: dict[str, object], message: str
) -> None:
    with served.client("clinician") as clinician:
        before = clinician.get(URL.format("r1")).json(), clinician.get(URL.format("r1") + "/changes").json()
        response = clinician.put(URL.format("r1") + "/spo2", json=body)
        assert response.status_code == 422
        assert message in response.text
        after = clinician.get(URL.format("r1")).json(), clinician.get(URL.format("r1") + "/changes").json()
        assert after == before  # nothing changed, nothing audited


def test_an_unknown_metric_is_refused(served: Served) -> None:
    with served.client("clinician") as clinician:
        response = clinician.put(URL.format("r1") + "/changes", json=COPD)
        assert response.status_code == 422 and "unknown metric 'changes'" in response.text


def test_only_those_who_set_thresholds_within_their_scope(served: Served) -> None:
    with served.client("operator") as operator, served.client("clinician") as clinician:
        assert operator.put(URL.format("r1") + "/spo2", json=COPD).status_code == 403
        assert operator.get(URL.format("r1") + "/changes").status_code == 200  # the care team reads the trail
        assert clinician.put(URL.format("r3") + "/spo2", json=COPD).status_code == 404  # another site's resident
        assert clinician.get(URL.format("r3") + "/changes").status_code == 404
    with served.client("family") as family:
        assert family.get(URL.format("r1") + "/changes").status_code == 403


def test_limits_on_the_bounds_of_the_plausible_range_are_accepted(served: Served) -> None:
    with served.client("clinician") as clinician:
        put = clinician.put(URL.format("r2") + "/temp", json={"low": 30, "high": 43, "reason": "palliative care"})
        assert put.status_code == 200, put.text
        assert (put.json()["low"], put.json()["high"]) == (30, 43)
        refused = clinician.put(URL.format("r2") + "/temp", json={"low": -500, "reason": "palliative care"})
        assert refused.status_code == 422
        assert refused.json()["detail"] == "low -500 is outside the plausible range of body temperature (30 to 43 Cel)"
        assert clinician.delete(URL.format("r2") + "/temp").status_code == 204
