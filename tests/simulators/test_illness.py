"""Tests of the acute-illness scenarios (simulators/scenarios/illness.py): the readings reach what the library's
recipes promise, the resident rests, and each scenario's expected rule fires when its readings go through the real
alert engine under the default limits."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from alerts.engine import AlertEngine
from alerts.rules import default_rules
from carewatch.model import Batch, DeadLetter, EventRow, ReadingRow
from carewatch.registry import Registry, apply_manifest
from carewatch.storage.sqlite import SqliteStore
from ingest.decode import decode
from simulators.capture import Capture
from simulators.floorplans import build_world
from simulators.runner import Simulation
from simulators.scenarios.base import Incident
from simulators.scenarios.illness import Hypotension, Sepsis, Tachypnoea
from simulators.scenarios.library import make_incident
from simulators.world import World

T0 = 1_764_374_400.0  # 2025-11-29 00:00:00 UTC
H = 3600.0
ILLNESSES = ("sepsis", "hypotension", "tachypnoea")
Simulate = Callable[..., tuple[Simulation, Capture]]


@pytest.fixture(scope="module")
def world() -> World:
    return build_world("home", 3, 1, seed=21)


def within(samples: list[tuple[float, float]], lo: float, hi: float) -> list[float]:
    return [v for ts, v in samples if lo <= ts < hi]


def test_the_readings_reach_the_plateaus_then_recover(simulate: Simulate, world: World) -> None:
    start = T0 + 10 * H
    a, b, c = (r.resident_id for r in world.residents)
    incidents = [Sepsis(Sepsis.truth_of(a, start, 1.5 * H), rr=24, sbp=95, hr=100, temp_c=38.4, spo2_drop=2,
                        confused=True),
                 Hypotension(Hypotension.truth_of(b, start, H), sbp=84, hr_rise=10),
                 Tachypnoea(Tachypnoea.truth_of(c, start, H), rr=28, spo2_drop=3)]  # fmt: skip
    _, captured = simulate(world, incidents, start - 600, 2.5 * H, tick_s=5.0, artefacts=False, drop_p=0.0)
    septic, low, fast = (r.wearable_id for r in world.residents)

    def plateau(device: str, metric: str, end: float) -> list[float]:
        """The readings of the plateau (from the end of the slowest ramp, sepsis's 30 minutes)."""
        return within(captured.readings(device, metric), start + 1800, end)

    septic_end = start + 1.5 * H
    for device, metric, end, lo, hi in [(septic, "rr", septic_end, 22, 26), (septic, "sbp", septic_end, 91, 99),
                                        (septic, "hr", septic_end, 96, 104), (septic, "temp", septic_end, 38.4, 38.4),
                                        (septic, "avpu", septic_end, 1, 1), (low, "sbp", start + H, 80, 88),
                                        (fast, "rr", start + H, 26, 30)]:  # fmt: skip
        values = plateau(device, metric, end)
        assert values and min(values) >= lo and max(values) <= hi, (metric, min(values), max(values))
    dbp, sbp = (within(captured.readings(low, m), start, start + H) for m in ("dbp", "sbp"))
    assert all(d < s for d, s in zip(dbp, sbp, strict=True))
    after = start + 1.5 * H + 600
    assert np.median(within(captured.readings(septic, "rr"), after, start + 2.5 * H)) <= 20
    assert np.median(within(captured.readings(low, "sbp"), after, start + 2.5 * H)) >= 100
    assert np.median(within(captured.readings(fast, "rr"), after, start + 2.5 * H)) <= 20


def test_the_unwell_resident_rests(simulate: Simulate, world: World) -> None:
    """No step during the incident, whatever the routine planned (an outing, cooking, a night toilet visit)."""
    starts = [T0 + 2 * H, T0 + 9 * H, T0 + 17 * H]
    incidents = [
        Tachypnoea(Tachypnoea.truth_of(r.resident_id, s, 2 * H)) for r, s in zip(world.residents, starts, strict=True)
    ]
    _, captured = simulate(world, incidents, T0, 20 * H, tick_s=5.0, vitals_s=60.0, status_s=300.0,
                           climate_s=300.0, heartbeat_s=3600.0)  # fmt: skip
    for resident, start in zip(world.residents, starts, strict=True):
        steps = captured.readings(resident.wearable_id, "steps")
        during = within(steps, start + 60, start + 2 * H)
        assert during and len(set(during)) == 1
    assert any(len(set(within(captured.readings(r.wearable_id, "steps"), T0 + 7 * H, T0 + 20 * H))) > 3
               for r in world.residents)  # fmt: skip


@pytest.mark.parametrize("name", ILLNESSES)
def test_every_library_draw_keeps_its_readings_past_the_expected_rules_limit(world: World, name: str) -> None:
    """Each recipe's plateau lies far enough past its rule's limit that no reading's scatter crosses back."""
    for seed in range(200):
        incident = make_incident(name, world, world.residents[0].resident_id, T0, seed=seed)
        if isinstance(incident, Sepsis):
            assert 23 <= incident.rr <= 32 and 85 <= incident.sbp <= 96 and 95 <= incident.hr <= 125
            assert 38.2 <= incident.temp_c <= 39.5 or 35.2 <= incident.temp_c <= 35.9
            assert incident.truth.end - incident.truth.start >= H
        elif isinstance(incident, Hypotension):
            assert 70 <= incident.sbp <= 85
        else:
            assert isinstance(incident, Tachypnoea) and 27 <= incident.rr <= 35


def test_a_hypotension_falls_at_least_20_mmhg_under_a_low_resting_pressure() -> None:
    """A plateau drawn at 84 is no incident for a resident who sleeps at 88: the pressure falls 20 mmHg under theirs
    (seed 17 of the evaluation scored such a truth as a miss); a resident at 130 falls to the drawn plateau."""
    incident = Hypotension(Hypotension.truth_of("r1", T0, H), sbp=84, hr_rise=10, seed=3)
    for own, lo, hi in [(88.0, 64, 72), (130.0, 80, 88)]:
        values = {"sbp": own, "dbp": own * 0.6, "hr": 60.0}
        plateau = [incident.unwell(T0 + 600 + 5 * k, 1.0, values)["sbp"] for k in range(100)]
        assert lo <= min(plateau) and max(plateau) <= hi, (own, min(plateau), max(plateau))


def alerts_raised(world: World, incidents: list[Incident], start: float, duration_s: float,
                  tmp_path: Path) -> list[tuple[str, str, float]]:  # fmt: skip
    """(resident, rule, opened_at) of every alert the default rules raise on the simulated run, its messages decoded
    by ingest and committed to the engine a minute of data at a time."""
    store = SqliteStore(tmp_path / "registry.db")
    store.init_schema()
    apply_manifest(store, world.manifest())
    registry = Registry.load(store)
    engine = AlertEngine(default_rules())
    engine.population.refresh_offsets(start)
    engine.add_residents(store.residents(), store.sites(), store.devices())
    store.close()
    readings: list[ReadingRow] = []
    events: list[EventRow] = []

    def publish(topic: str, payload: bytes) -> None:
        item = decode(topic, payload, start + duration_s, registry)
        assert not isinstance(item, DeadLetter), item
        readings.extend(item.readings)
        events.extend(item.events)

    Simulation(world, incidents, publish, 1).run(start, duration_s, math.inf)
    raised = []
    for lo in np.arange(start, start + duration_s, 60.0).tolist():
        batch = Batch([r for r in readings if lo <= r.ts < lo + 60], [e for e in events if lo <= e.ts < lo + 60], [])
        drafts, _ = engine.process(batch)
        ticked, _ = engine.tick(lo + 60)
        raised += [(d.resident_id, d.rule, d.opened_at) for d in drafts + ticked]
    return raised


@pytest.mark.parametrize("hour", [2.0, 10.0, 16.0])
def test_each_illness_raises_its_expected_rule_under_the_default_limits(tmp_path: Path, hour: float) -> None:
    """Three residents each of sepsis, hypotension and tachypnoea as the library draws them, at night (asleep) and
    in the day (up and about until the incident): each raises its ground truth's expected rule within the
    incident (or, for NEWS2's urgent level, its emergency level, which holds the urgent alert back), and no rule the
    truth does not name."""
    world = build_world("home", 9, 1, seed=int(hour))
    start = T0 + hour * H
    incidents = [make_incident(ILLNESSES[k % 3], world, r.resident_id, start + 300, seed=k + int(hour))
                 for k, r in enumerate(world.residents)]  # fmt: skip
    raised = alerts_raised(world, incidents, start, 3.5 * H, tmp_path)
    for incident in incidents:
        truth = incident.truth
        mine = [(rule, at) for who, rule, at in raised if who == truth.resident_id and truth.start <= at < truth.end]
        assert set(truth.found_by) & {rule for rule, _ in mine}, (truth, mine)
        assert {rule for rule, _ in mine} <= {truth.expected_rule, *truth.also}, (truth, mine)
