"""Bytes on a topic -> typed rows, or a dead letter with the reason. Pure: no I/O, no clock (the caller passes it).

The wire protocol is docs/protocol.md. msgspec decodes straight into typed structs (bench/ingest measures it against
the standard library).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import msgspec
import numpy as np

from carewatch.catalog import FAHRENHEIT, FAHRENHEIT_CONVERTIBLE, METRIC_BY_NAME, EVENT_ID, Stream, fahrenheit_to_celsius
from carewatch.model import AccelRow, DeadLetter, EventRow, ReadingRow
from carewatch.registry import Registry

MAX_PAYLOAD_BYTES = 64 * 1024  # 1 s of 3-axis samples at 1 kHz is ~40 KiB of JSON; anything larger is not a device
DEAD_LETTER_PAYLOAD_BYTES = 1024  # enough to see what was wrong, bounded so a flood cannot fill the disk
MAX_FUTURE_S = 5 * 60  # device clocks drift; beyond this the clock is wrong, not the reading late
MAX_PAST_S = 7 * 24 * 3600  # a gateway may flush a week's backlog after an outage; older is history import
MAX_BLOCK_SAMPLES = 1000
TOPIC_PREFIX = "carewatch/v1/"

NonNegative = Annotated[int, msgspec.Meta(ge=0)]


class WireReading(msgspec.Struct):
    metric: str
    value: float
    unit: str
    ts: float | None = None


class ReadingsMessage(msgspec.Struct):
    ts: float
    seq: NonNegative
    readings: Annotated[list[WireReading], msgspec.Meta(min_length=1, max_length=1000)]


class WireEvent(msgspec.Struct):
    kind: str
    value: float
    ts: float | None = None


class EventMessage(msgspec.Struct):
    ts: float
    seq: NonNegative
    events: Annotated[list[WireEvent], msgspec.Meta(min_length=1, max_length=1000)]


Axis = Annotated[list[float], msgspec.Meta(min_length=1, max_length=MAX_BLOCK_SAMPLES)]


class MotionMessage(msgspec.Struct):
    ts: float
    seq: NonNegative
    rate_hz: Annotated[float, msgspec.Meta(ge=1, le=1000)]
    unit: str
    x: Axis
    y: Axis
    z: Axis


DECODERS = {
    Stream.VITALS: msgspec.json.Decoder(ReadingsMessage),
    Stream.STATUS: msgspec.json.Decoder(ReadingsMessage),
    Stream.EVENT: msgspec.json.Decoder(EventMessage),
    Stream.MOTION: msgspec.json.Decoder(MotionMessage),
}
STREAMS = {s.value: s for s in Stream}


class Rejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Accepted:
    readings: list[ReadingRow]
    events: list[EventRow]
    accel: list[AccelRow]


def decode(topic: str, payload: bytes, received_at: float, registry: Registry) -> Accepted | DeadLetter:
    """Decode one MQTT message. Never raises for bad input: a rejection comes back as a DeadLetter."""
    try:
        return _decode(topic, payload, received_at, registry)
    except Rejected as exc:
        return dead_letter(topic, payload, received_at, exc.reason, exc.detail)


def dead_letter(topic: str, payload: bytes, received_at: float, reason: str, detail: str) -> DeadLetter:
    return DeadLetter(received_at, topic, reason, detail[:500], bytes(payload[:DEAD_LETTER_PAYLOAD_BYTES]), len(payload))


def _decode(topic: str, payload: bytes, received_at: float, registry: Registry) -> Accepted:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected("oversized", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    site_id, device_id, stream = _parse_topic(topic)
    device = registry.devices.get(device_id)
    if device is None:
        raise Rejected("unknown_device", f"device {device_id!r} is not registered")
    if device.site_id != site_id:
        raise Rejected("spoofed_topic", f"device {device_id!r} belongs to site {device.site_id!r}, not {site_id!r}")
    try:
        message = DECODERS[stream].decode(payload)
    except msgspec.ValidationError as exc:
        raise Rejected("bad_schema", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise Rejected("malformed_json", str(exc)) from None
    _check_time(message.ts, received_at)
    resident_id = device.resident_id
    if isinstance(message, ReadingsMessage):
        rows = [_reading(r, message, stream, site_id, device_id, resident_id, received_at) for r in message.readings]
        return Accepted(rows, [], [])
    if isinstance(message, EventMessage):
        events = [_event(e, message, site_id, device_id, resident_id, received_at) for e in message.events]
        return Accepted([], events, [])
    return Accepted([], [], [_accel(message, site_id, device_id, resident_id)])


def _parse_topic(topic: str) -> tuple[str, str, Stream]:
    parts = topic.split("/")
    if len(parts) != 5 or not topic.startswith(TOPIC_PREFIX) or parts[4] not in STREAMS or not parts[2] or not parts[3]:
        raise Rejected("bad_topic", f"expected carewatch/v1/<site>/<device>/<stream>, got {topic[:200]!r}")
    return parts[2], parts[3], STREAMS[parts[4]]


def _check_time(ts: float, received_at: float) -> None:
    if not math.isfinite(ts):
        raise Rejected("not_finite", "ts is not a finite number")
    if ts > received_at + MAX_FUTURE_S or ts < received_at - MAX_PAST_S:
        raise Rejected("ts_out_of_range", f"ts {ts} is {ts - received_at:+.0f} s from the server's clock")


def _reading(
    r: WireReading, message: ReadingsMessage, stream: Stream, site_id: str, device_id: str,
    resident_id: str | None, received_at: float,
) -> ReadingRow:  # fmt: skip
    metric = METRIC_BY_NAME.get(r.metric)
    if metric is None:
        raise Rejected("bad_schema", f"unknown metric {r.metric[:40]!r}")
    if metric.stream is not stream:
        raise Rejected("wrong_stream", f"{r.metric} belongs on {metric.stream.value}, not {stream.value}")
    value = r.value
    if not math.isfinite(value):
        raise Rejected("not_finite", f"{r.metric} is not a finite number")
    if r.unit != metric.unit:
        if r.unit == FAHRENHEIT and r.metric in FAHRENHEIT_CONVERTIBLE:
            value = fahrenheit_to_celsius(value)
        else:
            raise Rejected("bad_unit", f"{r.metric} must be in {metric.unit!r}, got {r.unit[:20]!r}")
    ts = message.ts
    if r.ts is not None:
        _check_time(r.ts, received_at)
        ts = r.ts
    artefact = not metric.low <= value <= metric.high
    return ReadingRow(ts, site_id, device_id, resident_id, r.metric, value, message.seq, artefact)


def _event(
    e: WireEvent, message: EventMessage, site_id: str, device_id: str, resident_id: str | None, received_at: float
) -> EventRow:
    if e.kind not in EVENT_ID:
        raise Rejected("bad_schema", f"unknown event kind {e.kind[:40]!r}")
    if not math.isfinite(e.value):
        raise Rejected("not_finite", f"{e.kind} value is not a finite number")
    ts = message.ts
    if e.ts is not None:
        _check_time(e.ts, received_at)
        ts = e.ts
    return EventRow(ts, site_id, device_id, resident_id, e.kind, e.value, message.seq)


def _accel(m: MotionMessage, site_id: str, device_id: str, resident_id: str | None) -> AccelRow:
    if m.unit != "g":
        raise Rejected("bad_unit", f"accelerometer axes must be in 'g', got {m.unit[:20]!r}")
    if not len(m.x) == len(m.y) == len(m.z):
        raise Rejected("bad_schema", f"axes of unequal length {len(m.x)}, {len(m.y)}, {len(m.z)}")
    xyz = np.array([m.x, m.y, m.z], dtype=np.float32).T
    if not np.isfinite(xyz).all():
        raise Rejected("not_finite", "accelerometer sample is not a finite number")
    return AccelRow(m.ts, site_id, device_id, resident_id, m.seq, m.rate_hz, np.ascontiguousarray(xyz))
