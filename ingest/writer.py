"""The storage writer: one thread that commits batches, then acknowledges them to the broker (at-least-once).

A transient database failure is retried with capped exponential backoff for as long as it lasts: nothing is
acknowledged meanwhile, the batcher fills, the MQTT reader stops, and the broker keeps the backlog.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from carewatch.model import Batch, WriteResult
from carewatch.storage.base import Store, TransientStorageError
from ingest.batcher import AckToken, Batcher, PendingBatch
from ingest.metrics import IngestMetrics

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 10.0  # a restarted database is noticed within this long
TAKE_TIMEOUT_S = 0.5  # how often the thread checks that it should stop
STOP_TIMEOUT_S = 10.0  # at a stop, committing what is pending gives up after this long

TICK_S = 1.0  # time-driven rules (no activity, device offline) are evaluated this often, on this thread

Acknowledge = Callable[[list[AckToken]], None]
OnCommitted = Callable[[Batch, WriteResult], None]
OnTick = Callable[[float], None]


class Writer:
    def __init__(
        self, store: Store, batcher: Batcher, acknowledge: Acknowledge, on_committed: OnCommitted,
        metrics: IngestMetrics, on_tick: OnTick | None = None, clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._store = store
        self._batcher = batcher
        self._acknowledge = acknowledge
        self._on_committed = on_committed
        self._metrics = metrics
        self._on_tick = on_tick
        self._clock = clock
        self._next_tick = 0.0
        self._stopping = threading.Event()
        self._abandoned = threading.Event()  # stopping, and the time for committing what is pending ran out
        self._thread = threading.Thread(target=self._run, name="carewatch-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Commit what is pending (while the database answers), then stop; after `timeout_s` leave the rest to the
        broker, which redelivers what was not acknowledged. Whether everything pending was committed."""
        self._stopping.set()
        self._batcher.close()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._abandoned.set()  # the thread ends after the batch in progress
            log.error("stopping: the writer did not finish in %.1f s; %d messages not committed (not acknowledged: "
                      "the broker redelivers them)", timeout_s, len(self._batcher))  # fmt: skip
        return not self._abandoned.is_set()

    def _run(self) -> None:
        while not self._abandoned.is_set():
            pending = self._batcher.take(TAKE_TIMEOUT_S)
            self._metrics.backlog.set(len(self._batcher))
            if pending is not None:
                self._commit(pending)
            elif self._stopping.is_set():
                return
            self._tick()

    def _commit(self, pending: PendingBatch) -> None:
        result = self._write_with_retry(pending.batch)
        if result is None:  # stopping while the database is down: the rest would fail too
            self._abandoned.set()
            log.error("stopping with the database unavailable: %d messages not committed (not acknowledged: the "
                      "broker redelivers them)", len(pending.tokens) + len(self._batcher))  # fmt: skip
            return
        self._acknowledge(pending.tokens)
        self._count(pending.batch, result)
        try:
            self._on_committed(pending.batch, result)
        except Exception:  # the batch is stored; a failing consumer must not stop ingest
            log.exception("processing a committed batch failed")

    def _tick(self) -> None:
        now = self._clock()
        if self._on_tick is None or now < self._next_tick:
            return
        self._next_tick = now + TICK_S
        try:
            self._on_tick(now)
        except Exception:  # a failing time-driven rule must not stop ingest
            log.exception("the periodic alert evaluation failed")

    def _write_with_retry(self, batch: Batch) -> WriteResult | None:
        delay = RETRY_FIRST_S
        while True:
            started = time.perf_counter()
            try:
                result = self._store.write_batch(batch)
            except TransientStorageError as exc:
                if self._stopping.is_set():
                    return None
                log.warning("database unavailable (%s); retrying in %.1f s", str(exc).strip()[:200], delay)
                self._metrics.write_retries.inc()
                self._stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            self._metrics.commit_seconds.observe(time.perf_counter() - started)
            return result

    def _count(self, batch: Batch, result: WriteResult) -> None:
        m = self._metrics
        m.batch_rows.observe(len(batch))
        m.stored.labels("readings").inc(result.readings)
        m.stored.labels("events").inc(result.events)
        m.stored.labels("accel").inc(result.accel)
        m.duplicates.inc(result.duplicates)
        for letter in batch.dead_letters:
            m.rejected.labels(letter.reason).inc()
