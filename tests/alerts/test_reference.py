"""The vectorised engine against the straightforward per-reading implementation of the same rules
(alerts.reference): on the simulated week, in one batch and cut into batches with the clock ticking between, both
raise and clear exactly the same alerts at exactly the same times."""

from __future__ import annotations

import numpy as np
import pytest
from alerts_support import (
    LIMITS,
    RESIDENTS,
    SITES,
    T0,
    UPRIGHT,
    Stream,
    devices,
    end_of,
    engine,
    scenario,
    split,
    synthetic_fall,
)

from alerts.reference import ReferenceEngine
from carewatch.model import AccelRow, Batch, Device, DeviceKind, EventRow, ReadingRow
from carewatch.storage.base import News2Escalation, Threshold

Findings = tuple[list[tuple[str, str, float]], list[tuple[str, str, float]]]


def reference_engine(extra: tuple[Device, ...] = ()) -> ReferenceEngine:
    e = ReferenceEngine()
    e.population.refresh_offsets(T0)
    e.add_residents(RESIDENTS, SITES, [*devices(), *extra])
    return e


def vectorised(
    batches: list[tuple[Batch, float]],
    end: float,
    escalations: tuple[News2Escalation, ...] = (),
    limits: tuple[Threshold, ...] = (),
    extra: tuple[Device, ...] = (),
) -> Findings:
    e = engine()
    e.add_residents(RESIDENTS, SITES, [*devices(), *extra])
    e.apply_news2_escalations(escalations)
    e.apply_thresholds(limits)
    raised, cleared = [], []
    for batch, until in batches:
        for drafts, gone in (e.process(batch), e.tick(min(until, end))):
            raised += [(d.resident_id, d.rule, d.opened_at) for d in drafts]
            cleared += [(c.resident_id, c.rule, c.at) for c in gone]
    return sorted(raised), sorted(cleared)


def straightforward(
    batches: list[tuple[Batch, float]],
    end: float,
    escalations: tuple[News2Escalation, ...] = (),
    limits: tuple[Threshold, ...] = (),
    extra: tuple[Device, ...] = (),
) -> Findings:
    e = reference_engine(extra)
    e.apply_news2_escalations(escalations)
    e.apply_thresholds(limits)
    raised, cleared = [], []
    for batch, until in batches:
        for found, gone in (e.process(batch), e.tick(min(until, end))):
            raised += found
            cleared += gone
    return sorted(raised), sorted(cleared)


# Clinicians' NEWS2 escalations: higher levels (r0), lower ones (r1, r5), no single-3 trigger (r4).
ESCALATIONS = (
    News2Escalation("r0", 6, 9, False, "COPD on home oxygen, baseline 5", "dr:li", T0),
    News2Escalation("r1", 3, 4, True, "post-operative, watch closely", "dr:li", T0),
    News2Escalation("r4", 5, 7, False, "chronic tachypnoea", "dr:li", T0),
    News2Escalation("r5", 1, 2, True, "the lowest levels allowed", "dr:li", T0),
)


def cut(parts: int) -> tuple[list[tuple[Batch, float]], float]:
    """The simulated week in ``parts`` batches at random instants, and its end."""
    s = scenario(2)
    batch, end = s.batch(), end_of(s)
    times = np.array([r.ts for r in batch.readings])
    cuts = sorted(np.random.default_rng(parts).uniform(times.min(), times.max(), parts - 1).tolist())
    return list(split(batch, cuts)), end


@pytest.mark.parametrize("escalations", [(), ESCALATIONS], ids=["rcp", "escalated"])
@pytest.mark.parametrize("parts", [1, 6])
def test_vectorised_and_straightforward_rules_agree(parts: int, escalations: tuple[News2Escalation, ...]) -> None:
    batches, end = cut(parts)
    expected = straightforward(batches, end, escalations)
    assert len(expected[0]) > 40  # every rule raised at least once (tests/alerts/test_invariance.py)
    assert vectorised(batches, end, escalations) == expected


@pytest.mark.parametrize("parts", [1, 6])
def test_limits_for_the_time_in_bed_agree(parts: int) -> None:
    batches, end = cut(parts)
    expected = straightforward(batches, end, limits=LIMITS)
    assert vectorised(batches, end, limits=LIMITS) == expected


