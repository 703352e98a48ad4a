"""The sustained-threshold rule, and the invariances every rule must keep."""

from __future__ import annotations

import alerts_support as support
import numpy as np
import pytest

from alerts.engine import AlertEngine
from alerts.rules import THRESHOLDS, default_rules
from alerts.rules.threshold import ThresholdBank, ThresholdRule
from carewatch.model import Alert, AlertState, Batch, Device, DeviceKind, ReadingRow, Resident, Severity

T0 = 1_764_412_800.0
RESIDENTS = [Resident(f"r{i}", "s1", f"Resident {i}", spo2_scale=2 if i == 3 else 1) for i in range(5)]
WEARABLES = [Device(f"w{i}", "s1", DeviceKind.WEARABLE, f"r{i}") for i in range(5)]  # ingest passes known devices


def engine() -> AlertEngine:
    e = AlertEngine(default_rules())
    e.add_residents(RESIDENTS, devices=WEARABLES)
    return e


def spo2(resident: int, start: float, values: list[float], step: float = 5.0) -> list[ReadingRow]:
    return [
        ReadingRow(start + i * step, "s1", f"w{resident}", f"r{resident}", "spo2", v, i, False)
        for i, v in enumerate(values)
    ]


def raised(e: AlertEngine, batch: Batch) -> list[tuple[str, str, float]]:
    drafts, _ = e.process(batch)
    return sorted((d.resident_id, d.rule, d.opened_at) for d in drafts)


def test_sustained_low_spo2_alerts_once_after_persistence() -> None:
    e = engine()
    readings = spo2(0, T0, [97, 96] + [87] * 20 + [95] * 3) + spo2(1, T0, [97] * 25)
    drafts, cleared = e.process(Batch(readings=readings))
    assert [(d.resident_id, d.opened_at) for d in drafts] == [("r0", T0 + 10 + 60)]  # onset at T0+10, +60 s
    assert drafts[0].evidence["readings"][0] == [T0 + 10, 87.0]
    assert "below 90 %" in drafts[0].explanation
    # Cleared at the first reading past the leave limit more than the dip tolerance (12 s) after the last below 90.
    assert [(c.resident_id, c.at) for c in cleared] == [("r0", T0 + 120)]


def test_short_dip_does_not_alert() -> None:
    assert raised(engine(), Batch(readings=spo2(0, T0, [97] + [88] * 10 + [97] * 5))) == []


def readings(resident: int, metric: str, values: list[float], step: float = 5.0) -> list[ReadingRow]:
    return [
        ReadingRow(T0 + i * step, "s1", f"w{resident}", f"r{resident}", metric, v, i, False)
        for i, v in enumerate(values)
    ]


# One reading past the entry limit, then ordinary values inside the hysteresis band for longer than the persistence:
# the clock runs only beyond the limit, so none of these is a sustained condition (each alerted before the fix).
HYSTERESIS_ONLY = [
    ("spo2_low", 0, "spo2", [89] + [91] * 20),  # scale 1: enters < 90, leaves >= 92
    ("spo2_low", 3, "spo2", [85] + [87] * 20),  # scale 2: enters < 86, leaves >= 88 (asleep at 86-88 %)
    ("rr_high", 0, "rr", [25] + [22] * 70),  # COPD breathing 21-23/min: enters > 24, leaves <= 20
    ("rr_low", 0, "rr", [8] + [11] * 30),  # asleep at 10-11/min: enters < 9, leaves >= 12
    ("sbp_low", 0, "sbp", [89] + [96] * 30),  # asleep at 95-100 mmHg: enters <= 90, leaves >= 100
    ("hr_high", 0, "hr", [131, 131] + [125] * 70),
]


@pytest.mark.parametrize(("rule", "resident", "metric", "values"), HYSTERESIS_ONLY)
def test_readings_inside_the_hysteresis_band_do_not_count_toward_persistence(
    rule: str, resident: int, metric: str, values: list[float]
) -> None:
    assert [r for r in raised(engine(), Batch(readings=readings(resident, metric, values))) if r[1] == rule] == []


def test_a_reading_back_within_the_limit_restarts_the_persistence() -> None:
    # Rules without a dip tolerance (rr_low): 8/min for 55 s, one 10, 8 again: the run restarts at T0 + 65 and
    # reaches 2 min at T0 + 185.
    values = [8] * 12 + [10] + [8] * 30
    assert raised_by("rr_low", "rr", values) == [("r0", "rr_low", T0 + 185)]


