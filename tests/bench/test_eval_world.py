"""The evaluation's settling-in review (bench/eval_world.py): a small world's simulated days of history, reviewed
with carewatch's own review, every suggestion stored as the clinician's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench.eval_world import CLINICIAN, DAY_S, settle_in, write_history
from carewatch.registry import apply_manifest
from carewatch.storage.sqlite import SqliteStore
from simulators.floorplans import build_world
from simulators.world import World

HEALTHY = {"hr": 70.0, "spo2": 97.0, "rr": 15.0, "sbp": 125.0, "dbp": 75.0, "temp": 36.6}
COPD = {**HEALTHY, "spo2": 87.0, "rr": 22.0}  # scale 2 on oxygen: about 84 % asleep, respiration 2 points, oxygen 2
START = 1_764_374_400.0  # 2025-11-29 00:00 UTC
DAYS = 4.0  # the review needs its windows spread over 3 days


def _world(*residents: tuple[int, bool, dict[str, float]]) -> World:
    world = build_world("home", len(residents), 1, 3)
    people = tuple(replace(r, spo2_scale=scale, on_oxygen=oxygen, baseline=baseline, conditions=frozenset())
                   for r, (scale, oxygen, baseline) in zip(world.residents, residents, strict=True))  # fmt: skip
    return replace(world, residents=people)


def test_the_review_of_the_history_is_accepted_for_the_residents_who_need_it(tmp_path: Path) -> None:
    world = _world((2, True, COPD), (1, False, HEALTHY))
    copd, healthy = (r.resident_id for r in world.residents)
    store = SqliteStore(tmp_path / "eval.db")
    store.init_schema()
    try:
        apply_manifest(store, world.manifest())
        write_history(store, world, START, START + DAYS * DAY_S, seed=5)
        reviews = {v.resident_id: v for v in settle_in(store, world, START, START + DAYS * DAY_S)}
        assert set(reviews) == {copd, healthy}
        assert not reviews[healthy].changes
        assert store.thresholds(healthy) == [] and store.news2_escalation(healthy) is None
        spo2 = {t.metric: t for t in store.thresholds(copd)}["spo2"]
        assert spo2.low is not None and spo2.low < 86.0  # below scale 2's default limit
        assert spo2.updated_by == CLINICIAN and spo2.updated_at == START + DAYS * DAY_S
        escalation = store.news2_escalation(copd)
        assert escalation is not None and escalation.set_by == CLINICIAN
        assert escalation.urgent_from > 5 and escalation.reason == reviews[copd].news2.reason  # type: ignore[union-attr]
    finally:
        store.close()
