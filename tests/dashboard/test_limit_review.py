"""The settling-in review through the API: computed from a resident's own week at rest (written through the store's
write path) for those who set thresholds, within their scope; the days checked; the chosen suggestions set as the
resident's thresholds and NEWS2 escalation, which the care team then reads; stale or invalid choices refused with
nothing set. Against the real app and a real SQLite store (tests/dashboard/test_rbac.py has the full role matrix)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from dashboard_support import Served, late_low_spo2, settling_in_week

from carewatch.model import Resident

URL = "/api/residents/{}/limit-review"
WEEK_S = 7 * 86_400


@pytest.fixture(scope="module")
def week(served: Served) -> None:
    """r2's first week: a COPD resident whose SpO2 and respiration sit past the default limits."""
    settling_in_week(served.store, "r2", "s1", time.time() - 3600)


def reset(client: httpx.Client, resident_id: str) -> None:
    """Whatever an earlier test set: back to the defaults."""
    for metric in ("spo2", "rr"):
        client.delete(f"/api/residents/{resident_id}/thresholds/{metric}")
    client.delete(f"/api/residents/{resident_id}/news2-escalation")


def review(client: httpx.Client, resident_id: str = "r2") -> dict[str, Any]:
    response = client.get(URL.format(resident_id))
    assert response.status_code == 200, response.text
    return dict(response.json())


def choice(shown: dict[str, Any], *rules: str, news2: bool = False) -> dict[str, Any]:
    """The apply request for some of the suggestions shown, echoed as shown."""
    limits = [{"rule": s["rule"], "suggested": s["suggested"]} for s in shown["thresholds"] if s["rule"] in rules]
    assert len(limits) == len(rules), shown
    n2 = shown["news2"]
    levels = {k: n2[k] for k in ("urgent_from", "emergency_from", "red_score")} if news2 else None
    return {"start": shown["start"], "end": shown["end"], "thresholds": limits, "news2": levels}