def test_a_spo2_dip_longer_than_a_fifth_of_the_persistence_restarts_it() -> None:
    # spo2_low (60 s, so a dip of up to 12 s): 88 for 55 s, three readings at 91 (the last 15 s after the last 88),
    # 88 again from T0 + 75: the run restarts there and reaches 60 s at T0 + 135. Two readings at 91 do not restart
    # it: alerted at the first 88 after them.
    assert raised_by("spo2_low", "spo2", [88] * 12 + [91] * 3 + [88] * 20) == [("r0", "spo2_low", T0 + 135)]
    assert raised_by("spo2_low", "spo2", [88] * 12 + [91] * 2 + [88] * 20) == [("r0", "spo2_low", T0 + 70)]


def noisy_spo2(mean: float, n: int, seed: int) -> list[float]:
    """Whole-number SpO2 read every 5 s with 1.5 points of probe noise around ``mean`` (the clinical review's)."""
    return [float(v) for v in np.clip(np.round(np.random.default_rng(seed).normal(mean, 1.5, n)), 50, 100)]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("mean", "within_s"), [(88.0, 90.0), (88.5, 160.0), (89.0, 270.0)])
def test_a_noisy_hypoxia_alerts_within_minutes(mean: float, within_s: float, seed: int) -> None:
    # A true SpO2 of 88-89 % read with 1.5 points of noise: one reading in six to one in three is 90 or over. Each
    # restarted the persistence: first alerts after 1-13 min at 88 %, up to 22 min or none at 88.5 %, none in 6 of
    # 8 runs at 89 %. With the fifth's dip tolerance and the majority: about a minute (the bounds: the slowest of 40
    # simulated runs, 1.4, 2.6 and 4.4 min).
    # (A reading of 92 % more than the tolerance after the last under 90 still clears it, as before: the lifecycle
    # holds a cleared alert a while against flapping.)
    found = raised_by("spo2_low", "spo2", noisy_spo2(mean, 360, seed))  # 30 minutes
    assert found and found[0][2] <= T0 + within_s


@pytest.mark.parametrize("seed", range(5))
def test_a_spo2_hovering_over_the_limit_does_not_alert(seed: int) -> None:
    # An hour at 92 % with the same noise: one reading in twenty under 90, never most of a run.
    assert raised_by("spo2_low", "spo2", noisy_spo2(92.0, 720, seed)) == []


def raised_by(rule: str, metric: str, values: list[float]) -> list[tuple[str, str, float]]:
    """What ``rule`` raised on resident r0's ``metric`` readings ``values`` (one every 5 s from T0)."""
    return [r for r in raised(engine(), Batch(readings=readings(0, metric, values))) if r[1] == rule]


@pytest.mark.parametrize("back", [41, 46])
def test_a_pulse_dip_longer_than_a_fifth_of_the_persistence_restarts_it(back: float) -> None:
    # hr_low (2 min, so a dip of up to 24 s): 38 for 55 s, five readings back within the limit (the last 25 s after
    # the last 38), 38 again from T0 + 85: the run restarts there and reaches 2 min at T0 + 205. Past leave or not.
    assert raised_by("hr_low", "hr", [38] * 12 + [back] * 5 + [38] * 30) == [("r0", "hr_low", T0 + 205)]


@pytest.mark.parametrize("back", [41, 46])
def test_a_short_pulse_dip_does_not_restart_the_persistence(back: float) -> None:
    # 38 for 55 s, two readings back within the limit (10 s), 38 again from T0 + 70: one run from T0, alerted at its
    # first reading below 40 after 2 min.
    assert raised_by("hr_low", "hr", [38] * 12 + [back] * 2 + [38] * 20) == [("r0", "hr_low", T0 + 120)]


def jittering(mean: float, sd: float, n: int, seed: int = 0) -> list[float]:
    """A rate read every 5 s with beat-to-beat irregularity: ``n`` readings around ``mean``."""
    return [float(round(v)) for v in np.random.default_rng(seed).normal(mean, sd, n)]


@pytest.mark.parametrize("seed", range(5))
def test_a_sustained_tachycardia_with_ordinary_jitter_alerts(seed: int) -> None:
    # Around 135/min with 8/min SD: about one reading in four is 130 or under, one in twenty 120 or under, so a run
    # of 60 readings beyond 130 (what restarting at every reading within the limit asked for) almost never happens.
    values = jittering(135.0, 8.0, 240, seed)  # 20 minutes
    found = raised_by("hr_high", "hr", values)
    assert len(found) == 1 and found[0][2] <= T0 + 400


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("mean", [123.0, 127.0])
def test_a_rate_hovering_in_the_band_with_readings_beyond_now_and_then_does_not_alert(mean: float, seed: int) -> None:
    # An hour around 123-127/min with 8/min SD: a quarter to a third of the readings beyond 130, few stretches of a
    # minute without one, but never more than half of a run's readings beyond: its median is within the limit.
    values = jittering(mean, 8.0, 720, seed)
    assert raised_by("hr_high", "hr", values) == []


