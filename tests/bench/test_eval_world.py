"""The evaluation's care plans (bench/eval_world.py): individualised NEWS2 escalations for scale-2 residents."""

from __future__ import annotations

from dataclasses import replace

from bench.eval_world import care_plans
from simulators.floorplans import build_world
from simulators.world import World

HEALTHY = {"hr": 70.0, "spo2": 97.0, "rr": 15.0, "sbp": 125.0, "dbp": 75.0, "temp": 36.6}


def _world(*residents: tuple[int, bool, dict[str, float]]) -> World:
    world = build_world("home", len(residents), 1, 3)
    people = tuple(replace(r, spo2_scale=scale, on_oxygen=oxygen, baseline=baseline)
                   for r, (scale, oxygen, baseline) in zip(world.residents, residents, strict=True))  # fmt: skip
    return replace(world, residents=people)


def test_a_scale_2_resident_whose_usual_score_is_raised_gets_an_escalation_two_above_it() -> None:
    copd = {**HEALTHY, "spo2": 88.5, "rr": 22.0, "hr": 95.0}  # RR 2, oxygen 2, HR 1: usual NEWS2 5
    world = _world((2, True, copd), (2, False, {**copd, "hr": 80.0}), (1, False, HEALTHY))
    plans = care_plans(world, 100.0)
    assert [(p.resident_id, p.urgent_from, p.emergency_from, p.red_score) for p in plans] == [
        (world.residents[0].resident_id, 7, 9, True)
    ]  # the second (usual 2 on air) keeps the RCP's levels, the third is on scale 1
    assert "usual NEWS2 5" in plans[0].reason and plans[0].set_at == 100.0
