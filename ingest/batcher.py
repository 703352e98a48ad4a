"""A bounded, thread-safe batch builder between the MQTT reader (paho's thread) and the storage writer.

The reader adds decoded messages with their acknowledgement tokens; the writer takes a batch when it holds
`max_rows` rows or its oldest message has waited `max_delay_s`. When `max_pending` messages are waiting (the
database is slow or down), `add` blocks: the reader stops reading, and the broker holds the backlog.

Batches are filled as messages arrive (on the reader's thread): each message's rows go to the open batch's row
lists and to its columns (carewatch.columns) at once, and a batch that reaches `max_rows` is closed and queued.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from carewatch.columns import Columns, extend
from carewatch.model import Batch, DeadLetter
from ingest.validate import Accepted


class AckToken(NamedTuple):
    generation: int  # the MQTT connection the message arrived on; a token of an older connection is not acked
    mid: int


@dataclass(slots=True)
class PendingBatch:
    batch: Batch = field(default_factory=lambda: Batch(columns=Columns()))
    tokens: list[AckToken] = field(default_factory=list)
    opened_at: float = 0.0  # when its first message was added (the batcher's clock)
    messages: int = 0

    def add(self, item: Accepted | DeadLetter, token: AckToken) -> None:
        if isinstance(item, DeadLetter):
            self.batch.dead_letters.append(item)
        else:
            extend(self.batch, item.readings, item.events, item.accel)
        self.tokens.append(token)
        self.messages += 1


class Batcher:
    def __init__(
        self, max_rows: int, max_delay_s: float, max_pending: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
        self.max_pending = max_pending
        self._clock = clock
        self._full: deque[PendingBatch] = deque()  # closed batches, oldest first
        self._open: PendingBatch | None = None
        self._messages = 0  # in all of them
        self._closed = False
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return self._messages

    def add(self, item: Accepted | DeadLetter, token: AckToken, wait_s: float = 1.0) -> bool:
        """Queue one message; wait up to `wait_s` for room. False if there was none (the caller tries again)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._messages < self.max_pending or self._closed, wait_s):
                return False
            if self._open is None:
                self._open = PendingBatch(opened_at=self._clock())
            self._open.add(item, token)
            self._messages += 1
            if len(self._open.batch) >= self.max_rows:
                self._full.append(self._open)
                self._open = None
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
                oldest_due = self._open.opened_at + self.max_delay_s - self._clock() if self._open else remaining
                self._cond.wait(max(0.0, min(remaining, oldest_due)))
            if not (self._due() or (self._closed and self._open)):
                return None
            pending = self._full.popleft() if self._full else self._open
            assert pending is not None
            if pending is self._open:
                self._open = None
            self._messages -= pending.messages
            self._cond.notify_all()
            return pending

    def close(self) -> None:
        """Wake everyone: `take` returns what is left without waiting, `add` stops blocking."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _due(self) -> bool:
        return bool(self._full) or (self._open is not None and self._clock() - self._open.opened_at >= self.max_delay_s)