@pytest.mark.parametrize("seed", range(5))
def test_a_hypotension_with_ordinary_reading_noise_alerts(seed: int) -> None:
    # A systolic pressure of 86 mmHg with 4 mmHg of reading noise: one reading in six is 90 or over, so 2 minutes of
    # readings all under 90 (what restarting at every reading within the limit asked for) come rarely; most of 5
    # minutes' readings are under 90 from the start.
    found = raised_by("sbp_low", "sbp", jittering(86.0, 4.0, 240, seed))  # 20 minutes
    assert len(found) == 1 and found[0][2] <= T0 + 400


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("mean", [92.0, 93.0])
def test_a_sleeping_pressure_hovering_over_90_does_not_alert(mean: float, seed: int) -> None:
    # A night around 92-93 mmHg with 4 mmHg of reading noise: a quarter to a third of the readings under 90, and 2
    # minutes with most of them under 90 now and then (night-time alerts by chance, when the majority was judged over
    # 2 minutes), but 5 minutes' majority follows the pressure itself.
    assert raised_by("sbp_low", "sbp", jittering(mean, 4.0, 720, seed)) == []


@pytest.mark.parametrize("seed", range(5))
def test_a_tachypnoea_with_ordinary_reading_noise_alerts(seed: int) -> None:
    # Respiration around 26/min with 1.5/min of reading noise: about one reading in five is 24 or under, so 5 minutes
    # of readings all over 24 almost never come (evaluation seed 55: 28/min against a reviewed 26, 89 % of readings
    # beyond, the longest unbroken run 54 of the 60 needed); most of 5 minutes' readings are beyond from the start.
    found = raised_by("rr_high", "rr", jittering(26.0, 1.5, 240, seed))  # 20 minutes
    assert len(found) == 1 and found[0][2] <= T0 + 400


@pytest.mark.parametrize("seed", range(5))
def test_a_respiration_hovering_under_the_limit_does_not_alert(seed: int) -> None:
    # An hour around 23/min with 1.5/min of reading noise: about one reading in five beyond 24, never most of a run.
    assert raised_by("rr_high", "rr", jittering(23.0, 1.5, 720, seed)) == []


def test_a_jittering_tachycardia_alerts_however_the_data_is_cut() -> None:
    values = jittering(134.0, 8.0, 240, 7)
    whole = raised(engine(), Batch(readings=readings(0, "hr", values)))
    e = engine()
    rows = readings(0, "hr", values)
    pieces = [r for i in range(0, len(rows), 7) for r in raised(e, Batch(readings=rows[i : i + 7]))]
    assert [r for r in whole if r[1] == "hr_high"] and sorted(pieces) == whole


def test_hysteresis_keeps_a_raised_alert_until_the_leave_limit() -> None:
    # Raised after 60 s below 90; values of 91 (between enter and leave) keep it; 92 clears it.
    e = engine()
    values = [89] * 13 + [91] * 10 + [92]
    drafts, cleared = e.process(Batch(readings=spo2(0, T0, values)))
    assert [(d.rule, d.opened_at) for d in drafts] == [("spo2_low", T0 + 60)]
    assert [(c.rule, c.at) for c in cleared] == [("spo2_low", T0 + 23 * 5)]


def test_gap_restarts_episode() -> None:
    e = engine()
    readings = spo2(0, T0, [88] * 6) + spo2(0, T0 + 600, [88] * 6)  # 25 s, 10 minutes off, 25 s
    assert raised(e, Batch(readings=readings)) == []


def test_scale2_resident_has_lower_target() -> None:
    readings = spo2(3, T0, [88] * 20) + spo2(0, T0, [88] * 20)
    assert raised(engine(), Batch(readings=readings)) == [("r0", "spo2_low", T0 + 60)]


def test_artefacts_and_unknown_residents_are_ignored() -> None:
    rows = [r._replace(artefact=True) for r in spo2(0, T0, [60] * 20)]
    rows += [r._replace(resident_id="stranger") for r in spo2(1, T0, [80] * 20)]
    assert raised(engine(), Batch(readings=rows)) == []


