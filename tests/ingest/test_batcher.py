"""The batch builder between the MQTT reader and the writer (ingest/batcher.py), on an injected clock."""

from __future__ import annotations

import threading

from carewatch.model import DeadLetter, ReadingRow
from ingest.batcher import AckToken, Batcher
from ingest.validate import Accepted


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def message(n_rows: int, ts: float = 1.0) -> Accepted:
    rows = [ReadingRow(ts + i, "s1", "w1", "r1", "hr", 70.0, i, False) for i in range(n_rows)]
    return Accepted(rows, [], [])


def test_a_batch_is_due_when_it_holds_max_rows() -> None:
    batcher = Batcher(max_rows=5, max_delay_s=60.0, max_pending=100, clock=FakeClock())
    assert batcher.add(message(3), AckToken(1, 1)) and batcher.add(message(3), AckToken(1, 2))
    pending = batcher.take(timeout_s=0.0)
    assert pending is not None and pending.tokens == [AckToken(1, 1), AckToken(1, 2)]
    assert len(pending.batch.readings) == 6  # messages are not split: the one that fills the batch goes in whole
    assert batcher.take(timeout_s=0.0) is None and len(batcher) == 0


def test_a_partial_batch_is_due_when_its_oldest_message_has_waited_max_delay() -> None:
    clock = FakeClock()
    batcher = Batcher(max_rows=1000, max_delay_s=0.25, max_pending=100, clock=clock)
    batcher.add(message(2), AckToken(1, 1))
    clock.now = 0.2
    batcher.add(DeadLetter(0.2, "carewatch/v1/s1/w1/vitals", "malformed", "not JSON", b"{", 1), AckToken(1, 2))
    assert batcher.take(timeout_s=0.0) is None  # 0.2 s old: not yet
    clock.now = 0.25
    pending = batcher.take(timeout_s=0.0)
    assert pending is not None and len(pending.batch.readings) == 2 and len(pending.batch.dead_letters) == 1


def test_a_full_queue_pushes_back_and_close_hands_over_what_is_left() -> None:
    batcher = Batcher(max_rows=1000, max_delay_s=60.0, max_pending=2, clock=FakeClock())
    assert batcher.add(message(1), AckToken(1, 1)) and batcher.add(message(1), AckToken(1, 2))
    assert not batcher.add(message(1), AckToken(1, 3), wait_s=0.01)  # no room: the reader stops reading
    batcher.close()
    assert batcher.add(message(1), AckToken(1, 3), wait_s=0.01)  # closing stops the blocking
    pending = batcher.take(timeout_s=0.0)
    assert pending is not None and [t.mid for t in pending.tokens] == [1, 2, 3]


def test_taking_makes_room_for_a_blocked_reader() -> None:
    batcher = Batcher(max_rows=2, max_delay_s=60.0, max_pending=2, clock=FakeClock())
    batcher.add(message(1), AckToken(1, 1))
    batcher.add(message(1), AckToken(1, 2))
    added: list[bool] = []
    reader = threading.Thread(target=lambda: added.append(batcher.add(message(1), AckToken(1, 3), wait_s=5.0)))
    reader.start()
    pending = batcher.take(timeout_s=0.0)
    reader.join(timeout=5.0)
    assert pending is not None and len(pending.tokens) == 2 and added == [True] and len(batcher) == 1
