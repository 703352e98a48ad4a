"""The data clock (``CAREWATCH_CLOCK=data``): the platform's "now" is the newest data time, not the wall clock.

An accelerated run (a simulated day in minutes, an evaluation, a replay of a recording) stamps its readings in
simulated time, which races ahead of the wall clock. With the wall clock, the time-driven rules (no activity, not up,
bathroom occupied too long, device offline) would judge a simulated day by a few real minutes, and ingest would
reject most of the run as future timestamps. On the data clock:

- ingest validates every timestamp against `reference`: the newest accepted data time (the wall clock until the
  first message is accepted), with the same bounds as live (`ingest.validate.MAX_FUTURE_S`, `MAX_PAST_S`);
- the alert engine and the lifecycle tick at `now`: the newest committed data time, a monotonic maximum, so that
  time-driven rules never run ahead of the data they could have seen; no data committed, no tick.

Threads: only paho's thread moves the received watermark and only the writer thread the committed one; each is a
float written by one thread and read by others (an atomic assignment in CPython), so no lock is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

from carewatch.model import Batch, DeadLetter
from ingest.validate import Accepted

Decode = Callable[[str, bytes, float], Accepted | DeadLetter]


class Stamped(Protocol):
    @property
    def ts(self) -> float: ...


class DataClock:
    def __init__(self, resume_at: float = -math.inf) -> None:
        """``resume_at``: the newest data time already stored (a restart continues from it); -inf for none."""
        self._received = resume_at
        self._committed = resume_at

    def now(self) -> float:
        """The engine's now: the newest committed data time (-inf before any)."""
        return self._committed

    def reference(self, wall: float) -> float:
        """The time ingest checks timestamps against: the newest accepted data time, or ``wall`` before any."""
        return self._received if self._received > -math.inf else wall

    def decoding(self, decode: Decode) -> Decode:
        """``decode(topic, payload, received_at)`` on this clock: checked against `reference`, and every accepted
        message moves the received watermark to its newest row."""

        def decode_on_data_clock(topic: str, payload: bytes, received_at: float) -> Accepted | DeadLetter:
            item = decode(topic, payload, self.reference(received_at))
            if isinstance(item, Accepted):
                self._received = max(self._received, newest(item.readings, item.events, item.accel))
            return item

        return decode_on_data_clock

    def committed(self, batch: Batch) -> None:
        """A batch is stored: move `now` to its newest row (never back)."""
        self._committed = max(self._committed, newest(batch.readings, batch.events, batch.accel))


def newest(*rows: Sequence[Stamped]) -> float:
    """The newest ``ts`` of any of the row lists (-inf for none)."""
    return max((max(r.ts for r in part) for part in rows if part), default=-math.inf)
