"""Encoding of the wire protocol (docs/protocol.md): topics and JSON payloads, exactly as devices publish them."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from carewatch.catalog import METRIC_BY_NAME, Stream

PREFIX = "carewatch/v1"


def topic(site_id: str, device_id: str, stream: Stream) -> str:
    return f"{PREFIX}/{site_id}/{device_id}/{stream.value}"


def readings_payload(ts: float, seq: int, values: Mapping[str, float]) -> bytes:
    """A vitals or status message: one reading per metric, each in its canonical unit."""
    readings = [{"metric": m, "value": round(v, 2), "unit": METRIC_BY_NAME[m].unit} for m, v in values.items()]
    return json.dumps({"ts": round(ts, 3), "seq": seq, "readings": readings}).encode()


def event_payload(ts: float, seq: int, kind: str, value: float = 1.0) -> bytes:
    return json.dumps({"ts": round(ts, 3), "seq": seq, "events": [{"kind": kind, "value": value}]}).encode()


def motion_payload(ts: float, seq: int, rate_hz: float, xyz: np.ndarray) -> bytes:
    """An accelerometer block: xyz (n, 3) in g, the first sample at ts."""
    axes = np.round(np.asarray(xyz, dtype=np.float64), 4).T.tolist()
    body = {"ts": round(ts, 3), "seq": seq, "rate_hz": rate_hz, "unit": "g", "x": axes[0], "y": axes[1], "z": axes[2]}
    return json.dumps(body).encode()