def test_the_limits_for_the_time_in_bed_change_alerts_in_bed_only() -> None:
    """r2's in-bed sbp_low limit of 121 alerts at night; r4's dbp_high of 82 alerts by day, its 90 not at night;
    r5's slow heart in the afternoon alerts under the in-bed hr_low of 35."""
    batches, end = cut(1)
    default, limited = (set(straightforward(batches, end, limits=x)[0]) for x in ((), LIMITS))
    added, removed = limited - default, default - limited
    assert {(r, rule) for r, rule, _ in added} == {("r2", "sbp_low"), ("r4", "dbp_high")}
    assert removed == set()
    # Local hours after the first evening in bed (before it the residents are not known to be in bed).
    hours = {rule: [(t - T0 + offset) % 86_400 / 3600 for r, rule_, t in added if rule_ == rule and t > T0 + 86_400]
             for rule, offset in (("sbp_low", 8 * 3600.0), ("dbp_high", -5 * 3600.0))}  # fmt: skip
    assert hours["sbp_low"] and all(h >= 22.5 or h < 7.25 for h in hours["sbp_low"]), hours  # in bed
    assert hours["dbp_high"] and all(7.0 <= h < 22.75 for h in hours["dbp_high"]), hours  # out of bed
    assert ("r5", "hr_low") in {(r, rule) for r, rule, _ in limited}


def test_the_escalations_change_news2_alerts() -> None:
    batches, end = cut(1)
    news2 = [[x for x in straightforward(batches, end, e)[0] if x[1].startswith("news2")] for e in ((), ESCALATIONS)]
    assert news2[0] != news2[1]


def cut_readings(batch: Batch, parts: int) -> tuple[list[tuple[Batch, float]], float]:
    """``batch`` in ``parts`` batches cut at random instants between its readings, and a minute after the last."""
    times = sorted(r.ts for r in batch.readings)
    cuts = sorted(np.random.default_rng(parts).uniform(times[0], times[-1], parts - 1).tolist())
    return list(split(batch, cuts)), times[-1] + 60


def walks_with_raised_vitals() -> Batch:
    """Two residents breathless and hypertensive for an hour and a quarter, with walks (steps going up) of 3 to 14
    minutes in it: the rules at rest (rr_high, sbp_high, NEWS2's observations, spo2_falling: 5 points down on each
    walk, and 5 points down at rest at the end) and the one that is not (hr_high)."""
    s, rng = Stream(np.random.default_rng(7)), np.random.default_rng(8)
    start = T0 + 2 * 86_400.0 + 10 * 3600.0
    for resident in ("r0", "r1"):
        walks = [(start + a, start + a + d) for a, d in ((300, 180), (1500, 840), (2700, 420))]
        steps = 100.0
        for k in range(900):
            t = start + 5 * k
            walking = any(lo <= t < hi for lo, hi in walks)
            spo2 = 92.0 if walking else 97.0 - min(5.0, max(0.0, t - start - 3600) / 120)
            s.vitals(resident, t, rr=float(rng.integers(26, 30)), sbp=float(rng.integers(182, 196)),
                     hr=float(rng.integers(132, 141)), spo2=float(round(spo2)))  # fmt: skip
            if walking:
                steps += 8
                s.vital(resident, t, "steps", steps)
    return s.batch()


@pytest.mark.parametrize("parts", [1, 3, 7])
def test_the_rules_at_rest_agree_however_the_walks_are_cut(parts: int) -> None:
    batches, end = cut_readings(walks_with_raised_vitals(), parts)
    expected = straightforward(batches, end)
    assert {rule for _, rule, _ in expected[0]} >= {"rr_high", "sbp_high", "hr_high", "news2_urgent", "spo2_falling"}
    falling = [t for _, rule, t in expected[0] if rule == "spo2_falling"]
    assert len(falling) == 2 and min(falling) > T0 + 2 * 86_400.0 + 11 * 3600.0  # the fall at rest only
    assert vectorised(batches, end) == expected


def falls_while_walking() -> Batch:
    """Three residents fall (device-reported), the step count reported every 5 s: r0 stood still before, r1
    walks again two minutes later, r2 fell while walking (its last steps are reported 3 s after the fall)."""
    s = Stream(np.random.default_rng(9))
    start = T0 + 2 * 86_400.0 + 11 * 3600.0
    for n, resident in enumerate(("r0", "r1", "r2")):
        fall = start + 600 * n + 7
        steps = 100.0
        for k in range(300):
            t = start + 600 * n + 5 * k
            walking = t < fall - 5 or (resident == "r2" and t <= fall + 3)
            if walking or (resident == "r1" and fall + 120 < t < fall + 300):
                steps += 4
            s.vital(resident, t, "steps", steps)
        s.events.append(EventRow(fall, "h0", f"w-{resident}", resident, "fall", 1.0, 1))
    return s.batch()


