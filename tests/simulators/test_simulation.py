"""Tests of simulators.runner.Simulation: determinism, every payload per docs/protocol.md, the original API, room
sensors, batteries and the ground-truth log."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from carewatch.catalog import EVENT_KINDS, METRIC_BY_NAME
from simulators.artefacts import DEVICE_ERROR_CODES
from simulators.capture import Capture
from simulators.floorplans import build_world
from simulators.population import make_population
from simulators.reports import Streams
from simulators.runner import Simulation
from simulators.scenarios.behaviour import NoActivity
from simulators.scenarios.home import HeatWave
from simulators.scenarios.hypoxia import Hypoxia
from simulators.scenarios.library import plan_incidents
from simulators.world import World

T0 = 1_764_374_400.0  # 2025-11-29 00:00:00 UTC; the simulated sites are on UTC
Simulate = Callable[..., tuple[Simulation, Capture]]
TOPIC = re.compile(r"carewatch/v1/([A-Za-z0-9_.-]{1,64})/([A-Za-z0-9_.-]{1,64})/(vitals|motion|event|status)")


def mixed_world() -> World:
    return World.merge([build_world("home", 3, 1, 2), build_world("home", 2, 2, 3, zigbee=True, prefix="zb"),
                        build_world("care_institution", 1, 6, 4, prefix="ci")])  # fmt: skip


def test_same_seed_same_bytes_whatever_the_pacing(simulate: Simulate) -> None:
    world = mixed_world()
    incidents = plan_incidents(world, T0 + 8 * 3600, 1800.0, seed=3)
    _, first = simulate(world, incidents, T0 + 8 * 3600, 300.0, seed=7, motion_hz=25)
    _, again = simulate(world, incidents, T0 + 8 * 3600, 300.0, seed=7, motion_hz=25)
    assert first.messages == again.messages and len(first.messages) > 2000
    stepped = Capture()
    simulation = Simulation(world, incidents, stepped, 7, streams=Streams(motion_hz=25))
    for k in range(300):
        simulation.step(T0 + 8 * 3600 + k)
    assert stepped.messages == first.messages
    _, other = simulate(world, incidents, T0 + 8 * 3600, 300.0, seed=8, motion_hz=25)
    assert other.messages != first.messages


def test_every_message_follows_the_protocol(simulate: Simulate) -> None:
    world = mixed_world()
    start, duration = T0 + 7 * 3600, 1200.0
    incidents = plan_incidents(world, start, duration, seed=1, names=("artefact_burst", "hypoxia", "sos", "smoke"))
    simulation, captured = simulate(world, incidents, start, duration, motion_hz=25)
    devices = {d.device_id: d for d in world.devices}
    friendly = {d.friendly_name for d in world.devices if d.friendly_name}
    last_seq: dict[str, int] = defaultdict(int)
    last_ts: dict[str, float] = defaultdict(float)
    streams = defaultdict(int)
    for topic, payload in captured.messages:
        if topic.startswith("zigbee2mqtt/"):
            assert topic.removeprefix("zigbee2mqtt/") in friendly
            continue
        match = TOPIC.fullmatch(topic)
        assert match, topic
        site, device, stream = match.groups()
        assert devices[device].site_id == site
        body = json.loads(payload)
        assert start <= body["ts"] < start + duration + 1 and isinstance(body["seq"], int)
        assert body["seq"] > last_seq[device] and body["ts"] >= last_ts[device]  # numbered, in order
        last_seq[device], last_ts[device] = body["seq"], body["ts"]
        streams[stream] += 1
        if stream in ("vitals", "status"):
            assert body["readings"]
            for r in body["readings"]:
                metric = METRIC_BY_NAME[r["metric"]]
                assert metric.stream.value == stream and r["unit"] == metric.unit and math.isfinite(r["value"])
                assert metric.low <= r["value"] <= metric.high or r["value"] in DEVICE_ERROR_CODES
        elif stream == "event":
            assert all(e["kind"] in EVENT_KINDS and e["value"] in (0, 1) for e in body["events"])
        else:
            assert body["unit"] == "g" and body["rate_hz"] == 25
            assert len(body["x"]) == len(body["y"]) == len(body["z"]) == 25
            assert max(map(abs, body["x"] + body["y"] + body["z"])) < 16
    assert set(streams) == {"vitals", "status", "event", "motion"}
    assert simulation.published == len(captured.messages)


def test_the_original_api_still_works(tmp_path: Path) -> None:
    population = make_population(6, seed=2, site_id="demo", site_name="Demo")
    sent: list[tuple[str, bytes]] = []
    scenarios = [Hypoxia.at(population.residents[2].resident_id, T0 + 20, 600.0)]
    simulation = Simulation(population, scenarios, lambda t, p: sent.append((t, p)), 2)
    assert simulation.interval_s == 5.0
    published = simulation.run(T0, 120.0, speed=float("inf"))
    assert published == len(sent) and simulation.step(T0 + 120.0) >= 0
    vitals = [json.loads(p) for t, p in sent if t.endswith("/vitals") and population.residents[2].wearable_id in t]
    spo2 = [r["value"] for body in vitals for r in body["readings"] if r["metric"] == "spo2"]
    assert min(spo2[-5:]) <= 86
    path = tmp_path / "truth.jsonl"
    simulation.write_ground_truth(path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {
        "resident_id": population.residents[2].resident_id, "scenario": "hypoxia", "start": T0 + 20,
        "end": T0 + 620, "expected_rule": "spo2_low",
        "also": ["news2_urgent", "news2_emergency", "rr_high", "spo2_falling", "baseline_deviation"], "device_id": None,
        "background": False, "unobservable": None}  # fmt: skip


def test_vitals_every_five_seconds_spread_over_the_period(simulate: Simulate) -> None:
    world = build_world("home", 20, 1, 1)
    _, captured = simulate(world, (), T0 + 10 * 3600, 60.0, artefacts=False, drop_p=0.0)
    per_device: dict[str, list[float]] = defaultdict(list)
    for topic, body in captured.decoded("vitals"):
        per_device[topic.split("/")[3]].append(body["ts"])
    intervals = {round(b - a) for ts in per_device.values() for a, b in itertools.pairwise(ts)}
    assert intervals == {5}
    phases = {round(ts[0] - T0) % 5 for ts in per_device.values()}
    assert len(phases) >= 3  # devices are not synchronised


def test_room_sensors_follow_the_morning(simulate: Simulate) -> None:
    world = build_world("home", 4, 1, 11)
    start = T0 + 5.5 * 3600
    _, captured = simulate(world, (), start, 4 * 3600, tick_s=5.0)
    for resident in world.residents:
        site = resident.site_id
        bed = captured.events(f"{site}-bedroom-bed", "bed")
        wake = T0 + 3600 * resident.habits.wake_h
        assert bed[0][1] == 1 and any(v == 0 and abs(ts - wake) < 3600 for ts, v in bed)
        kitchen = [ts for ts, v in captured.events(f"{site}-kitchen-motion", "motion") if v == 1]
        assert kitchen, f"{site}: nobody moved in the kitchen all morning"
        doors = captured.events(f"{site}-hall-door", "door")
        opened = [ts for ts, v in doors if v == 1]
        closed = [ts for ts, v in doors if v == 0][1:]  # the first report is the initial state
        assert len(opened) == len(closed) and all(0 < c - o <= 15 for o, c in zip(opened, closed, strict=True))


def test_environment_sensors_report_the_room_climate(simulate: Simulate) -> None:
    world = build_world("home", 2, 1, 1)
    _, captured = simulate(world, (), T0 + 12 * 3600, 900.0)
    temps = captured.readings("sim-h00001-bathroom-environment", "room_temp")
    humidity = captured.readings("sim-h00001-bathroom-environment", "humidity")
    assert len(temps) == len(humidity) == 15  # every 60 s
    assert all(15 < v < 30 for _, v in temps) and all(20 < v < 95 for _, v in humidity)
    heartbeats = captured.readings("sim-h00001-hall-door", "battery")
    assert len(heartbeats) == 3  # every 300 s


def test_wearables_drain_and_get_charged(simulate: Simulate) -> None:
    world = make_population(60, seed=2)  # wearables only: the test is about them
    simulation, captured = simulate(world, (), T0 + 5 * 3600, 5 * 3600, tick_s=10.0, vitals_s=60.0, artefacts=False)
    charging = [t for t in simulation.ground_truth() if t.scenario == "charging"]
    assert charging, "someone's wearable runs low within a day"
    episode = charging[0]
    worn = captured.readings(episode.device_id or "", "worn")
    assert any(v == 0 and episode.start <= ts <= episode.end for ts, v in worn)
    battery = captured.readings(episode.device_id or "", "battery")
    before = [v for ts, v in battery if ts < episode.start][-1]
    after = next(v for ts, v in battery if ts > episode.end + 120)
    assert before < 25 and after >= 90
    vitals = [ts for ts, _ in captured.readings(episode.device_id or "", "hr")]
    assert not any(episode.start + 60 < ts < episode.end - 60 for ts in vitals)  # off the body: no vitals
    levels = np.array([[v for _, v in captured.readings(r.wearable_id, "battery")][:240] for r in world.residents])
    assert np.median(levels[:, 0] - levels[:, -1]) >= 2  # about 0.6 % an hour


def test_a_battery_running_low_before_its_charge_is_logged_as_rightly_alerting(simulate: Simulate) -> None:
    world = make_population(60, seed=2)
    simulation, captured = simulate(world, (), T0 + 9 * 3600, 15 * 3600, tick_s=60.0, vitals_s=60.0, artefacts=False)
    ran_low = [t for t in simulation.ground_truth() if t.scenario == "battery_ran_low"]
    assert ran_low, "someone's wearable falls under 15 % before its morning charge"
    for low in ran_low:  # ordinary life, but the battery_low alert is right
        assert low.background and low.expected_rule == "battery_low"
        battery = captured.readings(low.device_id or "", "battery")
        assert [v for ts, v in battery if ts < low.start - 60][-1] >= 15.0
        assert next(v for ts, v in battery if ts > low.start) < 15.0


def test_background_episodes_are_logged_as_ordinary_life(simulate: Simulate) -> None:
    world = build_world("home", 3, 1, 5)
    world = replace(world, residents=tuple(replace(r, habits=replace(r.habits, visit_prob=1.0))
                                           for r in world.residents))  # fmt: skip
    simulation, captured = simulate(world, (), T0 + 6 * 3600, 12 * 3600, tick_s=10.0, vitals_s=10.0)
    truths = simulation.ground_truth()
    kinds = {t.scenario for t in truths}
    assert {"visitor", "motion_artefact", "shower_off_wrist"} <= kinds
    assert all(t.background for t in truths)
    assert all(t.expected_rule == "none" for t in truths if t.scenario != "battery_ran_low")
    visit = next(t for t in truths if t.scenario == "visitor" and t.end < T0 + 18 * 3600 - 60)
    site = visit.resident_id.rsplit("-r", 1)[0]
    opened = [ts for ts, v in captured.events(f"{site}-hall-door", "door") if v == 1]
    assert any(abs(ts - visit.start) < 20 for ts in opened) and any(abs(ts - visit.end) < 30 for ts in opened)
    artefact = next(t for t in truths if t.scenario == "motion_artefact")
    hr = dict(captured.readings(artefact.device_id or "", "hr"))
    assert artefact.start in hr


def test_scenarios_must_name_residents_of_the_world() -> None:
    with pytest.raises(ValueError, match="not in the world"):
        Simulation(build_world("home", 1), [Hypoxia.at("nobody", T0, 60.0)], lambda t, p: None)


def test_streams_are_validated() -> None:
    with pytest.raises(ValueError):
        Streams(tick_s=10.0, vitals_s=5.0)
    with pytest.raises(ValueError):
        Streams(motion_hz=2000.0)


def test_ingest_accepts_every_message(simulate: Simulate, tmp_path: Path) -> None:
    """The contract from the other side: ingest's decoder, with the world registered from its manifest, takes every
    simulated message (carewatch protocol and Zigbee2MQTT) and flags exactly the injected garbage as artefacts."""
    from carewatch.model import DeadLetter
    from carewatch.registry import Registry, apply_manifest
    from carewatch.storage.sqlite import SqliteStore
    from ingest.decode import decode

    world = mixed_world()
    store = SqliteStore(tmp_path / "registry.db")
    store.init_schema()
    apply_manifest(store, world.manifest())
    registry = Registry.load(store)
    store.close()
    start = T0 + 9 * 3600
    burst = plan_incidents(world, start, 600.0, seed=2, names=("artefact_burst",))
    _, captured = simulate(world, burst, start, 600.0, motion_hz=25, artefacts=False)
    flagged = set()
    for topic, payload in captured.messages:
        result = decode(topic, payload, start + 700.0, registry)
        assert not isinstance(result, DeadLetter), (topic, result.reason, result.detail)
        flagged |= {(row.device_id, row.ts) for row in result.readings if row.artefact}
    truth = burst[0].truth
    wearable = world.resident(truth.resident_id).wearable_id
    tick = 1.0  # an incident acts on every tick it overlaps: the one holding its start too
    unexpected = {(d, ts) for d, ts in flagged if d != wearable or not truth.start - tick < ts < truth.end}
    assert flagged and not unexpected, (truth.resident_id, unexpected)


def test_background_truth_can_stream_out() -> None:
    streamed: list[Any] = []
    world = make_population(20, seed=3)
    simulation = Simulation(
        world,
        [Hypoxia.at(world.residents[0].resident_id, T0 + 8 * 3600, 60.0)],
        lambda t, p: None,
        streams=Streams(tick_s=10.0, vitals_s=10.0),
        on_truth=streamed.append,
    )
    simulation.run(T0 + 6 * 3600, 3 * 3600, speed=math.inf)
    assert streamed and all(t.background for t in streamed)
    assert [t.scenario for t in simulation.ground_truth()] == ["hypoxia"]


def test_local_time_follows_the_site_timezone(simulate: Simulate) -> None:
    """Shanghai is UTC+8: at 19:00 UTC its residents are in bed, visitors come in the local day, and in a heat wave
    the home is warmest in the local afternoon or evening."""
    world = build_world("home", 6, 1, 4, timezone="Asia/Shanghai")
    world = replace(world, residents=tuple(replace(r, habits=replace(r.habits, visit_prob=1.0))
                                           for r in world.residents))  # fmt: skip
    local = T0 - 8 * 3600  # local midnight
    heat = HeatWave.at(world.residents[0].resident_id, local, 24 * 3600)
    simulation, captured = simulate(world, [heat], local, 24 * 3600, tick_s=30.0, vitals_s=60.0, status_s=60.0,
                                    climate_s=60.0, heartbeat_s=300.0)  # fmt: skip
    for resident in world.residents:
        bed = captured.events(f"{resident.site_id}-bedroom-bed")
        assert [v for ts, v in bed if ts <= local + 3 * 3600][-1] == 1  # asleep at 03:00 local
    visits = [t for t in simulation.ground_truth() if t.scenario == "visitor"]
    assert visits and all(10 <= (t.start - local) / 3600 <= 18 for t in visits)
    temps = captured.readings(f"{world.sites[0].site_id}-living_room-environment", "room_temp")
    warmest = max(temps, key=lambda sample: sample[1])[0]
    assert 15 <= (warmest - local) / 3600 <= 23  # outdoors peaks at 15:00, the building lags by hours


def test_only_the_chosen_wearables_stream_the_accelerometer(simulate: Simulate) -> None:
    world = build_world("home", 4, 1, seed=3)
    chosen = frozenset({world.residents[1].wearable_id, world.residents[3].wearable_id})
    _, captured = simulate(world, [], T0 + 10 * 3600, 60.0, motion_hz=25.0, motion_devices=chosen)
    streaming = {topic.split("/")[3] for topic, _ in captured.decoded("motion")}
    assert streaming == chosen
    assert {topic.split("/")[3] for topic, _ in captured.decoded("vitals")} == {r.wearable_id for r in world.residents}


def test_nobody_visits_a_resident_in_an_incident_that_happens_alone(simulate: Simulate) -> None:
    """A visit due during a no-activity incident is called off: the visitor would be the very activity it lacks."""
    world = build_world("home", 3, 1, 5)
    world = replace(world, residents=tuple(replace(r, habits=replace(r.habits, visit_prob=1.0))
                                           for r in world.residents))  # fmt: skip
    start, hours = T0 + 6 * 3600, 12 * 3600
    plain, _ = simulate(world, (), start, hours, tick_s=10.0, vitals_s=10.0)
    visits = [t for t in plain.ground_truth() if t.scenario == "visitor" and t.end < start + hours - 600]
    assert len(visits) >= 2
    still = [NoActivity.at(v.resident_id, v.start - 600, v.end - v.start + 1200) for v in visits]
    _, captured = simulate(world, still, start, hours, tick_s=10.0, vitals_s=10.0)
    for v in visits:
        site = v.resident_id.rsplit("-r", 1)[0]
        seen = [(device, ts) for device in (f"{site}-living_room-motion", f"{site}-hall-motion", f"{site}-hall-door")
                for kind in ("motion", "door") for ts, value in captured.events(device, kind)
                if value == 1 and v.start - 300 <= ts < v.end + 300]  # fmt: skip
        assert seen == [], f"{v.resident_id} visited during a no-activity incident: {seen[:3]}"
