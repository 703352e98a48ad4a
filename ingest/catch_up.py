"""Catching up with the broker's backlog after a start.

While carewatch was stopped (or down after a crash) the broker queued the devices' messages (a persistent session,
QoS 1); the start reads them first, in order, then live traffic. The alert state the start took up (a clean stop's,
alerts.checkpoint) or rebuilt (alerts.rebuild) reaches the stop, so the time-driven rules (device offline, no
activity, not up, bathroom, long lie) can judge the time stopped, but only once that backlog is read: before, every
device looks silent since the stop. So their ticks wait until a committed batch holds a row
stamped at or after the start (what was queued before it is then committed), or `MAX_WAIT_S` has passed (nobody
sends: the silence is real). The rows themselves are evaluated as they come, ticks or not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from carewatch.model import Batch
from ingest.clock import newest

log = logging.getLogger(__name__)

MAX_WAIT_S = 300.0  # a backlog of an hour's stop at 10,000 residents takes minutes to read; a quiet site sends nothing


class CatchUp:
    def __init__(self, since: float, clock: Callable[[], float] = time.monotonic, max_wait_s: float = MAX_WAIT_S):
        """``since``: the start's time on the engine's clock (the rows' time)."""
        self.since = since
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._deadline = clock() + max_wait_s
        self.done = False

    def committed(self, batch: Batch) -> None:
        if not self.done and newest(batch.readings, batch.events, batch.accel) >= self.since:
            self.done = True
            log.info("caught up with the broker's backlog: the time-driven rules run again")

    def waiting(self) -> bool:
        """Whether the time-driven rules still wait (checked at each tick)."""
        if not self.done and self._clock() >= self._deadline:
            self.done = True
            log.info("no row newer than the start in %.0f s: the time-driven rules run again", self.max_wait_s)
        return not self.done
