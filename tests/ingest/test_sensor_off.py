"""Vital signs a wearable sends while it reports itself off the body are stored flagged as artefacts
(ingest/sensor_off.py), by the alert core's rule (alerts/signals.py, "Sensor off")."""

from __future__ import annotations

import json
import random
from functools import partial

import pytest
from prometheus_client import CollectorRegistry

from carewatch.model import Device, DeviceKind, ReadingRow, Resident
from carewatch.registry import Registry
from ingest.clock import Decode
from ingest.decode import decode
from ingest.metrics import IngestMetrics
from ingest.sensor_off import SensorOff
from ingest.validate import Accepted

NOW = 1_764_412_800.0
SITE = "s1"
SENSOR_OFF_TOTAL = "carewatch_ingest_readings_sensor_off_total"  # as /metrics and the system page read it


@pytest.fixture
def registry() -> Registry:
    devices = [
        Device("w1", SITE, DeviceKind.WEARABLE, resident_id="r1"),
        Device("w2", SITE, DeviceKind.WEARABLE, resident_id="r2"),
        Device("p1", SITE, DeviceKind.WEARABLE, resident_id="r1"),  # r1's second wearable: a pendant
        Device("spare", SITE, DeviceKind.WEARABLE),  # not given to anyone yet
        Device("room1", SITE, DeviceKind.ENVIRONMENT, resident_id="r1", room="bedroom"),
    ]
    residents = [Resident("r1", SITE, "Ada"), Resident("r2", SITE, "Bea")]
    return Registry(
        devices={d.device_id: d for d in devices}, by_friendly_name={}, residents={r.resident_id: r for r in residents}
    )


class Ingest:
    """The decoder as the runtime composes it, and what it accepted."""

    def __init__(self, registry: Registry, sensor_off: SensorOff) -> None:
        self.decode: Decode = sensor_off.decoding(partial(decode, registry=registry))
        self.rows: list[ReadingRow] = []

    def send(self, device: str, stream: str, ts: float, **values: float) -> list[ReadingRow]:
        units = {"hr": "bpm", "spo2": "%", "temp": "Cel", "steps": "1", "o2": "1", "worn": "1", "battery": "%"}
        readings = [{"metric": m, "value": v, "unit": units[m]} for m, v in values.items()]
        body = json.dumps({"ts": ts, "seq": int(ts), "readings": readings}).encode()
        item = self.decode(f"carewatch/v1/{SITE}/{device}/{stream}", body, NOW)
        assert isinstance(item, Accepted), item
        self.rows += item.readings
        return item.readings

    def worn(self, device: str, ts: float, value: float) -> None:
        self.send(device, "status", ts, worn=value, battery=80)


def flagged(rows: list[ReadingRow]) -> dict[str, bool]:
    return {row.metric: row.artefact for row in rows}


def test_vital_signs_sent_off_the_body_are_flagged_until_it_is_worn_again(registry: Registry) -> None:
    counters = CollectorRegistry()
    ingest = Ingest(registry, SensorOff(registry, IngestMetrics(counters)))
    vitals = {"hr": 72, "spo2": 97, "temp": 36.6, "steps": 1200, "o2": 0}
    assert flagged(ingest.send("w1", "vitals", NOW - 70, **vitals)) == dict.fromkeys(vitals, False)
    ingest.worn("w1", NOW - 60, 0)
    # What the body gives is noise off the body; the step count and oxygen flag are not read from the body
    off = {"hr": True, "spo2": True, "temp": True, "steps": False, "o2": False}
    assert flagged(ingest.send("w1", "vitals", NOW - 55, **vitals)) == off
    assert flagged(ingest.send("w2", "vitals", NOW - 55, **vitals)) == dict.fromkeys(vitals, False)  # not r2's
    ingest.worn("w1", NOW - 10, 1)
    assert flagged(ingest.send("w1", "vitals", NOW - 5, **vitals)) == dict.fromkeys(vitals, False)
    assert counters.get_sample_value(SENSOR_OFF_TOTAL) == 3
    assert not any(row.artefact for row in ingest.rows if row.metric in ("worn", "battery"))


def test_a_device_never_reported_counts_as_worn(registry: Registry) -> None:
    ingest = Ingest(registry, SensorOff(registry))
    assert not any(row.artefact for row in ingest.send("w1", "vitals", NOW, hr=72, spo2=97))


def test_an_implausible_worn_value_says_nothing(registry: Registry) -> None:
    ingest = Ingest(registry, SensorOff(registry))
    ingest.worn("w1", NOW - 60, 0)
    ingest.worn("w1", NOW - 30, 7)  # outside 0-1: an artefact itself, so the 0 before stays in force
    assert flagged(ingest.send("w1", "vitals", NOW, hr=72)) == {"hr": True}


