"""The detection evaluation's matching and figures (bench/eval_scoring.py), on hand-made alerts and ground truth."""

from __future__ import annotations

import math

import pytest

from bench.eval_scoring import DAY_S, EARLY_S, GRACE_S, Opening, on_residents, poisson_upper, report, score
from simulators.scenarios.base import NO_RULE, GroundTruth

START, END = 0.0, 2 * DAY_S
RESIDENTS = ("r1", "r2", "r3", "r4", "r5")
HYPOXIA = GroundTruth("r1", "hypoxia", 1000.0, 1600.0, "spo2_low", ("news2_urgent",))
FALL = GroundTruth("r2", "fall", 5000.0, 5100.0, "fall")
BURST = GroundTruth("r3", "artefact_burst", 9000.0, 9300.0, NO_RULE)
SHOWER = GroundTruth("r4", "shower", 3000.0, 3600.0, NO_RULE, background=True)


def test_detection_latency_and_precision() -> None:
    openings = [
        Opening(1, "r1", "spo2_low", 1075.0),  # detects the hypoxia, 75 s in
        Opening(2, "r1", "news2_urgent", 1200.0),  # allowed by `also`
        Opening(3, "r1", "hr_high", 1200.0),  # neither expected nor allowed: false
        Opening(4, "r2", "spo2_low", 1075.0),  # another resident: false
        Opening(1, "r1", "spo2_low", 1500.0),  # the same alert reopened: a second, matched opening
    ]
    s = score(openings, [HYPOXIA, FALL], RESIDENTS, START, END)
    spo2 = s.rules["spo2_low"]
    assert (spo2.incidents, spo2.detected, spo2.openings, spo2.matched) == (1, 1, 3, 2)
    assert spo2.latencies == [75.0] and spo2.recall == 1.0 and spo2.precision == pytest.approx(2 / 3)
    assert s.rules["news2_urgent"].precision == 1.0 and math.isnan(s.rules["news2_urgent"].recall)
    assert s.rules["hr_high"].precision == 0.0
    assert s.rules["fall"].recall == 0.0 and s.missed == [FALL]
    assert (s.incidents, s.detected) == (2, 1) and s.recall == 0.5
    assert sorted(o.alert_id for o in s.false_alerts) == [3, 4]


def test_an_emergency_finds_an_incident_that_expects_the_urgent_news2_level() -> None:
    """NEWS2's emergency alert holds the urgent one back (one alert per deterioration): a sepsis that goes straight
    to 7 is found by the emergency; the emergency does not find a hypoxia (another rule's incident)."""
    sepsis = GroundTruth("r1", "sepsis", 1000.0, 1600.0, "news2_urgent", ("news2_emergency",))
    s = score([Opening(1, "r1", "news2_emergency", 1240.0)], [sepsis], RESIDENTS, START, END)
    assert (s.detected, s.rules["news2_urgent"].latencies, s.false_alerts) == (1, [240.0], [])
    other = score([Opening(1, "r1", "news2_emergency", 1240.0)], [HYPOXIA], RESIDENTS, START, END)
    assert other.missed == [HYPOXIA]


@pytest.mark.parametrize(
    ("at", "matched"),
    [
        (HYPOXIA.start - EARLY_S, True),
        (HYPOXIA.start - EARLY_S - 0.5, False),
        (HYPOXIA.end + GRACE_S, True),
        (HYPOXIA.end + GRACE_S + 0.5, False),
    ],
)
def test_the_window_is_start_minus_a_tick_to_end_plus_grace(at: float, matched: bool) -> None:
    s = score([Opening(1, "r1", "spo2_low", at, until=at)], [HYPOXIA], RESIDENTS, START, END)  # not live after
    assert s.rules["spo2_low"].detected == int(matched)
    assert len(s.false_alerts) == int(not matched)


def test_an_incident_whose_alert_was_already_live_is_found_already_alerted() -> None:
    """A battery planted low while the wearable's battery_low alert, raised when its battery ran low in ordinary
    life, is still live: no alert can open anew, and the operator already has one. Resolved before it, it is a miss."""
    planted = GroundTruth("r2", "battery_low", 5000.0, 9000.0, "battery_low")
    ran_low = GroundTruth("r2", "battery_ran_low", 4000.0, 4000.0, "battery_low", background=True)
    for until, found in ((math.inf, True), (6000.0, True), (5000.0 - EARLY_S, False), (4500.0, False)):
        s = score([Opening(1, "r2", "battery_low", 4000.0, until=until)], [planted, ran_low], RESIDENTS, START, END)
        battery = s.rules["battery_low"]
        assert (battery.detected, battery.already_alerted, battery.latencies) == (int(found), int(found), [])
        assert s.false_alerts == [] and ("found already alerted (the rule's alert live" in report(s))
    other = score([Opening(1, "r2", "sos", 4000.0)], [planted], RESIDENTS, START, END)  # another rule's alert
    assert other.missed == [planted]


