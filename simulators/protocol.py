"""Encoding of the wire protocol (docs/protocol.md): topics and JSON payloads, exactly as devices publish them.

Payloads are compact JSON (msgspec, about 4 us for a vitals message, 9 us for a 25-sample accelerometer block);
whole-number values are written as integers, as devices report them. The same inputs give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import msgspec
import numpy as np
import numpy.typing as npt

from carewatch.catalog import METRIC_BY_NAME, Stream

PREFIX = "carewatch/v1"
VALUE_DECIMALS = 2  # readings: finer than any device reports
ACCEL_DECIMALS = 3  # 1 mg: finer than a +-16 g MEMS accelerometer's 3.9 mg resolution
TS_DECIMALS = 3

_encode = msgspec.json.Encoder().encode


def topic(site_id: str, device_id: str, stream: Stream) -> str:
    return f"{PREFIX}/{site_id}/{device_id}/{stream.value}"


def number(value: float, decimals: int = VALUE_DECIMALS) -> float | int:
    """``value`` rounded, as an int when whole (``72`` rather than ``72.0``)."""
    rounded = round(float(value), decimals)
    return int(rounded) if rounded.is_integer() else rounded


def readings_payload(ts: float, seq: int, values: Mapping[str, float]) -> bytes:
    """A vitals or status message: one reading per metric, each in its canonical unit."""
    return units_payload(ts, seq, [(m, v, None) for m, v in values.items()])


def units_payload(ts: float, seq: int, readings: Iterable[tuple[str, float, str | None]]) -> bytes:
    """A vitals or status message of (metric, value, unit) readings; a unit of None is the metric's canonical one."""
    body = [{"metric": m, "value": number(v), "unit": u or METRIC_BY_NAME[m].unit} for m, v, u in readings]
    return _encode({"ts": round(ts, TS_DECIMALS), "seq": seq, "readings": body})


def readings_payloads(ts: float, seqs: Sequence[int], metrics: Sequence[str], values: npt.NDArray[np.float64],
                      present: npt.NDArray[np.bool_] | None = None) -> list[bytes]:  # fmt: skip
    """``m`` messages at one ``ts``: row ``i`` of ``values`` ``(m, k)`` holds the ``k`` ``metrics`` of message ``i``;
    where ``present`` ``(m, k)`` is False the reading is left out."""
    units = [METRIC_BY_NAME[m].unit for m in metrics]
    rounded = np.round(values, VALUE_DECIMALS)
    keep = np.ones(rounded.shape, bool) if present is None else present
    ts = round(ts, TS_DECIMALS)
    out = []
    for seq, row, mask in zip(seqs, rounded.tolist(), keep.tolist(), strict=True):
        readings = [{"metric": m, "value": int(v) if v.is_integer() else v, "unit": u}
                    for m, v, u, k in zip(metrics, row, units, mask, strict=True) if k]  # fmt: skip
        out.append(_encode({"ts": ts, "seq": seq, "readings": readings}))
    return out


def event_payload(ts: float, seq: int, kind: str, value: float = 1.0) -> bytes:
    return events_payload(ts, seq, [(kind, value, None)])


def events_payload(ts: float, seq: int, events: Iterable[tuple[str, float, float | None]]) -> bytes:
    """An event message; each event is (kind, value, its own ts or None for the message's)."""
    body = [
        {"kind": k, "value": number(v)} | ({} if t is None else {"ts": round(t, TS_DECIMALS)}) for k, v, t in events
    ]
    return _encode({"ts": round(ts, TS_DECIMALS), "seq": seq, "events": body})


def motion_payload(ts: float, seq: int, rate_hz: float, xyz: np.ndarray) -> bytes:
    """An accelerometer block: xyz (n, 3) in g, the first sample at ts."""
    return motion_payloads(ts, [seq], rate_hz, np.asarray(xyz, dtype=np.float64)[None])[0]


def motion_payloads(ts: float, seqs: Sequence[int], rate_hz: float, blocks: npt.NDArray[np.float64]) -> list[bytes]:
    """``m`` accelerometer blocks ``(m, n, 3)`` in g starting at ``ts``, one message each."""
    axes = np.round(blocks, ACCEL_DECIMALS).transpose(0, 2, 1).tolist()
    rate = number(rate_hz)
    ts = round(ts, TS_DECIMALS)
    return [_encode({"ts": ts, "seq": seq, "rate_hz": rate, "unit": "g", "x": x, "y": y, "z": z})
            for seq, (x, y, z) in zip(seqs, axes, strict=True)]  # fmt: skip