def in_force(client: httpx.Client, resident_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    thresholds = client.get(f"/api/residents/{resident_id}/thresholds").json()
    escalation = client.get(f"/api/residents/{resident_id}/news2-escalation").json()
    return {t["metric"]: (t["low"], t["high"]) for t in thresholds}, escalation


def test_the_review_suggests_limits_from_the_residents_own_week(served: Served, week: None) -> None:
    with served.client("clinician") as clinician:
        before = time.time()
        shown = review(clinician)
        assert before <= shown["end"] <= time.time() and shown["end"] - shown["start"] == pytest.approx(WEEK_S)
        assert shown["resident_id"] == "r2" and shown["windows"] >= 288 and shown["notes"] == []
        limits = {s["rule"]: s for s in shown["thresholds"]}
        assert {"spo2_low", "rr_high"} <= set(limits), limits
        spo2 = limits["spo2_low"]
        assert (spo2["metric"], spo2["side"], spo2["default"], spo2["usual"]) == ("spo2", "low", 90, 86)
        assert spo2["suggested"] < 86 and "spo2_low" in spo2["reason"] and spo2["at_safety_bound"] is False
        rr = limits["rr_high"]
        assert (rr["metric"], rr["side"], rr["default"], rr["usual"]) == ("rr", "high", 24, 25) and rr["suggested"] > 25
        assert shown["news2"] is not None and shown["news2"]["usual_score"] == 6  # RR 3 + SpO2 3
        assert shown["news2"]["urgent_from"] > 6 and shown["news2"]["red_score"] is False  # habitual 3s
        month = clinician.get(URL.format("r2"), params={"days": 30}).json()
        assert month["end"] - month["start"] == pytest.approx(30 * 86_400)
        accept_nothing = {"start": month["start"], "end": month["end"]}  # the longest period shown is accepted back
        assert clinician.post(URL.format("r2") + "/apply", json=accept_nothing).json() == {
            "thresholds": [],
            "news2": None,
        }
        ordinary = review(clinician, "r1")  # half an hour of readings: nothing to suggest, and the note says why
        assert ordinary["thresholds"] == [] and ordinary["news2"] is None
        assert ordinary["notes"] and "too few readings" in ordinary["notes"][0]


@pytest.mark.parametrize(
    ("days", "message"),
    [("0", "greater than or equal to 1"), ("31", "less than or equal to 30"), ("a week", "valid integer"),
     ("7.5", "valid integer")],
)  # fmt: skip
def test_days_outside_one_to_thirty_are_refused_clearly(served: Served, days: str, message: str) -> None:
    with served.client("clinician") as clinician:
        response = clinician.get(URL.format("r2"), params={"days": days})
    assert response.status_code == 422
    assert message in response.text and "days" in response.text


def test_only_those_who_set_thresholds_within_their_scope(served: Served, week: None) -> None:
    body = {"start": time.time() - WEEK_S, "end": time.time(), "thresholds": []}
    for role in ("family", "operator"):
        with served.client(role) as client:
            assert client.get(URL.format("r1")).status_code == 403
            response = client.post(URL.format("r1") + "/apply", json=body)
            assert response.status_code == 403 and "may not set thresholds" in response.text
    with served.client(None) as anonymous:
        assert anonymous.get(URL.format("r2")).status_code == 401
    with served.client("clinician") as clinician:
        for resident_id in ("r3", "nobody"):  # another site's resident, and none at all
            assert clinician.get(URL.format(resident_id)).status_code == 404
            assert clinician.post(URL.format(resident_id) + "/apply", json=body).status_code == 404
    with served.client("admin") as admin:
        assert admin.get(URL.format("r3")).status_code == 200


def test_applying_sets_the_chosen_limits_and_escalation_which_the_care_team_reads(served: Served, week: None) -> None:
    with served.client("clinician") as clinician, served.client("operator") as operator:
        reset(clinician, "r2")
        rr_low = {"low": 10, "reason": "chronic bradypnoea"}
        assert clinician.put("/api/residents/r2/thresholds/rr", json=rr_low).status_code == 200
        changes_before = len(operator.get("/api/residents/r2/news2-escalation/changes").json())
        limit_changes_before = len(operator.get("/api/residents/r2/thresholds/changes").json())
        shown = review(clinician)
        limits = {s["rule"]: s["suggested"] for s in shown["thresholds"]}
        reasons = {s["rule"]: s["reason"] for s in shown["thresholds"]}
        response = clinician.post(URL.format("r2") + "/apply", json=choice(shown, "spo2_low", "rr_high", news2=True))
        assert response.status_code == 200, response.text
        applied = response.json()
        assert {t["metric"]: (t["low"], t["high"]) for t in applied["thresholds"]} == {
            "spo2": (limits["spo2_low"], None), "rr": (10, limits["rr_high"]),  # rr's low limit kept
        }  # fmt: skip
        assert {t["updated_by"] for t in applied["thresholds"]} == {"clinician"}
        thresholds, escalation = in_force(operator, "r2")
        assert thresholds == {"spo2": (limits["spo2_low"], None), "rr": (10, limits["rr_high"])}
        n2 = shown["news2"]
        assert (
            escalation == applied["news2"] and escalation["resident_specific"] and escalation["set_by"] == "clinician"
        )
        levels = (escalation["urgent_from"], escalation["emergency_from"], escalation["red_score"])
        assert levels == (n2["urgent_from"], n2["emergency_from"], n2["red_score"])
        day = "{:%Y-%m-%d}".format
        period = f"(settling-in review {day(utc(shown['start']))} to {day(utc(shown['end']))})"
        assert escalation["reason"] == f"{n2['reason']} {period}"
        changes = operator.get("/api/residents/r2/news2-escalation/changes").json()
        assert len(changes) == changes_before + 1 and changes[-1]["by"] == "clinician"
        # each threshold documented by its suggestion's reason, in the trail with the applying clinician
        expected = {"spo2": f"{reasons['spo2_low']} {period}", "rr": f"{reasons['rr_high']} {period}"}
        assert {t["metric"]: t["reason"] for t in applied["thresholds"]} == expected
        limit_changes = operator.get("/api/residents/r2/thresholds/changes").json()[limit_changes_before:]
        assert {c["metric"]: (c["by"], c["threshold"]["reason"]) for c in limit_changes} == {
            metric: ("clinician", reason) for metric, reason in expected.items()
        }


def test_only_the_ticked_suggestions_are_set(served: Served, week: None) -> None:
    with served.client("clinician") as clinician:
        reset(clinician, "r2")
        shown = review(clinician)
        response = clinician.post(URL.format("r2") + "/apply", json=choice(shown, "spo2_low"))
        assert response.status_code == 200, response.text
        assert response.json()["news2"] is None
        thresholds, escalation = in_force(clinician, "r2")
        assert list(thresholds) == ["spo2"] and escalation["resident_specific"] is False


def refused(served: Served, resident_id: str, body: dict[str, Any], status: int, message: str) -> None:
    """The apply request is refused with this status and message, and nothing of the resident's changes."""
    with served.client("clinician") as clinician:
        before = in_force(clinician, resident_id)
        response = clinician.post(URL.format(resident_id) + "/apply", json=body)
        assert response.status_code == status, response.text
        assert message in response.text
        assert in_force(clinician, resident_id) == before


def test_choices_the_review_does_not_offer_are_refused_and_nothing_is_set(served: Served, week: None) -> None:
    with served.client("clinician") as clinician:
        reset(clinician, "r2")
        shown = review(clinician)
        nothing = review(clinician, "r1")
    body = choice(shown, "spo2_low", news2=True)
    unknown = {**body, "thresholds": [*body["thresholds"], {"rule": "hr_low", "suggested": 35}]}
    refused(served, "r2", unknown, 422, "the review of this period suggests no limit for 'hr_low'")
    other = {**body, "thresholds": [{"rule": "spo2_low", "suggested": 70}]}
    refused(served, "r2", other, 409, "compute it again (spo2_low:")
    levels = {**body, "news2": {**body["news2"], "urgent_from": body["news2"]["urgent_from"] + 1}}
    refused(served, "r2", levels, 409, "compute it again (NEWS2:")
    no_news2 = {**choice(nothing), "news2": body["news2"]}
    refused(served, "r1", no_news2, 422, "the review suggests no NEWS2 escalation")
    twice = {**body, "thresholds": body["thresholds"] * 2}
    refused(served, "r2", twice, 422, "each rule at most once")
    refused(served, "r2", {**body, "start": body["end"] - 31 * 86_400}, 422, "at most 30 days")
    refused(served, "r2", {**body, "start": body["end"] + 1}, 422, "start before end")
    refused(served, "r2", {**body, "extra": 1}, 422, "Extra inputs are not permitted")


def test_a_limit_that_would_cross_the_other_side_is_refused(served: Served, week: None) -> None:
    with served.client("clinician") as clinician:
        reset(clinician, "r2")
        shown = review(clinician)
        [spo2] = [s for s in shown["thresholds"] if s["rule"] == "spo2_low"]
        high = spo2["suggested"] - 1
        wider = {"high": high, "reason": "oxygen titrated"}
        assert clinician.put("/api/residents/r2/thresholds/spo2", json=wider).status_code == 200
    refused(served, "r2", choice(shown, "spo2_low", news2=True), 422, "would not be below the high")


def test_a_review_changed_by_later_readings_is_refused_as_stale(served: Served) -> None:
    """Readings that arrive late for the period shown (a device uploading its backlog) change the review."""
    served.store.upsert_residents([Resident("r4", "s1", "Sun Li", "104")])
    end = time.time() - 3600
    settling_in_week(served.store, "r4", "s1", end)
    with served.client("clinician") as clinician:
        shown = review(clinician, "r4")
        late_low_spo2(served.store, "r4", "s1", end)
        assert review(clinician, "r4")["thresholds"] != shown["thresholds"]
    refused(served, "r4", choice(shown, "spo2_low"), 409, "the review has changed since it was shown")


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
