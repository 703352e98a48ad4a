"""What the three ingest formats share: the rejection, the size and time limits, and the row builders that apply the
catalogue (known metric or event kind, finite value, canonical unit or Fahrenheit converted, plausible range ->
artefact flag). Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import msgspec

from carewatch.catalog import EVENT_ID, FAHRENHEIT, FAHRENHEIT_CONVERTIBLE, METRIC_BY_NAME, fahrenheit_to_celsius
from carewatch.model import AccelRow, DeadLetter, EventRow, ReadingRow

MAX_PAYLOAD_BYTES = 64 * 1024  # 1 s of 3-axis samples at 1 kHz is ~40 KiB of JSON; anything larger is not a device
DEAD_LETTER_PAYLOAD_BYTES = 1024  # enough to see what was wrong, bounded so a flood cannot fill the disk
DEAD_LETTER_DETAIL_CHARS = 500
# A device synchronised by NTP (or through its phone or gateway) is within a second; an unsynchronised watch drifts a
# few seconds a day. Further ahead, its clock is wrong. The bound is also how long one accepted reading from ahead of
# time can hide its resident's readings behind it from the rules (each drops what is not newer than it has seen).
MAX_FUTURE_S = 60
MAX_PAST_S = 7 * 24 * 3600  # a gateway may flush a week's backlog after an outage; older is history import
MAX_BATCH = 1000  # readings or events in one message; 64 KiB holds ~900 readings, so the size limit bites first

T = TypeVar("T")


class Rejected(Exception):
    """Raised anywhere below `decode` for bad input; `decode` turns it into a DeadLetter."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Source(NamedTuple):
    """Who a message's rows belong to, from the registry (never from the payload)."""

    site_id: str
    device_id: str
    resident_id: str | None


@dataclass(frozen=True, slots=True)
class Accepted:
    readings: list[ReadingRow]
    events: list[EventRow]
    accel: list[AccelRow]


def dead_letter(topic: str, payload: bytes, received_at: float, reason: str, detail: str) -> DeadLetter:
    detail = detail.replace("\x00", "\\x00")[:DEAD_LETTER_DETAIL_CHARS]  # PostgreSQL text cannot hold NUL
    return DeadLetter(received_at, topic, reason, detail, bytes(payload[:DEAD_LETTER_PAYLOAD_BYTES]), len(payload))


def check_size(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Rejected("oversized", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")


def decode_json(decoder: msgspec.json.Decoder[T], payload: bytes) -> T:
    """Decode into typed structs; the reason tells unparseable JSON from the wrong shape."""
    try:
        return decoder.decode(payload)
    except msgspec.ValidationError as exc:
        # JSON has no NaN or infinity; a number beyond float range (1e400) is the only way to send one
        reason = "not_finite" if str(exc).startswith("Number out of range") else "bad_schema"
        raise Rejected(reason, str(exc)) from None
    except msgspec.DecodeError as exc:
        raise Rejected("malformed_json", str(exc)) from None
    except RecursionError:  # arrays or objects nested about a thousand deep: no message of ours nests more than 3
        raise Rejected("malformed_json", "nested too deeply") from None


def check_time(ts: float, received_at: float) -> float:
    """``ts`` within the bounds around ``received_at``: the platform's clock, the wall clock live or the newest
    accepted data time on the data clock (ingest/clock.py); the bounds are the same on both."""
    if not math.isfinite(ts):
        raise Rejected("not_finite", "ts is not a finite number")
    if ts > received_at + MAX_FUTURE_S or ts < received_at - MAX_PAST_S:
        raise Rejected("ts_out_of_range", f"ts {ts} is {ts - received_at:+.0f} s from the platform's clock")
    return ts


def reading_row(source: Source, metric_name: str, value: float, unit: str, ts: float, seq: int) -> ReadingRow:
    """A reading in the catalogue's terms: known metric, finite, canonical unit (or [degF], converted), flagged as
    an artefact outside the plausible range. `ts` must already be checked."""
    metric = METRIC_BY_NAME.get(metric_name)
    if metric is None:
        raise Rejected("bad_schema", f"unknown metric {metric_name[:40]!r}")
    if not math.isfinite(value):
        raise Rejected("not_finite", f"{metric_name} is not a finite number")
    if unit != metric.unit:
        if unit == FAHRENHEIT and metric_name in FAHRENHEIT_CONVERTIBLE:
            value = fahrenheit_to_celsius(value)
        else:
            raise Rejected("bad_unit", f"{metric_name} must be in {metric.unit!r}, got {unit[:20]!r}")
    artefact = not metric.low <= value <= metric.high
    return ReadingRow(ts, source.site_id, source.device_id, source.resident_id, metric_name, value, seq, artefact)


def event_row(source: Source, kind: str, value: float, ts: float, seq: int) -> EventRow:
    if kind not in EVENT_ID:
        raise Rejected("bad_schema", f"unknown event kind {kind[:40]!r}")
    if not math.isfinite(value):
        raise Rejected("not_finite", f"{kind} value is not a finite number")
    if value not in (0.0, 1.0):
        raise Rejected("bad_schema", f"{kind} value must be 1 or 0, not {value:g}")
    return EventRow(ts, source.site_id, source.device_id, source.resident_id, kind, value, seq)
