"""The evaluation's settling-in review (bench/eval_world.py): a small world's simulated days of history, reviewed
with carewatch's own review, every suggestion stored as the clinician's; the probe of the changed residents."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path

import pytest

from alerts.review import LimitReview, LimitSuggestion
from bench.eval_scenarios import Plan, evaluate
from bench.eval_world import (
    CLINICIAN,
    DAY_S,
    HISTORY_DAYS,
    HISTORY_STREAMS,
    PROBE_SCENARIOS,
    cohorts,
    merged,
    probe,
    settle_in,
    write_history,
)
from carewatch.model import EventRow
from carewatch.registry import Registry, apply_manifest
from carewatch.storage.base import ThresholdContext
from carewatch.storage.sqlite import SqliteStore
from ingest.decode import decode
from simulators.floorplans import build_world
from simulators.runner import Simulation
from simulators.world import World

HEALTHY = {"hr": 70.0, "spo2": 97.0, "rr": 15.0, "sbp": 125.0, "dbp": 75.0, "temp": 36.6}
COPD = {**HEALTHY, "spo2": 87.0, "rr": 22.0}  # scale 2 on oxygen: about 84 % asleep, respiration 2 points, oxygen 2
FIT_SLEEPER = {**HEALTHY, "hr": 48.0}  # about 40 in deep sleep (simulators.physiology: -8)
START = 1_764_374_400.0  # 2025-11-29 00:00 UTC
DAYS = 4.0  # the review needs its windows spread over 3 days


def _world(*residents: tuple[int, bool, dict[str, float]]) -> World:
    world = build_world("home", len(residents), 1, 3)
    people = tuple(replace(r, spo2_scale=scale, on_oxygen=oxygen, baseline=baseline, conditions=frozenset())
                   for r, (scale, oxygen, baseline) in zip(world.residents, residents, strict=True))  # fmt: skip
    return replace(world, residents=people)


def test_the_review_of_the_history_is_accepted_for_the_residents_who_need_it(tmp_path: Path) -> None:
    world = _world((2, True, COPD), (1, False, HEALTHY), (1, False, FIT_SLEEPER))
    copd, healthy, sleeper = (r.resident_id for r in world.residents)
    store = SqliteStore(tmp_path / "eval.db")
    store.init_schema()
    try:
        apply_manifest(store, world.manifest())
        write_history(store, world, START, START + DAYS * DAY_S, seed=5)
        reviews = {v.resident_id: v for v in settle_in(store, world, START, START + DAYS * DAY_S)}
        assert set(reviews) == {copd, healthy, sleeper}
        assert not reviews[healthy].changes
        assert store.thresholds(healthy) == [] and store.news2_escalation(healthy) is None
        stored = {(t.metric, t.context): t for t in store.thresholds(copd)}
        spo2_limits = {context: t for (metric, context), t in stored.items() if metric == "spo2"}
        assert ThresholdContext.IN_BED in spo2_limits  # lower asleep: a limit for the time in bed
        for context, spo2 in spo2_limits.items():
            assert spo2.low is not None and spo2.low < 86.0  # below scale 2's default limit
            assert spo2.updated_by == CLINICIAN and spo2.updated_at == START + DAYS * DAY_S
            [spo2_low] = [s for s in reviews[copd].thresholds if (s.rule, s.context) == ("spo2_low", context)]
            assert spo2.reason == reviews[copd].documented(spo2_low.reason)  # the modelled clinician's: the review's
        changes = [c for c in store.threshold_changes(copd) if c.metric == "spo2"]
        assert sorted((c.context, c.threshold) for c in changes) == sorted(spo2_limits.items())
        # The fit sleeper's pulse is low asleep only: hr_low moves for the time in bed, not for the day.
        assert [(t.metric, t.context) for t in store.thresholds(sleeper)] == [("hr", ThresholdContext.IN_BED)]
        escalation, suggested = store.news2_escalation(copd), reviews[copd].news2
        assert escalation is not None and suggested is not None and escalation.set_by == CLINICIAN
        assert escalation.urgent_from > 5 and escalation.reason == reviews[copd].documented(suggested.reason)
    finally:
        store.close()


def test_the_probe_plans_each_vital_sign_incident_on_the_changed_residents_only() -> None:
    world = build_world("home", 4, 1, 3)
    changed, unchanged = world.residents[1].resident_id, world.residents[2].resident_id
    suggestion = LimitSuggestion("spo2_low", "spo2", "low", 86.0, 83.0, 85.0, "usual 85 %")
    reviews = [LimitReview(changed, 0.0, 1.0, 300, (suggestion,), None),
               LimitReview(unchanged, 0.0, 1.0, 300, (), None)]  # fmt: skip
    incidents = probe(world, reviews, START, 2 * DAY_S, seed=1)
    assert sorted(i.truth.scenario for i in incidents) == sorted(PROBE_SCENARIOS)
    assert {i.truth.resident_id for i in incidents} == {changed}
    assert all(START <= i.truth.start < START + 2 * DAY_S for i in incidents)


def test_the_probe_needs_the_review(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs the review"):
        evaluate(Plan(probe=True, review=False), "mqtt://127.0.0.1:1", "postgresql://127.0.0.1:1/x", tmp_path)


def test_runs_of_different_seeds_share_no_resident() -> None:
    """Each seed is a fresh population: seeds 17 and 20 once drew the same cohort (a pulse baseline of 45.7 in both)."""
    from simulators.scenarios.library import SCENARIOS

    profiles = [
        {(r.baseline["hr"], r.baseline["sbp"]) for r in merged(cohorts(36, seed, SCENARIOS)).residents}
        for seed in range(15, 21)
    ]
    for a, b in itertools.combinations(profiles, 2):
        assert not a & b


def test_the_live_days_are_not_replays_of_the_history(tmp_path: Path) -> None:
    """The history and the live run of one seed draw their days apart: with the run's seed for both, the live run's
    first day repeated the history's first (the same getting up, the same outings: every bed and door event at the
    same time of day), a day the learned profiles had seen."""
    world = build_world("home", 3, 1, 3)
    store = SqliteStore(tmp_path / "eval.db")
    store.init_schema()
    try:
        apply_manifest(store, world.manifest())
        write_history(store, world, START, START + DAY_S, seed=5)
        history = [e for e in store.replay_batch(START, START + DAY_S).events if e.kind in ("bed", "door")]
        registry = Registry.load(store)
    finally:
        store.close()
    live_start = START + HISTORY_DAYS * DAY_S
    live: list[EventRow] = []

    def publish(topic: str, payload: bytes) -> None:
        item = decode(topic, payload, live_start + DAY_S, registry)
        live.extend(e for e in getattr(item, "events", ()) if e.kind in ("bed", "door"))

    Simulation(world, [], publish, 5, streams=HISTORY_STREAMS).run(live_start, DAY_S, math.inf)

    def day(events: list[EventRow], start: float) -> set[tuple[str, int, float]]:
        return {(e.device_id, round(e.ts - start), e.value) for e in events}

    assert len(history) > 10 and len(live) > 10
    shared = day(history, START) & day(live, live_start)
    assert len(shared) < len(history) / 4, f"{len(shared)} of {len(history)} history events recur in the live day"