def test_live_alert_loaded_at_start_is_not_raised_again() -> None:
    e = engine()
    e.mark_live([live_alert("r0", T0 - 30)])
    drafts, cleared = e.process(Batch(readings=spo2(0, T0, [85] * 20 + [96] * 4)))
    assert drafts == [] and [c.resident_id for c in cleared] == ["r0"]


def test_hysteresis_must_be_on_safe_side() -> None:
    from dataclasses import replace

    from alerts.rules import SPO2_LOW

    with pytest.raises(ValueError, match="hysteresis"):
        ThresholdRule(replace(SPO2_LOW, leave=85.0))


def live_alert(resident_id: str, opened_at: float) -> Alert:
    return Alert(
        1,
        resident_id,
        "s1",
        "spo2_low",
        Severity.URGENT,
        AlertState.OPEN,
        opened_at,
        opened_at,
        opened_at,
        "t",
        "e",
        {},
    )


# Invariances over the whole registry ----------------------------------------------------------------------------


def mixed_population(seed: int) -> list[ReadingRow]:
    rng = np.random.default_rng(seed)
    rows: list[ReadingRow] = []
    for r in range(len(RESIDENTS)):
        values = np.clip(rng.normal(96, 1.5, 120).round(), 80, 100)
        for _ in range(3):  # hypoxic episodes of 25 s to 3 minutes, some long enough to alert
            start, length = rng.integers(0, 100), rng.integers(5, 36)
            values[start : start + length] = rng.normal(86, 2, len(values[start : start + length])).round()
        rows += spo2(r, T0 + rng.uniform(0, 5), values.tolist())
    return rows


@pytest.mark.parametrize("seed", range(5))
def test_order_within_batch_does_not_matter(seed: int) -> None:
    rows = mixed_population(seed)
    shuffled = [rows[i] for i in np.random.default_rng(seed).permutation(len(rows))]
    assert raised(engine(), Batch(readings=rows)) == raised(engine(), Batch(readings=shuffled))


@pytest.mark.parametrize("seed", range(5))
def test_splitting_a_batch_in_time_gives_the_same_alerts(seed: int) -> None:
    rows = mixed_population(seed)
    whole = engine()
    expected = raised(whole, Batch(readings=rows))
    assert expected, "the population should produce alerts, or this test proves nothing"
    cut = T0 + np.random.default_rng(seed).uniform(50, 350)
    split = engine()
    got = raised(split, Batch(readings=[r for r in rows if r.ts < cut]))
    got += raised(split, Batch(readings=[r for r in rows if r.ts >= cut]))
    assert sorted(got) == expected


@pytest.mark.parametrize("seed", range(5))
def test_duplicated_readings_change_nothing(seed: int) -> None:
    rows = mixed_population(seed)
    doubled = engine()
    expected = raised(engine(), Batch(readings=rows))
    assert raised(doubled, Batch(readings=rows + rows[::3])) == expected
    assert raised(doubled, Batch(readings=rows)) == []  # a redelivered batch: everything already seen


