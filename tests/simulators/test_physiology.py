"""Tests of simulators.physiology, artefacts and accel: vital signs and motion consistent with what people do."""

from __future__ import annotations

import numpy as np

from carewatch.catalog import METRIC_BY_NAME
from simulators.accel import LYING_SIDES, UPRIGHT, Accelerometer, fall_pattern, gravity
from simulators.artefacts import error_codes, garble, motion_artefacts
from simulators.floorplans import build_world
from simulators.physiology import READINGS, Body
from simulators.profiles import ATRIAL_FIBRILLATION
from simulators.state import Activity, Behaviour, Posture

T0 = 1_764_374_400.0
N = 200


def behaving(posture: Posture, activity: Activity, moving: bool = False) -> Behaviour:
    b = Behaviour.empty(N)
    b.posture[:], b.activity[:], b.moving[:] = posture, activity, moving
    return b


def settle(body: Body, b: Behaviour, t: float, seconds: float = 3600.0) -> None:
    for k in range(int(seconds / 60)):
        body.update(t + k * 60.0, 60.0, b)


def readings(body: Body, t: float) -> dict[str, np.ndarray]:
    values = body.vitals(t, np.arange(N))
    return {m: values[:, i] for i, m in enumerate(READINGS)}


def make_body(seed: int = 1) -> Body:
    return Body(build_world("home", N, 1, seed=seed), np.random.default_rng(seed), np.zeros(N))


def test_sleep_lowers_heart_rate_and_blood_pressure() -> None:
    asleep, awake = make_body(), make_body()
    night = T0 + 3 * 3600.0
    settle(asleep, behaving(Posture.LYING, Activity.SLEEP), night - 3600.0)
    settle(awake, behaving(Posture.SITTING, Activity.SIT), night - 3600.0)
    s, a = readings(asleep, night), readings(awake, night)
    assert np.median(a["hr"] - s["hr"]) > 5
    assert np.median(a["sbp"] - s["sbp"]) > 8
    assert np.median(a["temp"] - s["temp"]) > 0


def test_walking_raises_heart_and_breathing_rate_and_counts_steps() -> None:
    walking, sitting = make_body(), make_body()
    settle(walking, behaving(Posture.WALKING, Activity.OUT, True), T0 + 10 * 3600, 600.0)
    settle(sitting, behaving(Posture.SITTING, Activity.SIT), T0 + 10 * 3600, 600.0)
    w, s = readings(walking, T0 + 10.2 * 3600), readings(sitting, T0 + 10.2 * 3600)
    assert np.median(w["hr"] - s["hr"]) > 12
    assert np.median(w["rr"] - s["rr"]) > 3
    assert np.all(w["steps"] > 800) and np.all(s["steps"] == 0)  # about 100 steps a minute for 10 minutes


def test_readings_are_plausible_and_rounded_like_devices() -> None:
    body = make_body()
    values = readings(body, T0 + 12 * 3600.0)
    for metric in ("hr", "spo2", "rr", "sbp", "dbp", "temp"):
        m = METRIC_BY_NAME[metric]
        assert np.all((values[metric] >= m.low) & (values[metric] <= m.high)), metric
    assert np.all(values["hr"] == np.round(values["hr"])) and np.all(values["spo2"] <= 100)
    assert np.all(values["temp"] * 10 == np.round(values["temp"] * 10))


def test_atrial_fibrillation_scatters_heart_rate() -> None:
    world = build_world("home", N, 1, seed=1)
    body = Body(world, np.random.default_rng(1), np.zeros(N))
    af = np.array([ATRIAL_FIBRILLATION in r.conditions for r in world.residents])
    hr = np.array([body.vitals(T0 + k * 5.0, np.arange(N))[:, 0] for k in range(40)])  # 40 readings, 5 s apart
    spread = hr.std(axis=0)
    assert af.sum() >= 5 and np.median(spread[af]) > 2 * np.median(spread[~af])


def test_circadian_temperature_lowest_before_dawn() -> None:
    body = make_body()
    b = behaving(Posture.SITTING, Activity.SIT)
    settle(body, b, T0, 600.0)
    early = np.median(readings(body, T0 + 4.5 * 3600)["temp"])
    evening = np.median(readings(body, T0 + 17 * 3600)["temp"])
    assert evening - early > 0.3


def test_motion_artefacts_only_while_walking_and_error_codes_are_implausible() -> None:
    rng = np.random.default_rng(1)
    values = np.tile([70.0, 96.0, 16.0, 130.0, 80.0, 36.6, 0.0], (5000, 1))
    walking = np.arange(5000) < 2500
    hit = motion_artefacts(values, walking, np.full(5000, 1.6), rng)
    assert hit.size and np.all(hit < 2500) and 0.01 < hit.size / 2500 < 0.03
    assert np.all(values[2500:, 0] == 70.0)
    for metric in ("hr", "spo2", "rr", "sbp", "dbp", "temp"):
        m = METRIC_BY_NAME[metric]
        assert error_codes(metric) and all(not m.low <= c <= m.high for c in error_codes(metric))
    garble(values, np.arange(3), rng)
    for i, metric in enumerate(("hr", "spo2", "rr", "sbp", "dbp", "temp")):
        m = METRIC_BY_NAME[metric]
        assert not np.any((values[:3, i] >= m.low) & (values[:3, i] <= m.high)), metric


def test_accelerometer_shows_gravity_of_the_posture_and_gait() -> None:
    rng = np.random.default_rng(1)
    accel = Accelerometer(4, rng, np.full(4, 1.6))
    offsets = np.arange(25) / 25.0
    rows = np.arange(4)
    posture = np.array([Posture.LYING, Posture.SITTING, Posture.STANDING, Posture.WALKING])
    for _ in range(3):  # settle past the posture transition
        block = accel.block(rows, offsets, posture, np.zeros(4, np.int64), np.zeros(4, bool))
    mean = block.mean(axis=1)
    np.testing.assert_allclose(mean[:3], gravity(posture[:3], np.zeros(3, np.int64)), atol=0.05)
    magnitude = np.linalg.norm(block, axis=2)
    assert magnitude[3].std() > 0.1 and magnitude[3].max() < 2.0  # gait: clear oscillation, far from an impact
    assert magnitude[:3].std(axis=1).max() < 0.06
    mounted = accel.mount(rows, block)
    np.testing.assert_allclose(np.linalg.norm(mounted, axis=2), magnitude, rtol=1e-9)


def test_fall_pattern_has_impact_turn_and_stillness() -> None:
    rate = 50.0
    tau = np.arange(-100, 200) / rate
    xyz = fall_pattern(tau, rate, UPRIGHT, LYING_SIDES[1], 4.2, 0.8, 0.4, np.random.default_rng(1))
    assert np.all(np.isnan(xyz[tau < -0.8]))
    magnitude = np.linalg.norm(xyz, axis=1)
    assert np.nanmax(magnitude) == 4.2 and tau[np.nanargmax(magnitude)] == 0.0
    assert np.nanmin(magnitude[(tau > -0.8) & (tau < 0)]) < 0.7  # partial free fall
    after = xyz[tau >= 1.0]
    assert np.linalg.norm(after, axis=1).std() < 0.05
    tilt = np.degrees(np.arccos(np.dot(after.mean(axis=0) / np.linalg.norm(after.mean(axis=0)), UPRIGHT)))
    assert tilt > 45
