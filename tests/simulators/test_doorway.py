"""Tests of how people cross the front door: through the hall, as a real home's sensors show it (the alert core
reads a front-door change with no activity inside after it as the resident going out, docs/rules.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from simulators.capture import Capture
from simulators.floorplans import build_world
from simulators.runner import Simulation
from simulators.scenarios.behaviour import NoActivity
from simulators.visitors import CLEAR_S
from simulators.world import World

T0 = 1_764_374_400.0  # 2025-11-29 00:00:00 UTC, a home in UTC
H = 3600.0
Simulate = Callable[..., tuple[Simulation, Capture]]
INSIDE = ("motion", "bed", "chair", "bathroom")  # the room sensors but the front door
COARSE = {"tick_s": 5.0, "vitals_s": 60.0, "status_s": 300.0, "climate_s": 300.0, "heartbeat_s": 300.0}


def home(out_prob: float, visit_prob: float) -> World:
    world = build_world("home", 1, 1, seed=3)
    habits = replace(world.residents[0].habits, out_prob=out_prob, visit_prob=visit_prob)
    return replace(world, residents=(replace(world.residents[0], habits=habits),))


def door(captured: Capture, world: World) -> list[float]:
    """When the front door changed (not its first report, of its state at the start)."""
    return [ts for ts, _ in captured.events(f"{world.sites[0].site_id}-hall-door", "door")][1:]


def inside(captured: Capture, world: World) -> list[tuple[float, str]]:
    """Activity inside: (ts, device) of every room sensor's change but the front door's, motion only when seen."""
    return sorted((ts, d.device_id) for d in world.devices if d.kind in INSIDE
                  for ts, v in captured.events(d.device_id) if d.kind != "motion" or v >= 0.5)  # fmt: skip


def test_an_incident_that_starts_while_the_resident_is_out_brings_them_in_through_the_hall(
    simulate: Simulate,
) -> None:
    world = home(out_prob=1.0, visit_prob=0.0)
    _, day = simulate(world, (), T0 + 6 * H, 14 * H, **COARSE)
    leave, back = door(day, world)[0], door(day, world)[2]  # out (open, shut), back (open, shut): nobody else calls
    assert back - leave > 30 * 60
    start = leave + (back - leave) / 2
    _, captured = simulate(world, [NoActivity.at(world.residents[0].resident_id, start, H)], T0 + 6 * H, 14 * H,
                           **COARSE)  # fmt: skip
    home_again = next(ts for ts in door(captured, world) if ts > start - COARSE["tick_s"])  # the tick holding start
    assert home_again < start + 10
    seen = [device for ts, device in inside(captured, world) if home_again <= ts < start + 60]
    assert seen[:2] == [f"{world.sites[0].site_id}-hall-motion", f"{world.sites[0].site_id}-living_room-chair"]


def test_a_visitor_leaves_through_the_hall_before_an_incident_alone_and_the_resident_is_seen_inside_after(
    simulate: Simulate,
) -> None:
    world = home(out_prob=0.0, visit_prob=1.0)
    rid = world.residents[0].resident_id
    baseline, _ = simulate(world, (), T0 + 6 * H, 14 * H, **COARSE)
    visit = next(t for t in baseline.ground_truth() if t.scenario == "visitor")
    start = (visit.start + visit.end) / 2  # the resident must be alone from the middle of the visit
    simulation, captured = simulate(world, [NoActivity.at(rid, start, H)], T0 + 6 * H, 14 * H, **COARSE)
    cut = next(t for t in simulation.ground_truth() if t.scenario == "visitor")
    assert cut.start == visit.start and cut.end == start - CLEAR_S  # the visit ends before the incident
    changes = door(captured, world)
    out = next(ts for ts in changes if ts >= cut.end - 10)
    assert out < cut.end + 10
    hall = [ts for ts, device in inside(captured, world) if device.endswith("-hall-motion")]
    assert any(cut.end - 60 <= ts <= out for ts in hall)  # the visitor walked through the hall to the door
    last_door = max(ts for ts in changes if ts < start)
    assert last_door < cut.end + 15  # nobody crossed the door after the visitor: no teleport at the incident's start
    assert any(last_door < ts < start for ts, _ in inside(captured, world))  # the resident stays in, and is seen
