"""The dispatcher: delivers messages off the caller's thread from a durable outbox, retries what is transient, audits
every attempt.

Submitting writes the messages to the ``outbox`` table in one transaction (``Store.enqueue_outbox``) and wakes their
channels' lanes; it never waits for a channel. Each channel has its own lane (one worker thread), so a slow SMTP
server delays e-mail only and never the ingest writer, the scheduler or the webhooks. A lane leases the channel's next
due message (a conditional UPDATE: of several workers on one database exactly one gets it), tries it once and, in one
transaction, writes the attempt to ``deliveries`` and moves the message on: settled ("delivered", "failed", "dead") or
pending again with its next attempt due after a capped exponential backoff. After ``max_attempts`` a transiently
failing message is dead-lettered ("dead"); a permanent failure ("failed") is not retried. Messages held back (quiet
hours: "suppressed"), refused by a full channel ("dropped": ``queue_size`` messages of the channel already pending)
or meant for a channel this process has no settings for ("failed") are settled on submission, audited in the same
transaction. A deferred message (an alert's end in quiet hours, alerts/routing.py) is queued with its first attempt
due at a later time, audited "deferred" with until when; ``withdraw`` settles an alert's pending messages of a kind
as "superseded" (its end, when it reopens), except one being sent.

Order. Messages about one alert to one target (contact, channel, address) go in the order they were queued: the
outbox leases a message only when no earlier one to that target is pending (in its retries, being sent, deferred),
so a "resolved" never overtakes its "raised" in backoff; once the earlier one is delivered, failed or dead-lettered,
the later one goes. Messages of other alerts or other targets do not wait.

Guarantees. A submitted message is not lost before it settles: after a restart (or in another worker) the pending
messages resume with their attempt numbers and due times, and one whose retry fell due during the downtime goes at
once. Each message is sent by one worker at a time and, unless a worker dies during an attempt or an attempt outlasts
LEASE_S, once per attempt; every attempt carries the same idempotency key, so a receiver that saw it already answers
200 and does nothing. Submitting a key again is a no-op. Due times are on the injected clock (epoch seconds); a test
that moves its clock calls ``wake`` rather than waiting for the next look.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

from alerts.notify.base import Channel, Message, PermanentDeliveryError, TransientDeliveryError
from carewatch.storage.base import (
    OUTBOX_PENDING,
    QUEUED,
    DeliveryAttempt,
    OutboxItem,
    StageClaim,
    Store,
    TransientStorageError,
)

log = logging.getLogger(__name__)

LANE_QUEUE_SIZE = 5_000  # pending messages per channel (all workers together); a district's burst of alerts fits, a
# dead receiver cannot grow the outbox without end (beyond it messages are dropped and audited as "dropped")
LEASE_S = 120.0  # a message in an attempt is free again after this long: well beyond any channel's attempt (their
# timeouts are 10-15 s per operation), short enough that a crashed worker's message goes again within minutes
POLL_S = 1.0  # an idle lane looks at the outbox this often: messages other workers queued, leases that ran out
ERROR_WAIT_S = 5.0  # a lane whose database is unavailable looks again after this long
ERROR_TEXT_MAX = 500  # characters of an error kept in the audit row


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6  # then dead-lettered: about 10 minutes of retries with the defaults below
    first_s: float = 5.0
    cap_s: float = 300.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): first_s * 2**(attempt-1), capped."""
        return float(min(self.cap_s, self.first_s * 2 ** (attempt - 1)))


class Deferred(NamedTuple):
    """A message whose first attempt waits until ``until`` (epoch seconds); ``note`` says why and until when."""

    message: Message
    until: float
    note: str


def encode(
    message: Message, due_at: float, state: str = OUTBOX_PENDING, attempt: int = 1, note: str = ""
) -> OutboxItem:
    """The outbox row of a message: its audit fields and the whole message."""
    return OutboxItem(
        message.idempotency_key, message.channel, message.site_id, message.alert_id, message.contact_id,
        message.address, message.kind, asdict(message), state, attempt, due_at, note,
    )  # fmt: skip


def decode(item: OutboxItem) -> Message:
    return Message(**item.message)


