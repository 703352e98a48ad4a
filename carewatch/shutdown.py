"""A bounded stop: every step of it waits at most until one shared deadline, and a step still running then is abandoned
and logged, so that a slow or unreachable database, a long scheduled job or a stuck connection cannot hold a stop up.

Blocking steps run on daemon threads of their own (`run`, or `start` then `wait` for one that goes on in the
background); the event loop's own steps are awaited with `wait_async`. A step that returns False gave up on part of its
work itself (and logged what): it counts as abandoned too. Abandoning loses nothing committed: what the writer did not
commit is not acknowledged and the broker redelivers it, and escalation stages and deliveries live in the database.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Shutdown:
    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout_s = timeout_s
        self._clock = clock
        self._deadline = clock() + timeout_s
        self.abandoned: list[str] = []  # the steps that did not finish in time, in order

    @property
    def complete(self) -> bool:
        return not self.abandoned

    def remaining(self) -> float:
        return max(0.0, self._deadline - self._clock())

    def budget(self, share: float) -> float:
        """A step's own timeout: this share of the time that remains (the steps after it keep the rest)."""
        return self.remaining() * share

    def start(self, name: str, step: Callable[[], object]) -> threading.Thread:
        """Run a blocking step on a daemon thread from now on; `wait` for it later."""
        thread = threading.Thread(target=self._call, args=(name, step), name=f"carewatch-stop-{name}", daemon=True)
        thread.start()
        return thread

    def wait(self, name: str, thread: threading.Thread, share: float = 1.0) -> None:
        """Wait for a step `start`ed earlier, at most `share` of the time that remains."""
        thread.join(self.budget(share))
        if thread.is_alive():
            self._abandon(name)

    def run(self, name: str, step: Callable[[], object]) -> None:
        """A blocking step (call it through asyncio.to_thread from the event loop: it returns by the deadline)."""
        self.wait(name, self.start(name, step))

    async def wait_async(self, name: str, step: Awaitable[object]) -> None:
        try:
            await asyncio.wait_for(step, self.remaining())
        except TimeoutError:
            self._abandon(name)
        except Exception:
            log.exception("stopping %s failed", name)

    def _call(self, name: str, step: Callable[[], object]) -> None:
        try:
            finished = step()
        except Exception:  # a failing step must not keep the others from stopping
            log.exception("stopping %s failed", name)
            return
        if finished is False and name not in self.abandoned:  # the step logged what it gave up
            self.abandoned.append(name)

    def _abandon(self, name: str) -> None:
        if name not in self.abandoned:  # (a step that gave up itself just after the deadline)
            self.abandoned.append(name)
        log.error("stopping: %s still running at the stop's deadline (%.0f s); abandoned", name, self.timeout_s)
