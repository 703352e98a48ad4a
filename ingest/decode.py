"""Bytes on a topic -> typed rows, or a dead letter with the reason. Pure: no I/O, no clock (the caller passes it).

`decode` dispatches on the topic to one of three formats (docs/protocol.md):

- `carewatch/v1/<site>/<device>/<stream>`: the carewatch protocol, decoded here;
- `carewatch/v1/<site>/<device>/fhir`: FHIR R4 Observations (ingest/fhir.py);
- `zigbee2mqtt/<friendly_name>`: Zigbee2MQTT home sensors (ingest/zigbee.py).

What the three share lives in ingest/validate.py. msgspec decodes straight into typed structs (bench/decode.py
measures it against the standard library).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import numpy as np

from carewatch.catalog import (
    METRIC_BY_NAME,
    Stream,
)
from carewatch.model import AccelRow, DeadLetter, EventRow, ReadingRow
from carewatch.registry import Registry
from ingest import fhir, zigbee
from ingest.validate import (
    MAX_BATCH,
    Accepted,
    Rejected,
    Source,
    check_size,
    check_time,
    dead_letter,
    decode_json,
    event_row,
    reading_row,
)

MAX_BLOCK_SAMPLES = 1000
FLOAT32_MAX = float(np.finfo(np.float32).max)  # accelerometer blocks are stored as float32
TOPIC_PREFIX = "carewatch/v1/"
FHIR_STREAM = "fhir"  # a topic suffix, not a Stream: FHIR Observations name their metrics by LOINC code

NonNegative = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]  # seq is a bigint column


class WireReading(msgspec.Struct):
    metric: str
    value: float
    unit: str
    ts: float | None = None


class ReadingsMessage(msgspec.Struct):
    ts: float
    seq: NonNegative
    readings: Annotated[list[WireReading], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class WireEvent(msgspec.Struct):
    kind: str
    value: float
    ts: float | None = None


class EventMessage(msgspec.Struct):
    ts: float
    seq: NonNegative
    events: Annotated[list[WireEvent], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


Axis = Annotated[list[float], msgspec.Meta(min_length=1, max_length=MAX_BLOCK_SAMPLES)]


class MotionMessage(msgspec.Struct):
    ts: float
    seq: NonNegative
    rate_hz: Annotated[float, msgspec.Meta(ge=1, le=1000)]
    unit: str
    x: Axis
    y: Axis
    z: Axis


StreamMessage = ReadingsMessage | EventMessage | MotionMessage
DECODERS: dict[Stream, msgspec.json.Decoder[StreamMessage]] = {
    Stream.VITALS: msgspec.json.Decoder(ReadingsMessage),
    Stream.STATUS: msgspec.json.Decoder(ReadingsMessage),
    Stream.EVENT: msgspec.json.Decoder(EventMessage),
    Stream.MOTION: msgspec.json.Decoder(MotionMessage),
}
STREAMS = {s.value: s for s in Stream}


def decode(topic: str, payload: bytes, received_at: float, registry: Registry) -> Accepted | DeadLetter:
    """Decode one MQTT message. Never raises for bad input: a rejection comes back as a DeadLetter."""
    try:
        if topic.startswith(zigbee.TOPIC_PREFIX):
            return zigbee.decode_state(topic, payload, received_at, registry)
        return _decode(topic, payload, received_at, registry)
    except Rejected as exc:
        return dead_letter(topic, payload, received_at, exc.reason, exc.detail)


# Shared by the three formats -----------------------------------------------------------------------------------


# The carewatch protocol ------------------------------------------------------------------------------------------


def _decode(topic: str, payload: bytes, received_at: float, registry: Registry) -> Accepted:
    check_size(payload)
    site_id, device_id, stream = _parse_topic(topic)
    device = registry.devices.get(device_id)
    if device is None:
        raise Rejected("unknown_device", f"device {device_id!r} is not registered")
    if device.site_id != site_id:
        raise Rejected("spoofed_topic", f"device {device_id!r} belongs to site {device.site_id!r}, not {site_id!r}")
    source = Source(site_id, device_id, device.resident_id)
    if stream is None:
        return fhir.decode_observations(payload, received_at, source)
    message = decode_json(DECODERS[stream], payload)
    check_time(message.ts, received_at)
    if isinstance(message, ReadingsMessage):
        return Accepted([_reading(r, message, stream, source, received_at) for r in message.readings], [], [])
    if isinstance(message, EventMessage):
        return Accepted([], [_event(e, message, source, received_at) for e in message.events], [])
    return Accepted([], [], [_accel(message, source)])


def _parse_topic(topic: str) -> tuple[str, str, Stream | None]:
    """(site, device, stream); stream None for the FHIR suffix."""
    parts = topic.split("/")
    if (
        len(parts) != 5 or not topic.startswith(TOPIC_PREFIX) or not parts[2] or not parts[3]
        or (parts[4] not in STREAMS and parts[4] != FHIR_STREAM)
    ):  # fmt: skip
        raise Rejected("bad_topic", f"expected carewatch/v1/<site>/<device>/<stream>, got {topic[:200]!r}")
    return parts[2], parts[3], STREAMS.get(parts[4])


def _reading(
    r: WireReading, message: ReadingsMessage, stream: Stream, source: Source, received_at: float
) -> ReadingRow:
    metric = METRIC_BY_NAME.get(r.metric)
    if metric is not None and metric.stream is not stream:
        raise Rejected("wrong_stream", f"{r.metric} belongs on {metric.stream.value}, not {stream.value}")
    ts = message.ts if r.ts is None else check_time(r.ts, received_at)
    return reading_row(source, r.metric, r.value, r.unit, ts, message.seq)


def _event(e: WireEvent, message: EventMessage, source: Source, received_at: float) -> EventRow:
    ts = message.ts if e.ts is None else check_time(e.ts, received_at)
    return event_row(source, e.kind, e.value, ts, message.seq)


def _accel(m: MotionMessage, source: Source) -> AccelRow:
    if m.unit != "g":
        raise Rejected("bad_unit", f"accelerometer axes must be in 'g', got {m.unit[:20]!r}")
    if not len(m.x) == len(m.y) == len(m.z):
        raise Rejected("bad_schema", f"axes of unequal length {len(m.x)}, {len(m.y)}, {len(m.z)}")
    xyz = np.array([m.x, m.y, m.z], dtype=np.float64).T
    if not (np.abs(xyz) <= FLOAT32_MAX).all():  # also False for NaN
        raise Rejected("not_finite", "accelerometer sample is not a finite float32")
    site_id, device_id, resident_id = source
    return AccelRow(m.ts, site_id, device_id, resident_id, m.seq, m.rate_hz, np.ascontiguousarray(xyz, np.float32))