def test_incidents_still_open_at_the_end_are_not_scored_and_their_alerts_not_false() -> None:
    late = GroundTruth("r2", "fall_long_lie", END - 1000.0, END - 100.0, "fall_long_lie", ("fall",))
    s = score([Opening(7, "r2", "fall", END - 990.0)], [late], RESIDENTS, START, END)
    assert s.unscored == 1 and s.incidents == 0 and s.false_alerts == []
    assert s.rules["fall"].matched == 1


def test_false_alerts_per_resident_day_count_incident_free_residents_only() -> None:
    openings = [
        Opening(1, "r4", "rr_high", 3100.0),  # r4 has no incident: false, and counted per resident-day
        Opening(2, "r5", "battery_low", 7000.0),
        Opening(3, "r1", "hr_high", 200.0),  # false, but r1 had an incident in the run
    ]
    s = score(openings, [HYPOXIA, FALL, BURST, SHOWER], RESIDENTS, START, END)
    assert s.quiet_false == 2 and s.quiet_resident_days == 2 * 2.0  # r4 and r5 (a shower is ordinary life)
    assert s.false_per_resident_day == 0.5 and s.resident_days == 10.0 and len(s.false_alerts) == 3
    assert not s.goals_met


def test_ordinary_life_that_rightly_alerts_is_neither_false_nor_an_incident() -> None:
    low = GroundTruth("r5", "battery_ran_low", 7000.0, 7000.0, "battery_low", device_id="w5", background=True)
    openings = [
        Opening(1, "r5", "battery_low", 7060.0),  # the battery really ran low: right, not false
        Opening(2, "r5", "battery_low", 7000.0 + GRACE_S + 1),  # too late for it: false
        Opening(3, "r5", "sos", 7060.0),  # another rule: false
    ]
    s = score(openings, [HYPOXIA, low], RESIDENTS, START, END)
    assert sorted(o.alert_id for o in s.false_alerts) == [2, 3] and s.quiet_false == 2
    assert s.quiet_resident_days == 4 * 2.0  # r5 stays incident-free
    assert s.incidents == 1 and s.rules["battery_low"].incidents == 0
    assert s.rules["battery_low"].matched == 1 and (s.ordinary, s.ordinary_alerted) == ([low], 1)


def test_an_alert_during_an_artefact_burst_is_false_and_noted() -> None:
    s = score([Opening(1, "r3", "spo2_low", 9100.0)], [BURST], RESIDENTS, START, END)
    assert len(s.false_alerts) == 1 and s.silent == [BURST] and s.silent_alerted == 1
    assert s.incidents == 0  # nothing to detect


def test_goals() -> None:
    openings = [Opening(1, "r1", "spo2_low", 1010.0), Opening(2, "r2", "fall", 5001.0)]
    s = score(openings, [HYPOXIA, FALL], RESIDENTS, START, END)
    assert s.recall == 1.0 and s.quiet_false == 0 and s.goals_met
    text = report(s)
    assert "recall: 2/2 = 1.000 (goal >= 0.99: met)" in text
    assert "0 in 6.0 resident-days" in text


@pytest.mark.parametrize(("k", "upper"), [(0, 3.689), (1, 5.572), (10, 18.39)])
def test_poisson_upper_limit(k: int, upper: float) -> None:
    assert poisson_upper(k) == pytest.approx(upper, abs=0.01)  # Garwood 95 % (published tables)


def test_incidents_on_chosen_residents_say_whether_they_were_found() -> None:
    late = GroundTruth("r1", "fall", END - 100.0, END - 50.0, "fall")  # its window closes after the end
    truths = [FALL, HYPOXIA, BURST, SHOWER, late]
    s = score([Opening(1, "r1", "spo2_low", 1075.0)], truths, RESIDENTS, START, END)
    found = on_residents(truths, s.missed, {"r1", "r2", "r3", "r4"}, END)
    assert found == [(HYPOXIA, True), (FALL, False)]  # no artefact burst, background or unscored incident
    assert on_residents(truths, s.missed, {"r5"}, END) == []