@pytest.mark.parametrize("parts", [1, 5])
def test_recovery_after_a_fall_agrees_however_the_steps_are_cut(parts: int) -> None:
    batches, end = cut_readings(falls_while_walking(), parts)
    expected = straightforward(batches, end)
    assert sorted(r for r, rule, _ in expected[0] if rule == "fall_long_lie") == ["r0", "r2"]
    assert vectorised(batches, end) == expected


PENDANT = Device("pendant-r0", "h0", DeviceKind.WEARABLE, "r0")


def two_wearables() -> Batch:
    """r0 wears a watch all along (worn 1 every minute, vital signs every 5 s with an hour of hypoxia, steps on two
    walks) and has a pendant that measures too: off for 40 minutes (on its charger: noise, its own step count, a
    drop that looks like a fall), worn for 50 (a fall in minute 60, while the watch streams too), then off for two
    and a half hours (not_worn)."""
    s, rng = Stream(np.random.default_rng(11)), np.random.default_rng(12)
    start = T0 + 2 * 86_400.0 + 9 * 3600.0

    def pendant(t: float, metric: str, value: float) -> None:
        s.readings.append(ReadingRow(t, "h0", PENDANT.device_id, "r0", metric, value, 0, False))

    watch_steps, pendant_steps = 2000.0, 40.0
    for k in range(4 * 720):
        t, minute = start + 5 * k, k // 12
        worn = 40 <= minute < 90
        hypoxia = 60 <= minute < 120
        s.vitals("r0", t, spo2=float(rng.integers(84, 88)) if hypoxia else float(rng.integers(95, 99)))
        if worn:
            pendant(t, "spo2", float(rng.integers(84, 88)) if hypoxia else float(rng.integers(95, 99)))
        else:
            pendant(t, "spo2", float(rng.integers(55, 70)))
            pendant(t, "hr", float(rng.integers(30, 45)))
        if k % 12 == 0:
            s.status("r0", t, "worn", 1.0)
            pendant(t + 30, "worn", 1.0 if worn else 0.0)
            walking = minute in range(20, 30) or minute in range(150, 160)
            watch_steps += 60.0 if walking else 0.0
            pendant_steps += 30.0 if walking and worn else 0.0
            s.vital("r0", t, "steps", watch_steps)
            pendant(t + 15, "steps", pendant_steps)

    def stream(device: str, at: float, xyz: np.ndarray) -> None:
        for j in range(0, xyz.shape[0], 25):
            s.accel.append(AccelRow(at + j / 25, "h0", device, "r0", j, 25.0, xyz[j : j + 25].astype(np.float32)))

    # Dropped on the floor while off the body, just after the watch said worn (the resident's newest worn reading
    # says 1): no fall. Then, worn, both stream for ten minutes, half a second apart, and the pendant records a fall.
    stream(PENDANT.device_id, start + 10 * 60 + 1, synthetic_fall(25.0, 20.0, rng))
    stream("w-r0", start + 55 * 60, UPRIGHT + rng.normal(0.0, 0.01, (25 * 600, 3)))
    before = UPRIGHT + rng.normal(0.0, 0.01, (25 * 294, 3))
    stream(PENDANT.device_id, start + 55 * 60 + 0.5, np.concatenate([before, synthetic_fall(25.0, 300.0, rng)]))
    return s.batch()


@pytest.mark.parametrize("parts", [1, 5])
def test_two_wearables_agree_however_the_data_is_cut(parts: int) -> None:
    """Per-device state (worn, the step count, not worn) in both implementations: what the watch says counts while
    the pendant is off, and the pendant's not-worn alert names it."""
    batches, end = cut_readings(two_wearables(), parts)
    expected = straightforward(batches, end, extra=(PENDANT,))
    mine = {rule for r, rule, _ in expected[0] if r == "r0"}
    assert {"spo2_low", "not_worn"} <= mine and "hr_low" not in mine, mine
    falls = [t - T0 - 2 * 86_400.0 - 9 * 3600.0 for r, rule, t in expected[0] if rule == "fall"]
    assert len(falls) == 1 and 60 * 60 < falls[0] < 61 * 60  # the pendant's, worn; not its drop at 10 minutes
    assert vectorised(batches, end, extra=(PENDANT,)) == expected