def walking(resident: int, start: float, seconds: float, step: float = 5.0) -> list[ReadingRow]:
    """The wearable's step count going up every ``step`` seconds: exertion (alerts.signals)."""
    n = int(seconds // step)
    return [
        ReadingRow(start + i * step, "s1", f"w{resident}", f"r{resident}", "steps", 100.0 + 8 * i, i, False)
        for i in range(n)
    ]


# (rule, metric, value): limits meant for a person at rest, a value past them for 20 minutes. Walking for the first
# 6 minutes defers the persistence until 5 minutes after the last step (RECOVERY_S): the run starts at 11:00 (the
# first reading more than 300 s after the last step at 5:55) and alerts 5 minutes later.
AT_REST = [("rr_high", "rr", 28.0), ("sbp_high", "sbp", 190.0), ("dbp_high", "dbp", 125.0)]


@pytest.mark.parametrize(("rule", "metric", "value"), AT_REST)
def test_exertion_and_recovery_defer_the_at_rest_limits(rule: str, metric: str, value: float) -> None:
    steps = walking(0, T0, 360)
    vitals = readings(0, metric, [value] * 240)  # 20 minutes
    found = [r for r in raised(engine(), Batch(readings=vitals + steps)) if r[1] == rule]
    last_step = T0 + 355
    assert found == [("r0", rule, last_step + 305 + 300)]
    assert [r for r in raised(engine(), Batch(readings=vitals)) if r[1] == rule] == [("r0", rule, T0 + 300)]


def test_two_wearables_step_counts_are_each_their_own() -> None:
    """A watch and a pendant count steps apart (5,000 and 120 today): their reports, interleaved, are no walking.
    Taken as one count, every report after the pendant's would be a rise, and the at-rest limit would never run."""
    e = engine()
    e.add_residents(RESIDENTS, devices=[*WEARABLES, Device("pendant0", "s1", DeviceKind.WEARABLE, "r0")])
    counts = [ReadingRow(T0 + 30 * i, "s1", "w0" if i % 2 else "pendant0", "r0", "steps", 5000.0 if i % 2 else 120.0,
                         i, False) for i in range(40)]  # fmt: skip
    vitals = readings(0, "sbp", [190.0] * 240)
    assert [r for r in raised(e, Batch(readings=vitals + counts)) if r[1] == "sbp_high"] == [
        ("r0", "sbp_high", T0 + 300)
    ]
    assert e.signals.exerted[0] == -np.inf  # nothing went up


def test_a_fast_pulse_alerts_while_walking() -> None:
    """hr_high's limit (130/min) is no resting limit: a tachyarrhythmia while walking alerts after its 5 minutes."""
    steps = walking(0, T0, 1200)
    vitals = readings(0, "hr", [150.0] * 240)
    assert [r for r in raised(engine(), Batch(readings=vitals + steps)) if r[1] == "hr_high"] == [
        ("r0", "hr_high", T0 + 300)
    ]


def test_exertion_is_the_same_however_the_data_is_cut() -> None:
    steps = walking(0, T0, 360)
    vitals = readings(0, "rr", [28.0] * 240)
    whole = [r for r in raised(engine(), Batch(readings=vitals + steps)) if r[1] == "rr_high"]
    e = engine()
    parts = []
    for lo, hi in ((0, 200), (200, 500), (500, 2000)):
        part = [r for r in vitals + steps if T0 + lo <= r.ts < T0 + hi]
        parts += [r for r in raised(e, Batch(readings=part)) if r[1] == "rr_high"]
    assert parts == whole


def test_exertion_does_not_defer_low_limits_or_keep_a_raised_alert_from_clearing() -> None:
    steps = walking(0, T0, 600)
    assert [r for r in raised(engine(), Batch(readings=readings(0, "sbp", [85.0] * 70) + steps)) if r[1] == "sbp_low"]
    e = engine()
    assert raised(e, Batch(readings=readings(0, "rr", [28.0] * 62))) == [("r0", "rr_high", T0 + 300)]
    later = [ReadingRow(T0 + 400 + i * 5, "s1", "w0", "r0", "rr", v, i, False) for i, v in enumerate([28.0, 16.0])]
    drafts, cleared = e.process(Batch(readings=later + walking(0, T0 + 390, 30)))
    assert drafts == [] and [(c.rule, c.at) for c in cleared] == [("rr_high", T0 + 405)]


# One bank for the ten rules ---------------------------------------------------------------------------------------


def thresholds_only(banked: bool) -> AlertEngine:
    """The ten threshold rules on the simulated week's world: in one bank (as `default_rules`), or each alone."""
    bank = ThresholdBank() if banked else None
    e = AlertEngine([ThresholdRule(spec, bank) for spec in THRESHOLDS])
    e.population.refresh_offsets(support.T0)
    e.add_residents(support.RESIDENTS, support.SITES, support.devices())
    return e


def test_one_bank_raises_and_clears_what_each_rule_alone_does() -> None:
    s = support.scenario(0)
    cuts = list(np.linspace(support.T0, support.end_of(s), 40)[1:-1])
    found = []
    for banked in (True, False):
        e = thresholds_only(banked)
        e.mark_live([live_alert("r3", support.T0)])  # a live alert keyed in the bank's spo2_low column
        drafts, cleared = [], []
        for batch, _ in support.split(s.batch(), cuts):
            d, c = e.process(batch)
            drafts += [(x.resident_id, x.rule, x.opened_at, x.explanation) for x in d]
            cleared += [(x.resident_id, x.rule, x.at) for x in c]
        found.append((sorted(drafts), sorted(cleared)))
    assert {rule for _, rule, _, _ in found[0][0]} >= {"spo2_low", "hr_high", "temp_high"}  # or it proves little
    assert found[0] == found[1]


def test_a_rule_evaluated_twice_on_one_frame_finds_nothing_new_and_the_others_keep_their_share() -> None:
    e = engine()
    frame = e.frame(spo2(0, T0, [85] * 20) + readings(1, "hr", [135] * 70))
    low_spo2 = e.by_name["spo2_low"]
    assert low_spo2.evaluate(frame).raised_resident.tolist() == [0]
    assert len(low_spo2.evaluate(frame)) == 0
    assert e.by_name["hr_high"].evaluate(frame).raised_resident.tolist() == [1]
