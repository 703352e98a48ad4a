"""Synthetic falls look like real waist-worn falls: the alert core's FallDetector (alerts/falls.py, tuned on SisFall)
finds every simulated fall, long lie and faint, and nothing in simulated normal life, artefacts included."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from alerts.falls import FallDetector
from simulators.capture import Capture
from simulators.floorplans import build_world
from simulators.runner import Simulation
from simulators.scenarios.base import Incident
from simulators.scenarios.devices import ArtefactBurst
from simulators.scenarios.falls import Fall, Syncope
from simulators.world import World

T0 = 1_764_374_400.0  # 2025-11-29 00:00:00 UTC
H = 3600.0
Simulate = Callable[..., tuple[Simulation, Capture]]


def detect(world: World, captured: Capture) -> list[tuple[str, float]]:
    """(resident id, impact time) of every fall the detector finds in the published accelerometer stream."""
    index = {r.wearable_id: i for i, r in enumerate(world.residents)}
    detector = FallDetector(len(world.residents))
    blocks = captured.decoded("motion")
    found: list[tuple[str, float]] = []
    for first in range(0, len(blocks), 500):  # batches, as ingest would commit them
        batch = blocks[first : first + 500]
        events = detector.process_blocks(
            np.array([index[t.split("/")[3]] for t, _ in batch]), np.array([b["ts"] for _, b in batch]),
            np.array([b["rate_hz"] for _, b in batch]), [np.array([b["x"], b["y"], b["z"]]).T for _, b in batch],
        )  # fmt: skip
        found += [(world.residents[r].resident_id, ts) for r, ts in zip(events.resident, events.impact_ts, strict=True)]
    return found


@pytest.mark.parametrize("rate_hz", [25.0, 50.0])
def test_synthetic_falls_are_detected_and_nothing_else(simulate: Simulate, rate_hz: float) -> None:
    world = build_world("home", 8, 1, seed=13)
    start = T0 + 9.5 * H
    ids = [r.resident_id for r in world.residents]
    incidents: list[Incident] = [
        Fall.at(ids[0], start + 200.37, 120.0, peak_g=2.9, side=0, device_reports=True, seed=1),
        Fall.at(ids[1], start + 310.0, 25 * 60.0, peak_g=5.5, side=2, device_reports=False, seed=2),
        Fall.at(ids[2], start + 420.6, 90.0, peak_g=4.0, side=3, seed=3),
        Syncope.faint(ids[3], start + 530.1, 150.0, peak_g=2.8, side=1, seed=4),
        ArtefactBurst.at(ids[4], start + 100.0, 600.0, seed=5),
    ]
    _, captured = simulate(world, incidents, start, 1200.0, motion_hz=rate_hz)
    found = detect(world, captured)
    falls = [(i.truth.resident_id, i.truth.start) for i in incidents if i.truth.expected_rule.startswith("fall")]
    assert sorted(r for r, _ in found) == sorted(r for r, _ in falls)
    for resident, impact in falls:
        assert any(r == resident and abs(ts - impact) <= 1 / rate_hz for r, ts in found)
    reported = captured.events(world.residents[0].wearable_id, "fall")
    assert reported == [(start + 203.37, 1)]  # the device's own detection, seconds after the impact
    assert not captured.events(world.residents[1].wearable_id, "fall")


def test_a_long_lie_is_still_for_the_room_sensors(simulate: Simulate) -> None:
    world = build_world("home", 2, 1, seed=13)
    impact = T0 + 10 * H
    site = world.residents[0].site_id
    incident = Fall.at(world.residents[0].resident_id, impact, 30 * 60.0, seed=1)
    assert (incident.truth.scenario, incident.truth.expected_rule) == ("fall_long_lie", "fall_long_lie")
    _, captured = simulate(world, [incident], impact - 120, 40 * 60.0, tick_s=1.0)
    motion = [d.device_id for d in world.devices if d.site_id == site and d.kind == "motion"]
    moved = [ts for d in motion for ts, v in captured.events(d) if v == 1 and impact + 5 <= ts < impact + 30 * 60]
    assert moved == []
    assert not [v for ts, v in captured.events(f"{site}-living_room-chair") if v == 1 and impact < ts < impact + 1800]


@pytest.mark.parametrize("hour", [7.0, 21.5])
def test_normal_life_is_not_a_fall(simulate: Simulate, hour: float) -> None:
    """Getting up, washing, sitting down, walking about (morning); going to bed, lying down (evening)."""
    world = build_world("home", 12, 1, seed=17)
    _, captured = simulate(world, (), T0 + hour * H, 1800.0, motion_hz=25.0)
    postures = {b["y"][0] < -0.8 for _, b in captured.decoded("motion")}
    assert postures == {True, False}  # both upright and reclined or lying samples were seen
    beds = [d.device_id for d in world.devices if d.kind == "bed"]
    assert any(captured.events(bed)[1:] for bed in beds)  # someone got up, or went to bed
    assert detect(world, captured) == []


ROOM_ACTIVITY = ("motion", "bathroom", "bed", "chair", "door")


def test_a_fallen_resident_stays_where_they_fell(simulate: Simulate) -> None:
    """Lying on the floor, the resident is in no other room: no room sensor of the home sees them move, enter the
    bathroom or sit down (which the long-lie rule would take for recovery), whatever the routine had planned."""
    world = build_world("home", 4, 1, seed=13)
    start = T0 + 6.5 * H
    incidents: list[Incident] = [
        Fall.at(r.resident_id, start + (0.5 + 0.75 * k) * H, 40 * 60.0, peak_g=4.0, side=k % 4, seed=k)
        for k, r in enumerate(world.residents)
    ]  # from 07:00 to 10:55: getting up, breakfast, toilet visits
    _, captured = simulate(world, incidents, start, 4.5 * H, vitals_s=60.0)
    for incident in incidents:
        site = world.resident(incident.truth.resident_id).site_id
        sensors = [d.device_id for d in world.devices if d.site_id == site and d.kind in ROOM_ACTIVITY]
        seen = [
            (device, ts)
            for device in sensors
            for kind in ROOM_ACTIVITY
            for ts, value in captured.events(device, kind)
            if value == 1 and incident.truth.start + 5.0 <= ts < incident.truth.end
        ]
        assert seen == [], f"{incident.truth.resident_id} seen while lying on the floor: {seen[:3]}"
