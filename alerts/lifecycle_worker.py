"""Runs the lifecycle on a thread of its own, so that storing, routing and delivering alerts never slows ingest.

The writer thread evaluates the rules (it alone owns their arrays) and submits what they found; this thread opens,
resolves and routes, in submission order. The queue is bounded: in an alert storm beyond QUEUE_SIZE pending
submissions the writer waits (ingest slows down and the broker holds the backlog) rather than lose an alert.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from typing import NamedTuple

from alerts.engine import Cleared
from alerts.lifecycle import Lifecycle
from carewatch.model import AlertDraft
from carewatch.storage.base import TransientStorageError

log = logging.getLogger(__name__)

QUEUE_SIZE = 1_000  # submissions, each one batch's findings; a second of ticks and batches is a few dozen
STOP_TIMEOUT_S = 30.0
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 10.0  # while the database is down the findings wait here (applying them again is idempotent)


class _Findings(NamedTuple):
    drafts: Sequence[AlertDraft]
    cleared: Sequence[Cleared]


class LifecycleWorker:
    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle
        self._queue: queue.Queue[_Findings | float | None] = queue.Queue(QUEUE_SIZE)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="carewatch-lifecycle", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish what was submitted (giving up on a database that stays down), then stop."""
        self._queue.put(None)
        self._thread.join(STOP_TIMEOUT_S)
        self._stopping.set()
        self._thread.join(STOP_TIMEOUT_S)

    def submit(self, drafts: Sequence[AlertDraft], cleared: Sequence[Cleared]) -> None:
        """Findings of the rules: waits for room rather than lose one."""
        if drafts or cleared:
            self._queue.put(_Findings(drafts, cleared))

    def tick(self, now: float) -> None:
        """Time-driven resolutions; skipped when the queue is full (the next tick comes a second later)."""
        try:
            self._queue.put_nowait(now)
        except queue.Full:
            log.warning("the alert lifecycle is behind: skipping a tick")

    def drain(self) -> None:
        """Wait until everything submitted so far is processed (tests, shutdown)."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._process(job)
            finally:
                self._queue.task_done()

    def _process(self, job: _Findings | float) -> None:
        delay = RETRY_FIRST_S
        while True:
            try:
                if isinstance(job, _Findings):
                    self.lifecycle.apply(job.drafts, job.cleared)
                else:
                    self.lifecycle.tick(job)
                return
            except TransientStorageError as exc:  # opening an alert twice is a no-op: retry the whole submission
                log.warning("database unavailable for the alert lifecycle (%s); retrying", str(exc)[:200])
                self._stopping.wait(delay)
                delay = min(2 * delay, RETRY_MAX_S)
                if self._stopping.is_set():
                    log.error("stopping with %d findings not applied", len(getattr(job, "drafts", ())))
                    return
            except Exception:  # a bug or a failing channel: log it and serve the next submission
                log.exception("the alert lifecycle failed on a submission")
                return
