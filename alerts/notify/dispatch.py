"""The dispatcher: delivers messages off the writer's thread, retries what is transient, audits every attempt.

Each channel has its own lane (a bounded queue and one worker thread), so a slow SMTP server delays e-mail only and
never the ingest writer, the scheduler or the webhooks. A transient failure is retried with capped exponential
backoff; after ``max_attempts`` the message is dead-lettered (status "dead"). A permanent failure ("failed") is not
retried. Every attempt, and every message held back (quiet hours) or dropped (a full lane), is a row in the
``deliveries`` table.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from alerts.notify.base import Channel, Message, PermanentDeliveryError, TransientDeliveryError
from carewatch.storage.base import DeliveryAttempt, Store

log = logging.getLogger(__name__)

LANE_QUEUE_SIZE = 5_000  # messages waiting per channel; a district's burst of alerts fits, a dead receiver cannot
# grow memory without end (beyond it messages are dropped and audited as "dropped")
IDLE_WAIT_S = 0.5  # how often an idle lane checks that it should stop
ERROR_TEXT_MAX = 500  # characters of an error kept in the audit row


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6  # then dead-lettered: about 10 minutes of retries with the defaults below
    first_s: float = 5.0
    cap_s: float = 300.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): first_s * 2**(attempt-1), capped."""
        return float(min(self.cap_s, self.first_s * 2 ** (attempt - 1)))


class Dispatcher:
    def __init__(
        self, store: Store, channels: Sequence[Channel], retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time, queue_size: int = LANE_QUEUE_SIZE,
    ) -> None:  # fmt: skip
        self._store = store
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._lanes = {c.name: _Lane(c, self, queue_size) for c in channels}

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._lanes)

    def start(self) -> None:
        for lane in self._lanes.values():
            lane.start()

    def stop(self, timeout: float = 5.0) -> None:
        for lane in self._lanes.values():
            lane.stop(timeout)

    def submit(self, message: Message) -> None:
        """Queue a message for its channel; never blocks (a full lane drops it, audited)."""
        lane = self._lanes.get(message.channel)
        if lane is None:
            self._record(message, 1, "failed", f"channel {message.channel!r} is not configured")
        elif not lane.offer(message):
            log.error("the %s lane is full: dropped %s", message.channel, message.idempotency_key)
            self._record(message, 1, "dropped", "the delivery queue is full")

    def suppress(self, message: Message, reason: str) -> None:
        """Audit a message routing held back (quiet hours)."""
        self._record(message, 0, "suppressed", reason)

    def idle(self) -> bool:
        """Nothing queued, waiting for a retry or being sent."""
        return all(lane.idle() for lane in self._lanes.values())

    def attempt(self, channel: Channel, message: Message, attempt: int) -> float | None:
        """Try once and audit it; the delay before the next try, or None when done (delivered, failed or dead)."""
        try:
            channel.send(message)
        except TransientDeliveryError as exc:
            if attempt >= self._retry.max_attempts:
                self._record(message, attempt, "dead", str(exc))
                return None
            self._record(message, attempt, "retry", str(exc))
            return self._retry.delay(attempt)
        except PermanentDeliveryError as exc:
            self._record(message, attempt, "failed", str(exc))
            return None
        except Exception as exc:  # a channel bug: audited as a failure, the lane goes on
            log.exception("channel %s failed unexpectedly", channel.name)
            self._record(message, attempt, "failed", f"{type(exc).__name__}: {exc}")
            return None
        self._record(message, attempt, "delivered")
        return None

    def _record(self, message: Message, attempt: int, status: str, error: str = "") -> None:
        row = DeliveryAttempt(
            self._clock(), message.site_id, message.alert_id, message.contact_id, message.channel, message.address,
            message.kind, message.idempotency_key, attempt, status, error[:ERROR_TEXT_MAX],
        )  # fmt: skip
        try:
            self._store.record_deliveries([row])
        except Exception:  # the audit must not kill a lane; the log keeps the attempt
            log.exception("could not audit delivery %s: %s", message.idempotency_key, status)


class _Lane:
    """One channel's bounded queue, retry heap and worker thread."""

    def __init__(self, channel: Channel, dispatcher: Dispatcher, size: int) -> None:
        self._channel = channel
        self._dispatcher = dispatcher
        self._size = size
        self._queue: queue.Queue[Message | None] = queue.Queue(maxsize=size + 1)  # + 1: room for the stop marker
        self._retries: list[tuple[float, int, int, Message]] = []  # (due on the monotonic clock, n, attempt, msg)
        self._pending = 0  # accepted and not yet settled: queued, in flight or waiting for a retry
        self._counter = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"carewatch-deliver-{channel.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)  # wakes the worker now rather than at its next idle check
        if self._thread.is_alive():
            self._thread.join(timeout)

    def offer(self, message: Message) -> bool:
        with self._lock:
            if self._pending >= self._size:
                return False
            self._pending += 1
            self._queue.put_nowait(message)  # never full: it holds at most _pending + the stop marker
        return True

    def idle(self) -> bool:
        with self._lock:
            return self._pending == 0

    def _run(self) -> None:
        while not self._stopping.is_set():
            now = time.monotonic()
            with self._lock:
                due = heapq.heappop(self._retries) if self._retries and self._retries[0][0] <= now else None
                wait = self._retries[0][0] - now if self._retries else IDLE_WAIT_S
            if due is not None:
                self._send(due[3], due[2])
                continue
            try:
                message = self._queue.get(timeout=max(0.0, min(wait, IDLE_WAIT_S)))
            except queue.Empty:
                continue
            if message is None:
                return
            self._send(message, 1)

    def _send(self, message: Message, attempt: int) -> None:
        delay = self._dispatcher.attempt(self._channel, message, attempt)
        with self._lock:
            if delay is None:
                self._pending -= 1
            else:
                self._counter += 1
                heapq.heappush(self._retries, (time.monotonic() + delay, self._counter, attempt + 1, message))
