"""Zigbee2MQTT mode: room sensors publish as a bridge would, the wearables keep the carewatch protocol."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from simulators.capture import Capture
from simulators.floorplans import build_world
from simulators.runner import Simulation
from simulators.scenarios.home import Alarm

T0 = 1_764_374_400.0  # 2025-11-29 00:00:00 UTC
H = 3600.0
Simulate = Callable[..., tuple[Simulation, Capture]]
STATE_KEYS = {"motion": {"occupancy"}, "bed": {"occupancy"}, "chair": {"occupancy"}, "bathroom": {"occupancy"},
              "door": {"contact"}, "smoke": {"smoke"}, "gas": {"gas"}, "water": {"water_leak"},
              "environment": {"temperature", "humidity"}, "sos_button": set()}  # fmt: skip
COMMON = {"battery", "linkquality", "voltage", "last_seen"}


def test_room_sensors_publish_bridge_state(simulate: Simulate) -> None:
    world = build_world("home", 3, 1, seed=2, zigbee=True)
    start = T0 + 11 * H
    smoke = Alarm.at(world.residents[0].resident_id, "smoke", start + 300, 120.0)
    _, captured = simulate(world, [smoke], start, 900.0)
    kinds = {d.friendly_name: d.kind for d in world.devices if d.friendly_name}
    seen = defaultdict(list)
    for topic, body in captured.zigbee():
        name = topic.removeprefix("zigbee2mqtt/")
        kind = kinds[name]
        assert set(body) - {"action"} == COMMON | STATE_KEYS[kind], (kind, body)
        assert 0 <= body["battery"] <= 100 and 0 <= body["linkquality"] <= 255
        assert start * 1000 <= body["last_seen"] < (start + 901) * 1000
        seen[kind].append(body)
    assert set(seen) == set(STATE_KEYS)  # every kind reported (its first state, then heartbeats)
    assert all(isinstance(b["occupancy"], bool) for b in seen["motion"])
    assert all(isinstance(b["contact"], bool) for b in seen["door"])
    alarm = [b["smoke"] for t, b in captured.zigbee(f"{world.residents[0].site_id}/kitchen_smoke")]
    assert alarm[0] is False and True in alarm and alarm[-1] is False
    assert all(20 < b["humidity"] < 95 and 10 < b["temperature"] < 35 for b in seen["environment"])


def test_wearables_and_climate_cadence_in_zigbee_mode(simulate: Simulate) -> None:
    world = build_world("home", 2, 1, seed=2, zigbee=True)
    _, captured = simulate(world, (), T0 + 14 * H, 600.0)
    assert all(t.startswith("carewatch/v1/") and "wearable" in t.split("/")[3] for t, _ in captured.messages
               if not t.startswith("zigbee2mqtt/"))  # fmt: skip
    climate = captured.zigbee(f"{world.sites[0].site_id}/bathroom_environment")
    assert 10 <= len(climate) <= 11  # every 60 s, plus the first report
    door = [b["contact"] for _, b in captured.zigbee(f"{world.sites[0].site_id}/hall_door")]
    assert door[0] is True and len(door) >= 2  # closed at the start; heartbeats repeat the state