def test_an_implausible_value_off_the_body_is_counted_once(registry: Registry) -> None:
    counters = CollectorRegistry()
    ingest = Ingest(registry, SensorOff(registry, IngestMetrics(counters)))
    ingest.worn("w1", NOW - 60, 0)
    assert flagged(ingest.send("w1", "vitals", NOW, hr=400, spo2=97)) == {"hr": True, "spo2": True}
    assert counters.get_sample_value(SENSOR_OFF_TOTAL) == 1  # hr=400 was an artefact already


def test_only_a_wearables_readings_are_flagged(registry: Registry) -> None:
    ingest = Ingest(registry, SensorOff(registry))
    ingest.worn("w1", NOW - 60, 0)
    # A room sensor attributed to the resident is not on the body, whatever the wearable says
    assert flagged(ingest.send("room1", "vitals", NOW, temp=36.6)) == {"temp": False}


def test_each_wearable_of_a_resident_says_whether_it_is_worn(registry: Registry) -> None:
    """r1's watch (w1) is on its charger, their pendant (p1) on them: the pendant's vital signs are not noise."""
    counters = CollectorRegistry()
    ingest = Ingest(registry, SensorOff(registry, IngestMetrics(counters)))
    ingest.worn("p1", NOW - 60, 1)
    ingest.worn("w1", NOW - 30, 0)  # the newest worn reading of r1's: the watch's
    assert flagged(ingest.send("p1", "vitals", NOW, hr=72, spo2=97)) == {"hr": False, "spo2": False}
    assert flagged(ingest.send("w1", "vitals", NOW, hr=72, spo2=97)) == {"hr": True, "spo2": True}
    ingest.worn("w1", NOW + 10, 1)  # and the other way round
    ingest.worn("p1", NOW + 20, 0)
    assert flagged(ingest.send("w1", "vitals", NOW + 30, hr=72)) == {"hr": False}
    assert flagged(ingest.send("p1", "vitals", NOW + 30, hr=72)) == {"hr": True}
    assert counters.get_sample_value(SENSOR_OFF_TOTAL) == 3


def test_a_wearable_off_the_body_is_flagged_whoever_it_is_for(registry: Registry) -> None:
    ingest = Ingest(registry, SensorOff(registry))
    ingest.worn("spare", NOW - 60, 0)
    [row] = ingest.send("spare", "vitals", NOW, hr=72)
    assert row.resident_id is None and row.artefact


def test_a_restart_resumes_from_the_stored_worn_state(registry: Registry) -> None:
    sensor_off = SensorOff(registry)
    sensor_off.seed({"w1": (NOW - 60, 0.0), "p1": (NOW - 30, 1.0)})  # Store.latest_device_readings("worn", since)
    ingest = Ingest(registry, sensor_off)
    assert flagged(ingest.send("w1", "vitals", NOW, hr=72)) == {"hr": True}
    assert flagged(ingest.send("p1", "vitals", NOW, hr=72)) == {"hr": False}  # r1's other wearable
    assert flagged(ingest.send("w2", "vitals", NOW, hr=72)) == {"hr": False}  # never reported
    ingest.worn("w1", NOW - 120, 1)  # older than the seeded state: it does not replace it
    assert flagged(ingest.send("w1", "vitals", NOW + 5, hr=72)) == {"hr": True}


@pytest.mark.parametrize("seed", range(5))
def test_in_time_order_a_reading_is_flagged_exactly_when_the_latest_worn_at_or_before_it_is_0(
    registry: Registry, seed: int
) -> None:
    rng = random.Random(seed)
    ingest = Ingest(registry, SensorOff(registry))
    history: dict[str, list[tuple[float, float]]] = {"w1": [], "w2": [], "p1": []}  # w1 and p1: both r1's
    ts = NOW - 3000
    for _ in range(400):
        ts += rng.choice([0.0, 1.0, 5.0])  # same instants too: a worn reading applies to readings at its time
        device = rng.choice(list(history))
        if rng.random() < 0.2:
            value = rng.choice([0.0, 1.0])
            ingest.worn(device, ts, value)
            history[device].append((ts, value))
        else:
            (row,) = ingest.send(device, "vitals", ts, hr=70)
            in_force = [value for at, value in history[device] if at <= ts]
            assert row.artefact == (bool(in_force) and in_force[-1] == 0.0), (ts, history[device][-3:])