class Dispatcher:
    def __init__(
        self, store: Store, channels: Sequence[Channel], retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time, queue_size: int = LANE_QUEUE_SIZE,
    ) -> None:  # fmt: skip
        self._store = store
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._queue_size = queue_size
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # whose lease (diagnostics)
        self._lanes = {c.name: _Lane(c, self) for c in channels}

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._lanes)

    def start(self) -> None:
        """Start the lanes; their first look at the outbox resumes what an earlier run left pending."""
        for lane in self._lanes.values():
            lane.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop after the attempts in progress, waiting at most ``timeout`` for all lanes together; pending messages
        stay in the outbox for the next start. Whether every lane stopped in time."""
        deadline = time.monotonic() + timeout
        for lane in self._lanes.values():
            lane.request_stop()
        return all([lane.join(deadline - time.monotonic()) for lane in self._lanes.values()])

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll (a test that moved its clock)."""
        for lane in self._lanes.values():
            lane.wake()

    def submit(self, message: Message) -> None:
        """Queue a message for its channel; never blocks on a channel (a full channel drops it, audited)."""
        self.submit_all([message])

    def suppress(self, message: Message, reason: str) -> None:
        """Audit a message routing held back (quiet hours)."""
        self.submit_all([], [(message, reason)])

    def submit_all(
        self, messages: Sequence[Message], held: Sequence[tuple[Message, str]] = (), claim: StageClaim | None = None,
        deferred: Sequence[Deferred] = (),
    ) -> bool:  # fmt: skip
        """Write messages (the ones held back with the reason, the deferred ones due later) to the outbox in one
        transaction, which with ``claim`` first claims that escalation stage; False when the claim was lost (nothing
        written)."""
        now = self._clock()
        items = [self._item(m, now) for m in messages]
        items += [encode(m, now, "suppressed", 0, reason) for m, reason in held]
        items += [self._item(d.message, now, d.until, d.note) for d in deferred]
        outcomes = self._store.enqueue_outbox(items, now, self._queue_size, claim)
        if outcomes is None:
            return False
        for item, outcome in zip(items, outcomes, strict=True):
            if outcome == QUEUED:
                self._lanes[item.channel].wake()
            elif outcome == "dropped":
                log.error("the %s channel has %d pending: dropped %s", item.channel, self._queue_size,
                          item.idempotency_key)  # fmt: skip
        return True

    def _item(self, message: Message, now: float, due_at: float | None = None, note: str = "") -> OutboxItem:
        if message.channel not in self._lanes:
            return encode(message, now, "failed", 1, f"channel {message.channel!r} is not configured")
        return encode(message, now if due_at is None else due_at, note=note)

    def withdraw(self, alert_id: int, kind: str, reason: str) -> int:
        """Settle the alert's pending messages of ``kind`` as "superseded" (audited with ``reason``), except one
        being sent; how many."""
        withdrawn = self._store.withdraw_outbox(alert_id, kind, self._clock(), reason)
        for item in withdrawn:
            log.info("withdrew %s: %s", item.idempotency_key, reason)
        return len(withdrawn)

    def idle(self) -> bool:
        """Nothing of this dispatcher's channels pending: queued (deferred too), waiting for a retry or being sent."""
        return not any(self._store.outbox(name, pending_only=True, limit=1) for name in self._lanes)

    # The lanes' threads -------------------------------------------------------------------------------------
    def work(self, channel: Channel) -> bool:
        """Lease the channel's next due message and try it once; whether there was one."""
        claimed = self._store.claim_outbox(channel.name, self._clock(), self.owner, LEASE_S)
        for item in claimed:
            self._attempt(channel, item)
        return bool(claimed)

    def next_look(self, channel: str) -> float:
        """Seconds until the channel's next message falls due, at most POLL_S."""
        due = self._store.outbox_next_due(channel)
        return POLL_S if due is None else min(POLL_S, max(0.0, due - self._clock()))

    def _attempt(self, channel: Channel, item: OutboxItem) -> None:
        attempt, retry_at = item.attempt, None
        try:
            channel.send(decode(item))
        except TransientDeliveryError as exc:
            status, error = ("dead" if attempt >= self._retry.max_attempts else "retry"), str(exc)
            if status == "retry":
                retry_at = self._clock() + self._retry.delay(attempt)
        except PermanentDeliveryError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # a channel bug or a message it cannot read: audited as a failure, the lane goes on
            log.exception("channel %s failed unexpectedly", channel.name)
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        else:
            status, error = "delivered", ""
        row = DeliveryAttempt(
            self._clock(), item.site_id, item.alert_id, item.contact_id, item.channel, item.address, item.kind,
            item.idempotency_key, attempt, status, error[:ERROR_TEXT_MAX],
        )  # fmt: skip
        try:
            if not self._store.settle_outbox(row, self.owner, retry_at):
                log.warning("%s outlasted its lease: another worker took it over", item.idempotency_key)
        except Exception:  # the message stays leased and goes again when the lease runs out (same key)
            log.exception("could not record attempt %d of %s (%s)", attempt, item.idempotency_key, status)


class _Lane:
    """One channel's worker thread. Its queue is the channel's pending messages in the outbox."""

    def __init__(self, channel: Channel, dispatcher: Dispatcher) -> None:
        self._channel = channel
        self._dispatcher = dispatcher
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"carewatch-deliver-{channel.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stopping.set()
        self._wake.set()  # stops the wait now rather than at the next look

    def join(self, timeout: float) -> bool:
        """Whether the lane stopped within ``timeout``; if not, its attempt goes on and is logged as abandoned."""
        if self._thread.is_alive():
            self._thread.join(max(0.0, timeout))
        if self._thread.is_alive():
            log.error("stopping: the %s lane is still in an attempt; abandoned (its message goes again after the "
                      "lease)", self._channel.name)  # fmt: skip
            return False
        return True

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before looking: a wake during the look ends the wait below at once
            try:
                if self._dispatcher.work(self._channel):
                    continue
                wait = self._dispatcher.next_look(self._channel.name)
            except TransientStorageError as exc:
                log.warning("the %s lane cannot reach the database (%s)", self._channel.name, str(exc)[:200])
                wait = ERROR_WAIT_S
            except Exception:  # a bug: logged, and the lane keeps serving
                log.exception("the %s lane failed", self._channel.name)
                wait = ERROR_WAIT_S
            self._wake.wait(wait)
