"""The carewatch wire protocol (docs/protocol.md): every accepted shape, every dead-letter reason, and the promise
that no input makes `decode` raise."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pytest

from carewatch.model import DeadLetter, Device, DeviceKind, Resident
from carewatch.registry import Registry
from ingest.decode import decode
from ingest.validate import (
    DEAD_LETTER_DETAIL_CHARS,
    DEAD_LETTER_PAYLOAD_BYTES,
    MAX_FUTURE_S,
    MAX_PAST_S,
    MAX_PAYLOAD_BYTES,
    Accepted,
)

NOW = 1_764_412_800.0  # the server's clock at receipt
SITE = "s1"
VITALS = "carewatch/v1/s1/w1/vitals"
STATUS = "carewatch/v1/s1/w1/status"
EVENT = "carewatch/v1/s1/door1/event"
MOTION = "carewatch/v1/s1/w1/motion"


@pytest.fixture(scope="module")
def registry() -> Registry:
    devices = [
        Device("w1", SITE, DeviceKind.WEARABLE, resident_id="r1"),
        Device("door1", SITE, DeviceKind.DOOR, room="hall"),
        Device("w9", "s2", DeviceKind.WEARABLE, resident_id="r9"),
    ]
    residents = [Resident("r1", SITE, "Ada"), Resident("r9", "s2", "Bea")]
    return Registry(
        devices={d.device_id: d for d in devices},
        by_friendly_name={},
        residents={r.resident_id: r for r in residents},
    )


def payload(body: Any) -> bytes:
    return json.dumps(body).encode()


def vitals(*readings: dict[str, Any], ts: float = NOW, seq: int = 42) -> bytes:
    return payload({"ts": ts, "seq": seq, "readings": list(readings)})


def motion(n: int = 50, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ts": NOW, "seq": 7, "rate_hz": 50, "unit": "g"}
    body |= {"x": [0.01] * n, "y": [-0.98] * n, "z": [0.05] * n}
    return body | overrides


def accepted(topic: str, data: bytes, registry: Registry) -> Accepted:
    result = decode(topic, data, NOW, registry)
    assert isinstance(result, Accepted), result
    return result


def rejected(topic: str, data: bytes, registry: Registry) -> DeadLetter:
    result = decode(topic, data, NOW, registry)
    assert isinstance(result, DeadLetter), result
    return result


# Accepted messages ------------------------------------------------------------------------------------------------


def test_vitals_message_becomes_one_row_per_reading(registry: Registry) -> None:
    data = vitals(
        {"metric": "hr", "value": 72, "unit": "bpm"},
        {"metric": "spo2", "value": 97, "unit": "%"},
        {"metric": "rr", "value": 16, "unit": "/min"},
        {"metric": "sbp", "value": 128, "unit": "mmHg"},
        {"metric": "dbp", "value": 82, "unit": "mmHg"},
        {"metric": "temp", "value": 36.7, "unit": "Cel", "ts": NOW - 5},
    )
    rows = accepted(VITALS, data, registry).readings
    assert [(r.metric, r.value, r.ts) for r in rows] == [
        ("hr", 72, NOW), ("spo2", 97, NOW), ("rr", 16, NOW), ("sbp", 128, NOW), ("dbp", 82, NOW),
        ("temp", 36.7, NOW - 5),
    ]  # fmt: skip
    assert {(r.site_id, r.device_id, r.resident_id, r.seq, r.artefact) for r in rows} == {("s1", "w1", "r1", 42, False)}


def test_batched_samples_keep_their_own_timestamps(registry: Registry) -> None:
    samples = [{"metric": "hr", "value": 70 + i, "unit": "bpm", "ts": NOW - 60 + i * 5} for i in range(12)]
    rows = accepted(VITALS, vitals(*samples, ts=NOW - 60), registry).readings
    assert [(r.ts, r.value) for r in rows] == [(NOW - 60 + i * 5, 70 + i) for i in range(12)]


def test_status_stream_accepts_status_metrics(registry: Registry) -> None:
    data = vitals({"metric": "battery", "value": 83, "unit": "%"}, {"metric": "worn", "value": 1, "unit": "1"})
    rows = accepted(STATUS, data, registry).readings
    assert [(r.metric, r.value) for r in rows] == [("battery", 83), ("worn", 1)]


@pytest.mark.parametrize(
    ("topic", "metric", "fahrenheit", "celsius"),
    [(VITALS, "temp", 98.6, 37.0), (VITALS, "temp", 104.0, 40.0), (STATUS, "room_temp", 68.0, 20.0)],
)
def test_fahrenheit_is_converted_to_celsius(
    registry: Registry, topic: str, metric: str, fahrenheit: float, celsius: float
) -> None:
    (row,) = accepted(topic, vitals({"metric": metric, "value": fahrenheit, "unit": "[degF]"}), registry).readings
    assert row.value == pytest.approx(celsius)
    assert not row.artefact


@pytest.mark.parametrize(
    ("metric", "unit", "value", "artefact"),
    [
        ("hr", "bpm", 20, False),  # the plausible range is inclusive
        ("hr", "bpm", 300, False),
        ("hr", "bpm", 19.9, True),
        ("hr", "bpm", 400, True),
        ("spo2", "%", 101, True),
        ("spo2", "%", 45, True),
        ("temp", "Cel", 50, True),
        ("temp", "[degF]", 120, True),  # 48.9 Cel, judged after conversion
        ("rr", "/min", 0, True),
    ],
)
def test_impossible_values_are_kept_and_flagged_as_artefacts(
    registry: Registry, metric: str, unit: str, value: float, artefact: bool
) -> None:
    (row,) = accepted(VITALS, vitals({"metric": metric, "value": value, "unit": unit}), registry).readings
    assert row.artefact is artefact


def test_event_message(registry: Registry) -> None:
    events = [{"kind": "door", "value": 1}, {"kind": "door", "value": 0, "ts": NOW + 2}]
    data = payload({"ts": NOW, "seq": 9, "events": events})
    rows = accepted(EVENT, data, registry).events
    assert [(e.kind, e.value, e.ts, e.seq) for e in rows] == [("door", 1, NOW, 9), ("door", 0, NOW + 2, 9)]
    assert {(e.site_id, e.device_id, e.resident_id) for e in rows} == {("s1", "door1", None)}


def test_accelerometer_block(registry: Registry) -> None:
    body = motion(n=50)
    body["x"][3] = 2.5
    (block,) = accepted(MOTION, payload(body), registry).accel
    assert (block.ts, block.seq, block.rate_hz, block.resident_id) == (NOW, 7, 50, "r1")
    assert block.xyz.shape == (50, 3)
    assert block.xyz.dtype == np.float32
    assert block.xyz.flags.c_contiguous
    np.testing.assert_allclose(block.xyz[3], [2.5, -0.98, 0.05], rtol=1e-6)


def test_timestamps_at_the_edges_of_the_window_are_accepted(registry: Registry) -> None:
    for ts in (NOW + MAX_FUTURE_S, NOW - MAX_PAST_S):
        accepted(VITALS, vitals({"metric": "hr", "value": 72, "unit": "bpm"}, ts=ts), registry)


def test_payload_of_exactly_the_limit_is_not_oversized(registry: Registry) -> None:
    data = vitals({"metric": "hr", "value": 72, "unit": "bpm"})
    data = data[:-1] + b" " * (MAX_PAYLOAD_BYTES - len(data)) + b"}"
    assert len(data) == MAX_PAYLOAD_BYTES
    accepted(VITALS, data, registry)


# Every dead-letter reason of docs/protocol.md ---------------------------------------------------------------------

HR = {"metric": "hr", "value": 72, "unit": "bpm"}


def raw_hr(value: bytes) -> bytes:
    """A vitals payload with `value` spelled as given (JSON that json.dumps would not write)."""
    return vitals({"metric": "hr", "value": 72, "unit": "bpm"}).replace(b"72", value)


REJECTIONS: list[tuple[str, str, bytes, str]] = [
    # (case, topic, payload, reason)
    ("oversized", VITALS, b" " * (MAX_PAYLOAD_BYTES + 1), "oversized"),
    ("oversized before anything else", "nonsense", b"x" * (MAX_PAYLOAD_BYTES + 1), "oversized"),
    ("other protocol version", "carewatch/v2/s1/w1/vitals", vitals(HR), "bad_topic"),
    ("unknown stream", "carewatch/v1/s1/w1/blood", vitals(HR), "bad_topic"),
    ("too few levels", "carewatch/v1/s1/vitals", vitals(HR), "bad_topic"),
    ("too many levels", "carewatch/v1/s1/w1/vitals/x", vitals(HR), "bad_topic"),
    ("empty site", "carewatch/v1//w1/vitals", vitals(HR), "bad_topic"),
    ("empty device", "carewatch/v1/s1//vitals", vitals(HR), "bad_topic"),
    ("other prefix", "other/v1/s1/w1/vitals", vitals(HR), "bad_topic"),
    ("truncated", VITALS, vitals(HR)[:-3], "malformed_json"),
    ("empty payload", VITALS, b"", "malformed_json"),
    ("NaN literal", VITALS, raw_hr(b"NaN"), "malformed_json"),
    ("Infinity literal", VITALS, b'{"ts": Infinity, "seq": 1, "readings": []}', "malformed_json"),
    ("trailing garbage", VITALS, vitals(HR) + b"}", "malformed_json"),
    ("not UTF-8", VITALS, b'{"ts": 1, "seq": 1, "readings": [{"metric": "\xff"}]}', "malformed_json"),
    ("missing ts", VITALS, payload({"seq": 1, "readings": [HR]}), "bad_schema"),
    ("missing seq", VITALS, payload({"ts": NOW, "readings": [HR]}), "bad_schema"),
    ("missing readings", VITALS, payload({"ts": NOW, "seq": 1}), "bad_schema"),
    ("missing unit", VITALS, vitals({"metric": "hr", "value": 72}), "bad_schema"),
    ("value as string", VITALS, vitals({"metric": "hr", "value": "72", "unit": "bpm"}), "bad_schema"),
    ("value as bool", VITALS, vitals({"metric": "hr", "value": True, "unit": "bpm"}), "bad_schema"),
    ("ts as string", VITALS, payload({"ts": "2025-11-29T10:40:00Z", "seq": 1, "readings": [HR]}), "bad_schema"),
    ("negative seq", VITALS, vitals(HR, seq=-1), "bad_schema"),
    ("seq beyond bigint", VITALS, vitals(HR, seq=2**63), "bad_schema"),
    ("fractional seq", VITALS, payload({"ts": NOW, "seq": 1.5, "readings": [HR]}), "bad_schema"),
    ("array, not object", VITALS, payload([HR]), "bad_schema"),
    ("empty batch", VITALS, vitals(), "bad_schema"),
    ("empty event batch", EVENT, payload({"ts": NOW, "seq": 1, "events": []}), "bad_schema"),
    ("batch too long", VITALS, vitals(*[{"metric": "hr", "value": 7, "unit": "bpm"}] * 1001), "bad_schema"),
    ("unknown metric", VITALS, vitals({"metric": "glucose", "value": 5, "unit": "mmol/L"}), "bad_schema"),
    ("unknown event kind", EVENT, payload({"ts": NOW, "seq": 1, "events": [{"kind": "doorbell", "value": 1}]}),
     "bad_schema"),
    ("unequal axes", MOTION, payload(motion(y=[0.0] * 49)), "bad_schema"),
    ("empty axes", MOTION, payload(motion(n=0)), "bad_schema"),
    ("block too long", MOTION, payload(motion(n=1001)), "bad_schema"),
    ("rate out of range", MOTION, payload(motion(rate_hz=0)), "bad_schema"),
    ("value overflows to inf", VITALS, raw_hr(b"1e400"), "not_finite"),
    ("negative overflow", VITALS, raw_hr(b"-1e400"), "not_finite"),
    ("ts overflows", VITALS, b'{"ts": 1e400, "seq": 1, "readings": [{"metric": "hr", "value": 1, "unit": "bpm"}]}',
     "not_finite"),
    ("event value overflows", EVENT, b'{"ts": 1764412800, "seq": 1, "events": [{"kind": "door", "value": 1e999}]}',
     "not_finite"),
    ("event value not 1 or 0", EVENT, payload({"ts": NOW, "seq": 1, "events": [{"kind": "door", "value": 0.7}]}),
     "bad_schema"),
    ("event value negative", EVENT, payload({"ts": NOW, "seq": 1, "events": [{"kind": "bed", "value": -3}]}),
     "bad_schema"),
    ("event value huge", EVENT, payload({"ts": NOW, "seq": 1, "events": [{"kind": "door", "value": 1e300}]}),
     "bad_schema"),
    ("nested a thousand deep", VITALS, b'{"ts": 1, "seq": 1, "x": ' + b"[" * 1000 + b"]" * 1000 + b"}",
     "malformed_json"),
    ("axis sample overflows", MOTION, payload(motion(n=2, x=[0.0, 7.0])).replace(b"7.0", b"1e400"), "not_finite"),
    ("axis sample beyond float32", MOTION, payload(motion(n=2, x=[0.0, 1e39])), "not_finite"),
    ("hr in /min", VITALS, vitals({"metric": "hr", "value": 72, "unit": "/min"}), "bad_unit"),
    ("temp in kelvin", VITALS, vitals({"metric": "temp", "value": 310, "unit": "K"}), "bad_unit"),
    ("hr in [degF]", VITALS, vitals({"metric": "hr", "value": 72, "unit": "[degF]"}), "bad_unit"),
    ("axes in m/s2", MOTION, payload(motion(unit="m/s2")), "bad_unit"),
    ("future", VITALS, vitals(HR, ts=NOW + MAX_FUTURE_S + 1), "ts_out_of_range"),
    ("a minute and more ahead", VITALS, vitals(HR, ts=NOW + 61), "ts_out_of_range"),
    ("past", VITALS, vitals(HR, ts=NOW - MAX_PAST_S - 1), "ts_out_of_range"),
    ("epoch in ms", VITALS, vitals(HR, ts=NOW * 1000), "ts_out_of_range"),
    ("reading ts in the future", VITALS, vitals(HR | {"ts": NOW + 3600}), "ts_out_of_range"),
    ("reading ts in the past", VITALS, vitals(HR | {"ts": NOW - MAX_PAST_S - 60}), "ts_out_of_range"),
    ("event ts in the past", EVENT, payload({"ts": NOW, "seq": 1, "events": [{"kind": "door", "value": 1, "ts": 0}]}),
     "ts_out_of_range"),
    ("motion block in the future", MOTION, payload(motion(ts=NOW + 86400)), "ts_out_of_range"),
    ("unknown device", "carewatch/v1/s1/w404/vitals", vitals(HR), "unknown_device"),
    ("another site's device", "carewatch/v1/s1/w9/vitals", vitals(HR), "spoofed_topic"),
    ("own device, other site", "carewatch/v1/s2/w1/vitals", vitals(HR), "spoofed_topic"),
    ("status metric on vitals", VITALS, vitals({"metric": "battery", "value": 80, "unit": "%"}), "wrong_stream"),
    ("vital on status", STATUS, vitals(HR), "wrong_stream"),
]  # fmt: skip


@pytest.mark.parametrize(("topic", "data", "reason"), [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS])
def test_rejections_carry_their_reason(registry: Registry, topic: str, data: bytes, reason: str) -> None:
    letter = rejected(topic, data, registry)
    assert letter.reason == reason, letter.detail
    assert letter.detail


def test_every_documented_reason_is_covered() -> None:
    documented = {
        "oversized", "bad_topic", "malformed_json", "bad_schema", "not_finite", "bad_unit", "ts_out_of_range",
        "unknown_device", "spoofed_topic", "wrong_stream",
    }  # fmt: skip
    assert {reason for *_, reason in REJECTIONS} == documented


def test_dead_letter_keeps_topic_time_and_a_truncated_payload(registry: Registry) -> None:
    data = vitals(*[{"metric": "glucose", "value": i, "unit": "mmol/L"} for i in range(100)])
    letter = rejected(VITALS, data, registry)
    assert (letter.received_at, letter.topic, letter.reason) == (NOW, VITALS, "bad_schema")
    assert letter.payload == data[:DEAD_LETTER_PAYLOAD_BYTES]
    assert letter.payload_size == len(data) > DEAD_LETTER_PAYLOAD_BYTES
    assert "glucose" in letter.detail


def test_dead_letter_detail_is_bounded_and_free_of_nul(registry: Registry) -> None:
    letter = rejected(VITALS, vitals({"metric": "\x00" * 40, "value": 1, "unit": "x"}), registry)
    assert "\x00" not in letter.detail
    oversized_topic = "carewatch/v1/" + "s" * 5000 + "/w1/vitals"
    letter = rejected(oversized_topic, vitals(HR), registry)
    assert len(letter.detail) <= DEAD_LETTER_DETAIL_CHARS


def test_one_bad_reading_rejects_the_whole_message(registry: Registry) -> None:
    letter = rejected(VITALS, vitals(HR, {"metric": "hr", "value": 72, "unit": "bpm", "ts": NOW + 3600}), registry)
    assert letter.reason == "ts_out_of_range"


# Nothing crashes --------------------------------------------------------------------------------------------------

VALID = [
    (VITALS, vitals(HR, {"metric": "temp", "value": 98.6, "unit": "[degF]", "ts": NOW - 1})),
    (EVENT, payload({"ts": NOW, "seq": 1, "events": [{"kind": "door", "value": 1}]})),
    (MOTION, payload(motion(n=20))),
    ("zigbee2mqtt/hall", b'{"occupancy": true, "temperature": 21.5, "battery": 90, "linkquality": 120}'),
    (
        "carewatch/v1/s1/w1/fhir",
        payload({
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "effectiveDateTime": "2025-11-29T11:40:00+01:00",
            "valueQuantity": {"value": 72, "system": "http://unitsofmeasure.org", "code": "/min"},
        }),
    ),
]  # fmt: skip
JUNK = [b"", b"{", b"}", b"[]", b"null", b"0", b'"', b"\xff\xfe", b"1e400", b"-", b'{"":', b"\x00", b"NaN", b"true"]


def mutations(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    """Byte flips, insertions of JSON-significant junk, truncations, and type swaps of a valid payload."""
    out = []
    for _ in range(count):
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(4)
            i = rng.randrange(len(b) + 1)
            if op == 0 and b:
                b[min(i, len(b) - 1)] = rng.randrange(256)
            elif op == 1:
                b[i:i] = rng.choice(JUNK)
            elif op == 2:
                del b[i:]
            else:
                b = bytearray(bytes(b).replace(rng.choice([b"72", b"true", b"1", b"0.01"]), rng.choice(JUNK), 1))
        out.append(bytes(b))
    return out


def test_no_input_makes_decode_raise(registry: Registry) -> None:
    zigbee = Registry(
        devices=registry.devices,
        by_friendly_name={"hall": Device("pir1", SITE, DeviceKind.MOTION, room="hall", friendly_name="hall")},
        residents=registry.residents,
    )
    rng = random.Random(20251129)
    reasons: set[str] = set()
    for topic, data in VALID:
        assert isinstance(decode(topic, data, NOW, zigbee), Accepted)
        for bad in mutations(data, rng, 400) + JUNK:
            result = decode(topic, bad, NOW, zigbee)
            assert isinstance(result, Accepted | DeadLetter)
            if isinstance(result, DeadLetter):
                assert result.reason != "decoder_error"
                reasons.add(result.reason)
    assert {"malformed_json", "bad_schema"} <= reasons
