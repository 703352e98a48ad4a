"""Vital signs sent while the wearable reports itself off the body are stored flagged as artefacts.

An optical sensor off the wrist reads noise, and some wearables keep sending it. The alert core drops these
readings (alerts/signals.py, "Sensor off"); flagging them as they are stored keeps them out of everything that reads
history too: the charts, the settling-in review of a resident's usual values, the restart rebuild's baselines.

The rule is the alert core's, applied to each message as it arrives: a body reading (`BODY_METRICS`) of a wearable
is off the body when its own device's latest ``worn`` reading at or before it (of this message, the highest value at
one instant; else the newest one seen before) is below 0.5. The state is per device, not per resident: a resident
may have two wearables (a watch and a pendant), and one on its charger says nothing about the other. A device never
reported counts as worn. Implausible ``worn`` values (already artefacts) say nothing. Messages arriving in time order
get exactly the core's answer; a ``worn`` reading arriving after readings it would have covered does not flag them
afterwards (the core, which sees them in one batch, may drop them). The state is one (time, value) per device,
seeded from storage at start-up (``Store.latest_device_readings("worn", since)``).

Runs on paho's thread only (the decoder), so it needs no lock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from carewatch.catalog import BODY_METRICS
from carewatch.model import DeadLetter, DeviceKind, ReadingRow
from carewatch.registry import Registry
from ingest.clock import Decode
from ingest.metrics import IngestMetrics
from ingest.validate import Accepted

NEVER = (-math.inf, math.nan)  # (ts, worn) of a device never reported: NaN counts as worn


class SensorOff:
    def __init__(self, registry: Registry, metrics: IngestMetrics | None = None) -> None:
        self._registry = registry
        self._metrics = metrics
        self._worn: dict[str, tuple[float, float]] = {}  # device_id -> (ts, value) of the newest worn reading
        self._off: set[str] = set()  # the devices whose newest worn reading says off the body

    def seed(self, latest: dict[str, tuple[float, float]]) -> None:
        """Each device's newest stored ``worn`` reading (``Store.latest_device_readings``), for a restart."""
        for device_id, (ts, value) in latest.items():
            self._keep(device_id, ts, value)

    def decoding(self, decode: Decode) -> Decode:
        """``decode(topic, payload, received_at)`` with the body readings of a wearable off the body flagged."""

        def decode_flagging_sensor_off(topic: str, payload: bytes, received_at: float) -> Accepted | DeadLetter:
            item = decode(topic, payload, received_at)
            return self.flag(item) if isinstance(item, Accepted) and item.readings else item

        return decode_flagging_sensor_off

    def flag(self, accepted: Accepted) -> Accepted:
        """``accepted`` with its off-body readings flagged (the same object when there are none)."""
        rows = accepted.readings
        worn = _worn_readings(rows)
        # Most messages: no worn reading, and their device is worn; nothing to look at row by row
        maybe_off = worn or (self._off and any(row.device_id in self._off for row in rows))
        flagged = [self._flagged(row, worn) for row in rows] if maybe_off else rows
        for device_id, values in worn.items():
            self._keep(device_id, *values[-1])
        count = sum(new is not old for new, old in zip(flagged, rows, strict=True)) if maybe_off else 0
        if count == 0:
            return accepted
        if self._metrics is not None:
            self._metrics.sensor_off.inc(count)
        return Accepted(flagged, accepted.events, accepted.accel)

    def _flagged(self, row: ReadingRow, worn: dict[str, list[tuple[float, float]]]) -> ReadingRow:
        if row.artefact or row.metric not in BODY_METRICS:
            return row
        device = self._registry.devices.get(row.device_id)
        if device is None or device.kind is not DeviceKind.WEARABLE:
            return row
        return row._replace(artefact=True) if self._worn_at(row.device_id, row.ts, worn) < 0.5 else row

    def _worn_at(self, device_id: str, ts: float, worn: dict[str, list[tuple[float, float]]]) -> float:
        before = [value for at, value in worn.get(device_id, ()) if at <= ts]
        return before[-1] if before else self._worn.get(device_id, NEVER)[1]

    def _keep(self, device_id: str, ts: float, value: float) -> None:
        if ts >= self._worn.get(device_id, NEVER)[0]:
            self._worn[device_id] = (ts, value)
            if value < 0.5:
                self._off.add(device_id)
            else:
                self._off.discard(device_id)


def _worn_readings(rows: Iterable[ReadingRow]) -> dict[str, list[tuple[float, float]]]:
    """device_id -> the message's plausible worn readings (ts, value), in time order (the highest value last at one
    instant)."""
    worn: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        if row.metric == "worn" and not row.artefact:
            worn.setdefault(row.device_id, []).append((row.ts, row.value))
    for values in worn.values():
        values.sort()
    return worn
