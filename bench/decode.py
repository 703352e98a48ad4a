"""Decode time per message: msgspec's typed decoders (ingest/decode.py, ingest/fhir.py) against the standard
library's json, for a carewatch vitals message, a FHIR Observation and a Zigbee2MQTT state report.

Usage: ``python -m bench.decode [--number 20000]``

`json.loads` only parses into dicts; msgspec also checks every type and builds the structs, so the comparison
flatters the standard library. `decode()` is the whole hot path (topic, registry, validation, rows). For FHIR,
fhir.resources (pydantic), which the tests use as the reference, shows why it stays off the hot path; it is
measured only when installed (`pip install -e '.[dev]'`). Last, what flagging vital signs sent off the body
(ingest/sensor_off.py, as the runtime wraps `decode()`) adds, worn and off the body.
"""

from __future__ import annotations

import argparse
import json
import timeit
from collections.abc import Callable
from functools import partial

from carewatch.catalog import BODY_METRICS, Stream
from carewatch.model import Device, DeviceKind
from carewatch.registry import Registry
from ingest import fhir, zigbee
from ingest.decode import DECODERS, decode
from ingest.sensor_off import SensorOff
from ingest.validate import Accepted

NOW = 1_764_412_800.0
REPEAT = 5

VITALS = json.dumps({
    "ts": NOW, "seq": 42,
    "readings": [
        {"metric": "hr", "value": 72, "unit": "bpm"}, {"metric": "spo2", "value": 97, "unit": "%"},
        {"metric": "rr", "value": 16, "unit": "/min"}, {"metric": "sbp", "value": 128, "unit": "mmHg"},
        {"metric": "dbp", "value": 82, "unit": "mmHg"}, {"metric": "temp", "value": 36.7, "unit": "Cel", "ts": NOW - 5},
    ],
}).encode()  # fmt: skip
OBSERVATION = json.dumps({
    "resourceType": "Observation", "id": "hr-1",
    "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/heartrate"]},
    "status": "final",
    "category": [{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs",
        "display": "Vital Signs",
    }]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
    "subject": {"reference": "Patient/r1"},
    "effectiveDateTime": "2025-11-29T11:40:00+01:00",
    "valueQuantity": {"value": 72, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"},
    "device": {"reference": "Device/w1"},
}).encode()  # fmt: skip
ZIGBEE = json.dumps({
    "battery": 100, "contact": False, "device_temperature": 24, "linkquality": 255, "power_outage_count": 6,
    "temperature": 19.0, "voltage": 3005, "last_seen": int(NOW * 1000),
}).encode()  # fmt: skip

REGISTRY = Registry(
    devices={"w1": Device("w1", "s1", DeviceKind.WEARABLE, resident_id="r1")},
    by_friendly_name={"hall door": Device("door1", "s1", DeviceKind.DOOR, friendly_name="hall door")},
)


def per_call_us(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=REPEAT)) / number * 1e6


def alternately_us(a: Callable[[], object], b: Callable[[], object], number: int) -> tuple[float, float]:
    """Per-call time of ``a`` and of ``b``, timed in turn (best of each): a load that comes and goes hits both."""
    runs = [(timeit.timeit(a, number=number), timeit.timeit(b, number=number)) for _ in range(2 * REPEAT)]
    return min(x for x, _ in runs) / number * 1e6, min(y for _, y in runs) / number * 1e6


def fhir_resources_parser() -> Callable[[bytes], object] | None:
    try:
        from fhir.resources.R4B.observation import Observation  # optional: a dev dependency
    except ImportError:
        return None
    return Observation.model_validate_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000, help="calls per timing run (best of 5 runs)")
    number = parser.parse_args().number

    cases = [
        ("carewatch vitals", VITALS, DECODERS[Stream.VITALS].decode, "carewatch/v1/s1/w1/vitals"),
        ("FHIR Observation", OBSERVATION, fhir.DECODER.decode, "carewatch/v1/s1/w1/fhir"),
        ("Zigbee2MQTT state", ZIGBEE, zigbee.DECODER.decode, "zigbee2mqtt/hall door"),
    ]
    print(f"{'message':<18} {'bytes':>5} {'json.loads':>11} {'msgspec':>9} {'json/msgspec':>13} {'decode()':>10}")
    for name, data, typed, topic in cases:
        assert isinstance(decode(topic, data, NOW, REGISTRY), Accepted)
        stdlib = per_call_us(partial(json.loads, data), number)
        fast = per_call_us(partial(typed, data), number)
        whole = per_call_us(partial(decode, topic, data, NOW, REGISTRY), number)
        print(f"{name:<18} {len(data):>5} {stdlib:>9.2f}us {fast:>7.2f}us {stdlib / fast:>12.2f}x {whole:>8.2f}us")

    print(f"\n{'message':<18} {'worn':>5} {'decode()':>10} {'+ sensor off':>13} {'ratio':>6}")
    for name, data, _, topic in cases:
        for worn in (1.0, 0.0):
            sensor_off = SensorOff(REGISTRY)
            sensor_off.seed({"w1": (NOW - 60, worn)})
            wrapped = sensor_off.decoding(partial(decode, registry=REGISTRY))
            result = wrapped(topic, data, NOW)
            assert isinstance(result, Accepted)
            body = any(r.metric in BODY_METRICS for r in result.readings)
            assert any(r.artefact for r in result.readings) == (worn == 0 and body), name
            whole, flagging = alternately_us(
                partial(decode, topic, data, NOW, REGISTRY), partial(wrapped, topic, data, NOW), number
            )
            print(f"{name:<18} {worn:>5.0f} {whole:>8.2f}us {flagging:>11.2f}us {flagging / whole:>5.2f}x")

    pydantic = fhir_resources_parser()
    if pydantic is not None:
        slow = per_call_us(partial(pydantic, OBSERVATION), max(1, number // 20))
        fast = per_call_us(partial(fhir.DECODER.decode, OBSERVATION), number)
        print(f"FHIR Observation: fhir.resources {slow:.1f}us, msgspec {fast:.2f}us: {slow / fast:.0f}x")


if __name__ == "__main__":
    main()
