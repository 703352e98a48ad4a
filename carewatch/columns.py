"""A batch's rows in columns, as the alert core reads them (alerts.frame).

Ingest appends each accepted message's rows to the columns of the batch being filled (ingest.batcher, on the
reader's thread, right after decoding, while the rows are in the CPU cache), so the alert core never takes row
tuples apart, looks up ids by name or joins accelerometer blocks. The row lists stay: the storage writer copies
them to the database.

Devices and residents are numbered process-wide (`DEVICE_NUMBERS`, `RESIDENT_NUMBERS`): ids in first-seen
order, numbers never reused, as many as there are ids ever registered or received from registered devices. The
alert core maps a number to its own position with one array gather (alerts.residents).
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterable, Sequence

import numpy as np

from carewatch.catalog import EVENT_ID, METRIC_ID
from carewatch.model import AccelRow, Batch, EventRow, ReadingRow

NOBODY = -1  # the number of an absent id (a shared sensor's row names no resident)


class Numbers:
    """Dense numbers for ids, in first-seen order; thread-safe (ingest's reader and the alert core both ask)."""

    def __init__(self) -> None:
        self._number: dict[str, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._number)

    def of(self, id_: str | None) -> int:
        """The number of ``id_``; `NOBODY` for None or an empty id."""
        if not id_:
            return NOBODY
        number = self._number.get(id_)
        if number is None:
            with self._lock:
                number = self._number.setdefault(id_, len(self._number))
        return number

    def many(self, ids: Iterable[str | None]) -> np.ndarray:
        """(n,) int64 numbers of ``ids``."""
        return np.fromiter(map(self.of, ids), np.int64)


DEVICE_NUMBERS = Numbers()
RESIDENT_NUMBERS = Numbers()


class Columns:
    """Append-only columns of one batch, filled one message at a time.

    Readings: ts, value, metric (catalogue id), artefact per row, and per message its row count (``reading_rows``)
    and its device's and resident's numbers. Events: ts, value, kind per row; rows, device, resident per message.
    Accelerometer blocks: ts (first sample), rate, count, device, resident per block, and ``samples``: all blocks'
    float32 x, y, z interleaved, block after block, in arrival order.
    """

    __slots__ = (
        "accel_count",
        "accel_device",
        "accel_rate",
        "accel_resident",
        "accel_ts",
        "event_device",
        "event_kind",
        "event_resident",
        "event_rows",
        "event_ts",
        "event_value",
        "reading_artefact",
        "reading_device",
        "reading_metric",
        "reading_resident",
        "reading_rows",
        "reading_ts",
        "reading_value",
        "samples",
    )

    def __init__(self) -> None:
        self.reading_ts, self.reading_value = array("d"), array("d")
        self.reading_metric, self.reading_artefact = array("h"), array("b")
        self.reading_rows, self.reading_device, self.reading_resident = array("q"), array("q"), array("q")
        self.event_ts, self.event_value, self.event_kind = array("d"), array("d"), array("h")
        self.event_rows, self.event_device, self.event_resident = array("q"), array("q"), array("q")
        self.accel_ts, self.accel_rate, self.accel_count = array("d"), array("d"), array("q")
        self.accel_device, self.accel_resident = array("q"), array("q")
        self.samples = array("f")

    def add(self, readings: Sequence[ReadingRow], events: Sequence[EventRow], accel: Sequence[AccelRow]) -> None:
        """Append the rows of one message. They are one device's, about one resident: ingest's decoders build every
        row of a message from its source (ingest.validate.Source), so the ids are numbered once per message."""
        first = readings[0] if readings else events[0] if events else accel[0] if accel else None
        if first is None:
            return
        device, resident = DEVICE_NUMBERS.of(first.device_id), RESIDENT_NUMBERS.of(first.resident_id)
        if readings:
            ts, _, _, _, metrics, values, _, artefacts = zip(*readings, strict=True)
            self.reading_ts.extend(ts)
            self.reading_value.extend(values)
            self.reading_metric.extend(map(METRIC_ID.__getitem__, metrics))
            self.reading_artefact.extend(artefacts)
            self.reading_rows.append(len(readings))
            self.reading_device.append(device)
            self.reading_resident.append(resident)
        if events:
            ts, _, _, _, kinds, values, _ = zip(*events, strict=True)
            self.event_ts.extend(ts)
            self.event_value.extend(values)
            self.event_kind.extend(map(EVENT_ID.__getitem__, kinds))
            self.event_rows.append(len(events))
            self.event_device.append(device)
            self.event_resident.append(resident)
        for block in accel:
            xyz = block.xyz  # (n, 3) float32 from ingest; anything else is converted, a wrong shape refused
            if xyz.dtype != np.float32 or not xyz.flags.c_contiguous:
                xyz = np.ascontiguousarray(xyz, np.float32)
            if xyz.ndim != 2 or xyz.shape[1] != 3:
                raise ValueError(f"accelerometer blocks must have shape (n, 3), got {xyz.shape}")
            self.accel_ts.append(block.ts)
            self.accel_rate.append(block.rate_hz)
            self.accel_count.append(len(xyz))
            self.accel_device.append(device)
            self.accel_resident.append(resident)
            self.samples.frombytes(xyz.tobytes())


def extend(batch: Batch, readings: Sequence[ReadingRow], events: Sequence[EventRow], accel: Sequence[AccelRow]) -> None:
    """Add one message's rows to ``batch``: its row lists and, when it keeps them, its columns."""
    batch.readings.extend(readings)
    batch.events.extend(events)
    batch.accel.extend(accel)
    if batch.columns is not None:
        batch.columns.add(readings, events, accel)


def columnar(batch: Batch) -> Batch:
    """A copy of ``batch`` with columns, each row added as a message of its own: for batches built without ingest's
    batcher (tests, replays)."""
    out = Batch(dead_letters=batch.dead_letters, columns=Columns())
    for reading in batch.readings:
        extend(out, (reading,), (), ())
    for event in batch.events:
        extend(out, (), (event,), ())
    for block in batch.accel:
        extend(out, (), (), (block,))
    return out
