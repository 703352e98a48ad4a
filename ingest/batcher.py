"""A bounded, thread-safe batch builder between the MQTT reader (paho's thread) and the storage writer.

The reader adds decoded messages with their acknowledgement tokens; the writer takes a batch when it holds
`max_rows` rows or its oldest message has waited `max_delay_s`. When `max_pending` messages are waiting (the
database is slow or down), `add` blocks: the reader stops reading, and the broker holds the backlog.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from carewatch.model import Batch, DeadLetter
from ingest.validate import Accepted


class AckToken(NamedTuple):
    generation: int  # the MQTT connection the message arrived on; a token of an older connection is not acked
    mid: int


@dataclass(slots=True)
class PendingBatch:
    batch: Batch = field(default_factory=Batch)
    tokens: list[AckToken] = field(default_factory=list)


class Batcher:
    def __init__(
        self, max_rows: int, max_delay_s: float, max_pending: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
        self.max_pending = max_pending
        self._clock = clock
        self._items: deque[tuple[float, Accepted | DeadLetter, AckToken]] = deque()
        self._rows = 0
        self._closed = False
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: Accepted | DeadLetter, token: AckToken, wait_s: float = 1.0) -> bool:
        """Queue one message; wait up to `wait_s` for room. False if there was none (the caller tries again)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._items) < self.max_pending or self._closed, wait_s):
                return False
            self._items.append((self._clock(), item, token))
            self._rows += _rows(item)
            if self._rows >= self.max_rows:
                self._cond.notify_all()
            return True

    def take(self, timeout_s: float) -> PendingBatch | None:
        """The next batch, once it is full or old enough; None if nothing became due within `timeout_s`."""
        deadline = self._clock() + timeout_s
        with self._cond:
            while not self._due():
                remaining = deadline - self._clock()
                if self._closed or remaining <= 0:
                    break
                oldest_due = self._items[0][0] + self.max_delay_s - self._clock() if self._items else remaining
                self._cond.wait(max(0.0, min(remaining, oldest_due)))
            if not self._items or not (self._due() or self._closed):
                return None
            pending = PendingBatch()
            while self._items and len(pending.batch) < self.max_rows:
                _, item, token = self._items.popleft()
                self._rows -= _rows(item)
                _append(pending.batch, item)
                pending.tokens.append(token)
            self._cond.notify_all()
            return pending

    def close(self) -> None:
        """Wake everyone: `take` returns what is left without waiting, `add` stops blocking."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _due(self) -> bool:
        return bool(self._items) and (
            self._rows >= self.max_rows or self._clock() - self._items[0][0] >= self.max_delay_s
        )


def _rows(item: Accepted | DeadLetter) -> int:
    if isinstance(item, DeadLetter):
        return 1
    return len(item.readings) + len(item.events) + len(item.accel)


def _append(batch: Batch, item: Accepted | DeadLetter) -> None:
    if isinstance(item, DeadLetter):
        batch.dead_letters.append(item)
    else:
        batch.readings.extend(item.readings)
        batch.events.extend(item.events)
        batch.accel.extend(item.accel)
