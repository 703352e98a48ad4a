"""Zigbee2MQTT home sensors through `decode` (docs/protocol.md, "Zigbee2MQTT")."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from carewatch.model import DeadLetter, Device, DeviceKind, Resident
from carewatch.registry import Registry
from ingest.decode import decode
from ingest.validate import MAX_FUTURE_S, MAX_PAST_S, MAX_PAYLOAD_BYTES, Accepted

NOW = 1_764_412_800.0
SITE = "home-1"

DEVICES = [
    Device("pir1", SITE, DeviceKind.MOTION, resident_id="r1", room="hall", friendly_name="home-1/hall motion"),
    Device("bed1", SITE, DeviceKind.BED, resident_id="r1", room="bedroom", friendly_name="home-1/bed"),
    Device("chair1", SITE, DeviceKind.CHAIR, resident_id="r1", room="lounge", friendly_name="home-1/chair"),
    Device("bath1", SITE, DeviceKind.BATHROOM, resident_id="r1", room="bathroom", friendly_name="home-1/bathroom"),
    Device("door1", SITE, DeviceKind.DOOR, room="hall", friendly_name="home-1/front door"),
    Device("leak1", SITE, DeviceKind.WATER, room="kitchen", friendly_name="home-1/kitchen leak"),
    Device("smoke1", SITE, DeviceKind.SMOKE, room="kitchen", friendly_name="home-1/kitchen smoke"),
    Device("gas1", SITE, DeviceKind.GAS, room="kitchen", friendly_name="home-1/kitchen gas"),
    Device("sos1", SITE, DeviceKind.SOS_BUTTON, resident_id="r1", friendly_name="home-1/sos"),
    Device("env1", SITE, DeviceKind.ENVIRONMENT, room="lounge", friendly_name="lounge climate"),
    Device("w1", SITE, DeviceKind.WEARABLE, resident_id="r1"),
]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(
        devices={d.device_id: d for d in DEVICES},
        by_friendly_name={d.friendly_name: d for d in DEVICES if d.friendly_name},
        residents={"r1": Resident("r1", SITE, "Ada", room="bedroom")},
    )


def publish(registry: Registry, name: str, state: dict[str, Any] | bytes, at: float = NOW) -> Accepted | DeadLetter:
    data = state if isinstance(state, bytes) else json.dumps(state).encode()
    return decode(f"zigbee2mqtt/{name}", data, at, registry)


def accepted(registry: Registry, name: str, state: dict[str, Any] | bytes) -> Accepted:
    result = publish(registry, name, state)
    assert isinstance(result, Accepted), result
    return result


def events(registry: Registry, name: str, state: dict[str, Any]) -> list[tuple[str, float]]:
    return [(e.kind, e.value) for e in accepted(registry, name, state).events]


def reason(registry: Registry, name: str, state: dict[str, Any] | bytes) -> str:
    result = publish(registry, name, state)
    assert isinstance(result, DeadLetter), result
    return result.reason


# Mapping ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("home-1/hall motion", "motion"),
        ("home-1/bed", "bed"),
        ("home-1/chair", "chair"),
        ("home-1/bathroom", "bathroom"),
        ("lounge climate", "motion"),  # an environment sensor with a PIR: plain motion
    ],
)
def test_occupancy_becomes_the_event_of_the_device_kind(registry: Registry, name: str, kind: str) -> None:
    assert events(registry, name, {"occupancy": True}) == [(kind, 1.0)]
    assert events(registry, name, {"occupancy": False}) == [(kind, 0.0)]


def test_radar_presence_counts_as_occupancy(registry: Registry) -> None:
    assert events(registry, "home-1/bathroom", {"presence": True}) == [("bathroom", 1.0)]
    assert events(registry, "home-1/bathroom", {"occupancy": False, "presence": True}) == [("bathroom", 0.0)]


def test_contact_false_is_an_open_door(registry: Registry) -> None:
    assert events(registry, "home-1/front door", {"contact": False}) == [("door", 1.0)]
    assert events(registry, "home-1/front door", {"contact": True}) == [("door", 0.0)]


@pytest.mark.parametrize(
    ("name", "key"),
    [("home-1/kitchen leak", "water_leak"), ("home-1/kitchen smoke", "smoke"), ("home-1/kitchen gas", "gas")],
)
def test_hazard_detectors(registry: Registry, name: str, key: str) -> None:
    assert events(registry, name, {key: True, "battery": 100}) == [(key, 1.0)]
    assert events(registry, name, {key: False}) == [(key, 0.0)]


@pytest.mark.parametrize("action", ["single", "double", "hold", "long", "emergency", "sos"])
def test_any_press_of_an_sos_button_is_sos(registry: Registry, action: str) -> None:
    assert events(registry, "home-1/sos", {"action": action, "battery": 90}) == [("sos", 1.0)]


@pytest.mark.parametrize("action", ["", None, "release", "hold_release"])
def test_release_and_empty_actions_are_not_sos(registry: Registry, action: str | None) -> None:
    assert events(registry, "home-1/sos", {"action": action}) == []


def test_action_of_a_device_that_is_not_an_sos_button_is_ignored(registry: Registry) -> None:
    assert events(registry, "lounge climate", {"action": "single"}) == []


def test_environment_readings(registry: Registry) -> None:
    state = {"temperature": 21.5, "humidity": 48.2, "battery": 87, "linkquality": 134, "voltage": 2995}
    rows = accepted(registry, "lounge climate", state).readings
    assert [(r.metric, r.value, r.artefact) for r in rows] == [
        ("room_temp", 21.5, False), ("humidity", 48.2, False), ("battery", 87, False)
    ]  # fmt: skip
    assert {(r.site_id, r.device_id, r.resident_id, r.seq, r.ts) for r in rows} == {(SITE, "env1", None, 0, NOW)}


def test_a_full_state_report_maps_every_known_key(registry: Registry) -> None:
    state = {
        "battery": 100, "battery_low": False, "contact": False, "device_temperature": 24, "linkquality": 255,
        "power_outage_count": 6, "tamper": False, "temperature": 19.0, "voltage": 3005, "update": {"state": "idle"},
    }  # fmt: skip
    result = accepted(registry, "home-1/front door", state)
    assert [(r.metric, r.value) for r in result.readings] == [("room_temp", 19.0), ("battery", 100)]
    assert [(e.kind, e.value, e.device_id, e.resident_id) for e in result.events] == [("door", 1.0, "door1", None)]


def test_implausible_values_are_kept_as_artefacts(registry: Registry) -> None:
    rows = accepted(registry, "lounge climate", {"temperature": 85.0, "humidity": 120, "battery": 255}).readings
    assert [(r.metric, r.artefact) for r in rows] == [("room_temp", True), ("humidity", True), ("battery", True)]


def test_nulls_and_unknown_keys_produce_nothing(registry: Registry) -> None:
    result = accepted(registry, "lounge climate", {"temperature": None, "occupancy": None, "linkquality": 80})
    assert result == Accepted([], [], [])


def test_a_state_report_repeats_the_level_events(registry: Registry) -> None:
    """Zigbee2MQTT republishes the whole state; the decoder is stateless, so each report repeats the door level."""
    first = publish(registry, "home-1/front door", {"contact": False}, at=NOW)
    battery_report = publish(registry, "home-1/front door", {"contact": False, "battery": 99}, at=NOW + 60)
    assert isinstance(first, Accepted) and isinstance(battery_report, Accepted)
    assert [(e.kind, e.value, e.ts) for e in first.events + battery_report.events] == [
        ("door", 1.0, NOW), ("door", 1.0, NOW + 60)
    ]  # fmt: skip


# Time -------------------------------------------------------------------------------------------------------------


def test_without_last_seen_the_receive_time_is_used(registry: Registry) -> None:
    (event,) = accepted(registry, "home-1/bed", {"occupancy": True}).events
    assert (event.ts, event.seq) == (NOW, 0)


@pytest.mark.parametrize(
    "last_seen",
    [
        int((NOW - 2.5) * 1000),  # advanced.last_seen: epoch (JavaScript milliseconds)
        datetime.fromtimestamp(NOW - 2.5, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),  # ISO_8601
        datetime.fromtimestamp(NOW - 2.5, timezone(timedelta(hours=8))).isoformat(timespec="milliseconds"),  # _local
    ],
)
def test_last_seen_is_the_time_when_the_bridge_adds_it(registry: Registry, last_seen: int | str) -> None:
    result = accepted(registry, "home-1/bed", {"occupancy": True, "battery": 80, "last_seen": last_seen})
    assert [e.ts for e in result.events] + [r.ts for r in result.readings] == [NOW - 2.5, NOW - 2.5]


@pytest.mark.parametrize(
    ("last_seen", "expected"),
    [
        ((NOW + MAX_FUTURE_S + 60) * 1000, "ts_out_of_range"),
        ((NOW - MAX_PAST_S - 60) * 1000, "ts_out_of_range"),
        ("2025-11-29T10:40:00", "bad_schema"),  # no time zone: ambiguous
        ("yesterday", "bad_schema"),
        (True, "bad_schema"),
    ],
)
def test_bad_last_seen_is_rejected(registry: Registry, last_seen: Any, expected: str) -> None:
    assert reason(registry, "home-1/bed", {"occupancy": True, "last_seen": last_seen}) == expected


# Topics -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "bridge/state", "bridge/info", "bridge/logging", "bridge/devices", "bridge/response/device/rename", "bridge",
        "home-1/bed/set", "home-1/bed/get", "home-1/bed/availability", "home-1/bed/set/occupancy_timeout",
        "not registered/availability",
    ],
)  # fmt: skip
def test_bridge_command_and_availability_topics_are_ignored(registry: Registry, name: str) -> None:
    big = b'{"devices": [' + b'{"ieee_address": "0x00158d0001"},' * 4000 + b"{}]}"  # bridge/devices is large
    for data in (b'{"state": "online"}', b"online", big):
        assert publish(registry, name, data) == Accepted([], [], [])


def test_unknown_friendly_name_is_an_unknown_device(registry: Registry) -> None:
    assert reason(registry, "home-1/garage door", {"contact": True}) == "unknown_device"
    assert reason(registry, "pir1", {"occupancy": True}) == "unknown_device"  # the device id is not its name


def test_per_attribute_output_is_a_bad_topic(registry: Registry) -> None:
    assert reason(registry, "home-1/bed/occupancy", b"true") == "bad_topic"


def test_a_wearable_without_friendly_name_cannot_be_reached_through_the_bridge(registry: Registry) -> None:
    assert reason(registry, "w1", {"battery": 50}) == "unknown_device"


# Validation -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"occupancy": tru', "malformed_json"),
        (b"ON", "malformed_json"),
        (b'{"occupancy": "ON"}', "bad_schema"),
        (b'{"occupancy": 1}', "bad_schema"),
        (b'{"contact": "false"}', "bad_schema"),
        (b'{"temperature": "21.5"}', "bad_schema"),
        (b'{"action": 1}', "bad_schema"),
        (b'[{"occupancy": true}]', "bad_schema"),
        (b'{"temperature": 1e400}', "not_finite"),
        (b'{"battery": -1e999}', "not_finite"),
        (b'{"occupancy": true, "pad": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}', "oversized"),
    ],
)
def test_malformed_state_is_rejected(registry: Registry, data: bytes, expected: str) -> None:
    assert reason(registry, "home-1/hall motion", data) == expected
