"""Tests of simulators.protocol and simulators.zigbee: payloads as docs/protocol.md and Zigbee2MQTT define them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from carewatch.catalog import METRIC_BY_NAME, Stream
from simulators import protocol, zigbee


def test_topic_follows_the_protocol() -> None:
    assert protocol.topic("home-1", "home-1-wearable", Stream.VITALS) == "carewatch/v1/home-1/home-1-wearable/vitals"


def test_readings_payload_carries_canonical_units_and_integers_where_whole() -> None:
    body = json.loads(protocol.readings_payload(1764412800.1234, 7, {"hr": 72.0, "temp": 36.66, "spo2": 96.0}))
    assert body == {"ts": 1764412800.123, "seq": 7, "readings": [
        {"metric": "hr", "value": 72, "unit": "bpm"}, {"metric": "temp", "value": 36.66, "unit": "Cel"},
        {"metric": "spo2", "value": 96, "unit": "%"}]}  # fmt: skip
    assert b'"value":72,' in protocol.readings_payload(0.0, 1, {"hr": 72.0})


def test_units_payload_keeps_a_given_unit() -> None:
    body = json.loads(protocol.units_payload(10.0, 1, [("temp", 98.4, "[degF]"), ("hr", 60, None)]))
    assert [(r["unit"], r["value"]) for r in body["readings"]] == [("[degF]", 98.4), ("bpm", 60)]


def test_readings_payloads_leave_out_absent_readings() -> None:
    values = np.array([[72.0, 96.0], [80.0, 0.0]])
    present = np.array([[True, True], [True, False]])
    first, second = (json.loads(p) for p in protocol.readings_payloads(5.0, [1, 2], ["hr", "spo2"], values, present))
    assert [r["metric"] for r in first["readings"]] == ["hr", "spo2"]
    assert second == {"ts": 5.0, "seq": 2, "readings": [{"metric": "hr", "value": 80, "unit": "bpm"}]}


def test_event_payload_with_its_own_ts() -> None:
    body = json.loads(protocol.events_payload(100.0, 3, [("fall", 1.0, 98.5), ("sos", 1.0, None)]))
    assert body == {"ts": 100.0, "seq": 3, "events": [{"kind": "fall", "value": 1, "ts": 98.5},
                                                      {"kind": "sos", "value": 1}]}  # fmt: skip
    assert json.loads(protocol.event_payload(1.0, 1, "door", 0.0))["events"] == [{"kind": "door", "value": 0}]


def test_motion_payload_is_a_block_of_axes_in_g() -> None:
    xyz = np.array([[0.01234, -0.98, 0.05], [0.0, -1.0, 0.1]])
    body = json.loads(protocol.motion_payload(1.0, 9, 25, xyz))
    assert body == {"ts": 1.0, "seq": 9, "rate_hz": 25, "unit": "g", "x": [0.012, 0.0], "y": [-0.98, -1.0],
                    "z": [0.05, 0.1]}  # fmt: skip


def test_encoding_is_deterministic() -> None:
    values = {"hr": 61.0, "spo2": 97.0, "temp": 36.4}
    assert protocol.readings_payload(1.5, 2, values) == protocol.readings_payload(1.5, 2, dict(values))


@pytest.mark.parametrize(
    ("kind", "state", "key", "expected"),
    [("motion", 1, "occupancy", True), ("bed", 0, "occupancy", False), ("door", 1, "contact", False),
     ("door", 0, "contact", True), ("smoke", 1, "smoke", True), ("gas", 0, "gas", False),
     ("water", 1, "water_leak", True), ("bathroom", 1, "occupancy", True), ("chair", 1, "occupancy", True)],
)  # fmt: skip
def test_zigbee_state_keys(kind: str, state: int, key: str, expected: bool) -> None:
    body = json.loads(zigbee.state_payload(kind, 1764412800.25, 87.4, -70.0, state=state))
    assert body[key] is expected
    assert body["battery"] == 87 and 0 <= body["linkquality"] <= 255 and body["last_seen"] == 1764412800250
    assert 2500 <= body["voltage"] <= 3100


def test_zigbee_climate_and_action() -> None:
    climate = json.loads(zigbee.state_payload("environment", 0.0, 50.0, -60.0, climate=(21.5, 45.2)))
    assert (climate["temperature"], climate["humidity"]) == (21.5, 45.2)
    sos = json.loads(zigbee.state_payload("sos_button", 0.0, 50.0, -60.0, action=zigbee.SOS_ACTION))
    assert sos["action"] == "emergency" and "occupancy" not in sos
    assert zigbee.topic("home-1/bedroom_motion") == "zigbee2mqtt/home-1/bedroom_motion"


def test_linkquality_spans_the_lqi_range() -> None:
    assert zigbee.linkquality(-110.0) == 0 and zigbee.linkquality(-30.0) == 255
    assert zigbee.linkquality(-70.0) == 127


def test_status_metrics_exist_in_the_catalogue() -> None:
    for metric in ("battery", "worn", "rssi", "room_temp", "humidity"):
        assert METRIC_BY_NAME[metric].stream is Stream.STATUS
