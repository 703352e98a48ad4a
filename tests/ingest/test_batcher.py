"""ingest.batcher: batches close at `max_rows` rows or after `max_delay_s` (an injected clock), and carry their rows
in columns (carewatch.columns) equal to the rows."""

from __future__ import annotations

import numpy as np

from carewatch.columns import Columns, columnar
from carewatch.model import AccelRow, DeadLetter, EventRow, ReadingRow
from ingest.batcher import AckToken, Batcher
from ingest.validate import Accepted

T = 1_764_374_400.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def message(k: int) -> Accepted:
    """Message ``k``: two readings, an event or an accelerometer block."""
    device, resident = f"w{k % 3}", f"r{k % 3}"
    if k % 3 == 0:
        return Accepted(
            [ReadingRow(T + k, "h", device, resident, m, 70.0 + k, k, k == 6) for m in ("hr", "rr")], [], []
        )
    if k % 3 == 1:
        return Accepted([], [EventRow(T + k, "h", device, None, "motion", 1.0, k)], [])
    xyz = np.arange(3 * (k + 1), dtype=np.float32).reshape(-1, 3) / 7
    return Accepted([], [], [AccelRow(T + k, "h", device, resident, k, 25.0, xyz)])


def per_row(c: Columns) -> list[list[float]]:
    """Every column with the per-message numbers repeated for each row of their message."""
    out = [list(getattr(c, name)) for name in Columns.__slots__ if not name.endswith(("_rows", "_device", "_resident"))]
    for kind in ("reading", "event"):
        rows = getattr(c, f"{kind}_rows")
        out += [list(np.repeat(getattr(c, f"{kind}_{who}"), rows)) for who in ("device", "resident")]
    return [*out, list(c.accel_device), list(c.accel_resident)]


def test_batches_close_at_max_rows_and_carry_equal_columns() -> None:
    batcher = Batcher(max_rows=5, max_delay_s=60.0, max_pending=100, clock=Clock())
    for k in range(9):
        assert batcher.add(message(k), AckToken(0, k))
    assert len(batcher) == 9
    first = batcher.take(0.0)
    assert first is not None and [t.mid for t in first.tokens] == [0, 1, 2, 3]  # 2 + 1 + 1 + 2 rows
    assert first.batch.columns is not None
    assert per_row(first.batch.columns) == per_row(columnar(first.batch).columns)  # type: ignore[arg-type]
    assert list(first.batch.columns.reading_rows) == [2, 2]  # numbered once per message
    second = batcher.take(0.0)
    assert second is not None and [t.mid for t in second.tokens] == [4, 5, 6, 7]
    assert batcher.take(0.0) is None  # the rest is neither full nor old
    assert len(batcher) == 1


def test_an_open_batch_is_due_after_max_delay_and_when_closed() -> None:
    clock = Clock()
    batcher = Batcher(max_rows=100, max_delay_s=2.0, max_pending=100, clock=clock)
    batcher.add(message(0), AckToken(0, 0))
    clock.now = 1.0
    batcher.add(DeadLetter(T, "t", "bad_schema", "", b"", 0), AckToken(0, 1))
    assert batcher.take(0.0) is None
    clock.now = 2.0
    due = batcher.take(0.0)
    assert due is not None and len(due.batch) == 3 and len(due.batch.dead_letters) == 1
    batcher.add(message(1), AckToken(0, 2))
    batcher.close()
    last = batcher.take(0.0)
    assert last is not None and [t.mid for t in last.tokens] == [2] and len(batcher) == 0
