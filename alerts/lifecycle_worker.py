"""Runs the lifecycle on a thread of its own, so that storing, routing and delivering alerts never slows ingest.

The writer thread evaluates the rules (it alone owns their arrays) and submits what they found; this thread opens,
resolves and routes, in submission order. The queue is bounded: in an alert storm beyond QUEUE_SIZE pending
submissions the writer waits (ingest slows down and the broker holds the backlog) rather than lose an alert.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

from alerts.engine import Cleared, Found
from alerts.lifecycle import Lifecycle
from carewatch.model import AlertDraft
from carewatch.storage.base import TransientStorageError

log = logging.getLogger(__name__)

QUEUE_SIZE = 1_000  # submissions, each one batch's findings; a second of ticks and batches is a few dozen
STOP_TIMEOUT_S = 30.0
IDLE_CHECK_S = 0.2  # an idle worker looks this often whether it is stopping
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 10.0  # while the database is down the findings wait here (applying them again is idempotent)


class _Findings(NamedTuple):
    drafts: Sequence[AlertDraft]
    cleared: Sequence[Cleared]


class LifecycleWorker:
    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle
        self._queue: queue.Queue[_Findings | float] = queue.Queue(QUEUE_SIZE)
        self._closing = threading.Event()  # stopping: apply the findings queued, skip the ticks
        self._stopping = threading.Event()  # giving up: the time for stopping ran out
        self._unapplied: deque[_Findings] = deque()  # submitted findings not yet processed, oldest first
        self._unapplied_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="carewatch-lifecycle", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Apply the findings submitted so far, then stop. Ticks still queued are skipped (a resolution waits for the
        next start, whose replay reports the cleared conditions again). Gives up after `timeout_s` (the database slow
        or down) and logs what was not applied. Whether everything was."""
        self._closing.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._stopping.set()  # ends a retry's wait; the thread ends after the submission in progress
            log.error("stopping: the alert lifecycle did not finish in %.1f s; %d new alerts not raised (the next "
                      "start raises those it finds never alerted)", timeout_s, self._drafts_left())  # fmt: skip
        return not self._stopping.is_set()

    def _drafts_left(self) -> int:
        return len(self.unapplied()[0])

    def submit(self, drafts: Sequence[AlertDraft], cleared: Sequence[Cleared]) -> None:
        """Findings of the rules: waits for room rather than lose one. One thread submits (the writer's), so the
        findings are applied in the order `unapplied` lists them."""
        if drafts or cleared:
            findings = _Findings(drafts, cleared)
            with self._unapplied_lock:
                self._unapplied.append(findings)
            self._queue.put(findings)

    def unapplied(self) -> Found:
        """The findings submitted and not yet processed (the one in progress included), kept with a saved state
        (alerts.checkpoint) so that a crash loses none; the next start checks them against the stored alerts."""
        with self._unapplied_lock:
            return [d for f in self._unapplied for d in f.drafts], [c for f in self._unapplied for c in f.cleared]

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
        while not self._stopping.is_set():
            try:
                job = self._queue.get(timeout=IDLE_CHECK_S)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            try:
                if not (self._closing.is_set() and isinstance(job, float)):
                    self._process(job)
            finally:
                if isinstance(job, _Findings) and not self._stopping.is_set():
                    with self._unapplied_lock:
                        self._unapplied.popleft()
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
                    return  # counted by `stop`
            except Exception:  # a bug or a failing channel: log it and serve the next submission
                log.exception("the alert lifecycle failed on a submission")
                return
