"""The durable outbox on both backends, with a controlled clock: a restart in the middle of a webhook's retries resumes
them where they were and the receiver gets the message once; a crash while an escalation stage is being claimed, or
after it fired but before its messages went out, loses nothing and sends nothing twice; a key submitted twice is one
delivery; two dispatchers on one database send each message once; messages about one alert to one target go in the
order they were queued, a later one waiting while an earlier one is in its retries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lifecycle_support import SECRET, Receiver, second_store, wait_for

from alerts.notify.base import Message
from alerts.notify.dispatch import Dispatcher, RetryPolicy
from alerts.notify.webhook import WebhookChannel
from carewatch.storage.base import Store
from carewatch.storage.sql import SqlStore

RETRY = RetryPolicy(max_attempts=5, first_s=60, cap_s=300)  # the production shape: minutes between attempts
KEY = "alert-7-raised-clinic-webhook"


def message(address: str, key: str = KEY) -> Message:
    return Message(
        site_id="s1", alert_id=None, contact_id="clinic", channel="webhook", address=address, kind="raised",
        idempotency_key=key, subject="[urgent] SpO2 low - Wang Fang", text="SpO2 below 90 % for 60 s",
        payload={"kind": "raised", "alert": {"alert_id": 7}},
    )  # fmt: skip


def attempts(store: Store) -> list[tuple[int, str]]:
    return [(d.attempt, d.status) for d in store.deliveries()]


class Crash(BaseException):
    """The process dies here: nothing catches it (run_due catches Exception), the open transaction rolls back."""


def test_a_restart_in_the_middle_of_the_retries_resumes_them_and_delivers_once(
    store: Store, clock: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    t0 = clock.now
    with Receiver(failures=2) as receiver:
        first = Dispatcher(store, [WebhookChannel(SECRET)], RETRY, clock)
        first.start()
        try:
            first.submit(message(receiver.url))
            wait_for(lambda: attempts(store) == [(1, "retry")], "the first attempt")
        finally:
            first.stop()  # the process stops while the message waits for its retry
        [waiting] = store.outbox(pending_only=True)
        assert (waiting.attempt, waiting.due_at) == (2, pytest.approx(t0 + 60))

        clock.advance(3600)  # down for an hour: the retry fell due meanwhile
        restarted_store = second_store(store, tmp_path, request)
        restarted = Dispatcher(restarted_store, [WebhookChannel(SECRET)], RETRY, clock)
        restarted.start()
        try:
            wait_for(lambda: len(attempts(store)) == 2, "the resumed attempt")  # at once, the clock unmoved
            [waiting] = store.outbox(pending_only=True)
            assert (waiting.attempt, waiting.due_at) == (3, pytest.approx(t0 + 3600 + 120))  # backoff continues
            clock.advance(120)
            restarted.wake()
            wait_for(restarted.idle, "the delivery")
        finally:
            restarted.stop()
            restarted_store.close()
    assert len(receiver.requests) == 3 and list(receiver.accepted) == [KEY]  # one copy, three attempts of one key
    assert {h["Idempotency-Key"] for h, _ in receiver.requests} == {KEY}
    assert attempts(store) == [(1, "retry"), (2, "retry"), (3, "delivered")]
    assert [d.at - t0 for d in store.deliveries()] == [0, 3600, 3720]
    assert [(i.state, i.attempt) for i in store.outbox()] == [("delivered", 3)]


def test_a_key_submitted_twice_is_delivered_once(store: Store, clock: Any) -> None:
    with Receiver() as receiver:
        dispatcher = Dispatcher(store, [WebhookChannel(SECRET)], RETRY, clock)
        dispatcher.start()
        try:
            dispatcher.submit(message(receiver.url))
            dispatcher.submit(message(receiver.url))  # queued: the same key
            wait_for(dispatcher.idle, "the delivery")
            dispatcher.submit(message(receiver.url))  # delivered: still the same key
            wait_for(dispatcher.idle, "the delivery")
        finally:
            dispatcher.stop()
    assert len(receiver.requests) == 1 and attempts(store) == [(1, "delivered")] and len(store.outbox()) == 1


def test_two_dispatchers_on_one_database_send_each_message_once(
    store: Store, clock: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    other_store = second_store(store, tmp_path, request)
    workers = [Dispatcher(s, [WebhookChannel(SECRET)], RETRY, clock) for s in (store, other_store)]
    with Receiver() as receiver:
        for worker in workers:
            worker.start()
        try:
            for i in range(30):
                workers[i % 2].submit(message(receiver.url, f"k{i:02}"))
            wait_for(lambda: all(w.idle() for w in workers), "the deliveries")
        finally:
            for worker in workers:
                worker.stop()
            other_store.close()
    keys = sorted(h["Idempotency-Key"] for h, _ in receiver.requests)
    assert keys == [f"k{i:02}" for i in range(30)]  # every message, none twice
    assert attempts(store) == [(1, "delivered")] * 30


# Order: messages about one alert to one target go in the order they were queued -----------------------------


def about(alert_id: int, address: str, kind: str, contact: str = "fam1") -> Message:
    return Message(
        site_id="s1", alert_id=alert_id, contact_id=contact, channel="webhook", address=address, kind=kind,
        idempotency_key=f"alert-{alert_id}-{kind}-{contact}-webhook", subject=kind, text=kind, payload={"kind": kind},
    )  # fmt: skip


def test_the_end_of_an_alert_waits_for_its_raised_message_in_retry_to_the_same_target(
    harness: Any, store: Store, clock: Any
) -> None:
    """The family's receiver answers "raised" 503: its retry is a minute away when the alert resolves. "resolved"
    waits for it (a message to another target, queued after it, goes at once), then follows it."""
    harness.dispatcher.stop()  # this test's dispatcher has a real webhook channel
    alert = store.raise_alert(harness.draft(clock.now))  # not routed: the test queues its messages
    assert alert is not None
    with Receiver(failures=1) as receiver:
        raised, resolved = (about(alert.alert_id, receiver.url, kind) for kind in ("raised", "resolved"))
        other = about(alert.alert_id, receiver.url, "raised", contact="fam2")
        dispatcher = Dispatcher(store, [WebhookChannel(SECRET)], RETRY, clock)
        dispatcher.start()
        try:
            dispatcher.submit(raised)
            wait_for(lambda: attempts(store) == [(1, "retry")], "the first attempt")
            clock.advance(1)
            dispatcher.submit(resolved)  # due now, but "raised" is still pending to the same target
            clock.advance(1)
            dispatcher.submit(other)  # to another target: goes at once, after "resolved" if that could go
            wait_for(lambda: other.idempotency_key in receiver.accepted, "the other target's message")
            assert list(receiver.accepted) == [other.idempotency_key]
            assert store.outbox_next_due("webhook") == pytest.approx(clock.now - 2 + 60)  # "raised"'s retry, no spin
            clock.advance(60)
            dispatcher.wake()
            wait_for(dispatcher.idle, "the deliveries")
        finally:
            dispatcher.stop()
    assert list(receiver.accepted)[1:] == [raised.idempotency_key, resolved.idempotency_key]


def test_a_later_message_goes_once_the_earlier_one_to_its_target_is_dead_lettered(
    harness: Any, store: Store, clock: Any
) -> None:
    harness.dispatcher.stop()
    alert = store.raise_alert(harness.draft(clock.now))  # not routed: the test queues its messages
    assert alert is not None
    with Receiver(failures=2) as receiver:
        dispatcher = Dispatcher(store, [WebhookChannel(SECRET)], RetryPolicy(max_attempts=2, first_s=60), clock)
        dispatcher.start()
        try:
            dispatcher.submit(about(alert.alert_id, receiver.url, "raised"))
            wait_for(lambda: attempts(store) == [(1, "retry")], "the first attempt")
            clock.advance(1)
            dispatcher.submit(about(alert.alert_id, receiver.url, "resolved"))
            clock.advance(60)
            dispatcher.wake()
            wait_for(dispatcher.idle, "the deliveries")
        finally:
            dispatcher.stop()
    assert [(d.kind, d.status) for d in store.deliveries()] == [
        ("raised", "retry"), ("raised", "dead"), ("resolved", "delivered")
    ]  # fmt: skip


# Escalation: claiming a stage and writing its messages commit together ----------------------------------------


def escalations_sent(harness: Any) -> list[tuple[str, str, str]]:
    return sorted(s for s in harness.sent() if s[2].startswith("escalation"))


STAGE_1 = [("op1", "webhook", "escalation:1"), ("operators", "websocket", "escalation:1")]


def test_a_crash_while_a_stage_is_claimed_fires_it_after_the_restart(
    harness: Any, store: Store, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    t0, clock = harness.T0, harness.clock
    [alert] = harness.lifecycle.apply([harness.draft(t0)], [])
    harness.sent()
    harness.dispatcher.stop()
    clock.now = t0 + 300
    write = SqlStore._insert_outbox
    written: list[str] = []

    def dies_after_the_claim(self: SqlStore, cur: Any, item: Any, state: str, now: float) -> bool:
        if written:  # the claim and the first message are in the transaction: the process dies
            raise Crash
        written.append(item.idempotency_key)
        return write(self, cur, item, state, now)

    monkeypatch.setattr(SqlStore, "_insert_outbox", dies_after_the_claim)
    with pytest.raises(Crash):
        harness.escalator.run_due()
    monkeypatch.undo()
    assert written  # the crash came after the claim and a message were written ...
    assert store.escalations(alert.alert_id)[0].fired_at is None  # ... and took both with it
    assert [i for i in store.outbox() if i.kind.startswith("escalation")] == []

    restarted_store = second_store(store, tmp_path, request)
    restarted = type(harness)(restarted_store, clock)
    restarted.dispatcher.start()
    try:
        assert [s.stage for s in restarted.escalator.run_due()] == [1]
        assert restarted.escalator.run_due() == []
        assert escalations_sent(restarted) == STAGE_1
    finally:
        restarted.dispatcher.stop()
        restarted_store.close()
    assert sorted((d.contact_id, d.status) for d in store.deliveries(alert.alert_id) if d.kind == "escalation:1") == [
        ("op1", "delivered"), ("operators", "delivered")
    ]  # fmt: skip


def test_a_crash_after_a_stage_fired_delivers_its_messages_after_the_restart(
    harness: Any, store: Store, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    t0, clock = harness.T0, harness.clock
    [alert] = harness.lifecycle.apply([harness.draft(t0)], [])
    harness.sent()
    harness.dispatcher.stop()  # the lanes are gone: the process dies before they send what the stage queued
    clock.now = t0 + 300
    assert [s.stage for s in harness.escalator.run_due()] == [1]
    assert not [m for c in harness.channels.values() for m in c.sent if m.kind.startswith("escalation")]
    assert sorted(i.contact_id for i in store.outbox(pending_only=True)) == ["op1", "operators"]

    restarted_store = second_store(store, tmp_path, request)
    restarted = type(harness)(restarted_store, clock)
    restarted.dispatcher.start()
    try:
        assert restarted.escalator.run_due() == []  # fired before the crash: not again
        assert escalations_sent(restarted) == STAGE_1  # from the outbox
    finally:
        restarted.dispatcher.stop()
        restarted_store.close()
    assert sorted(d.contact_id for d in store.deliveries(alert.alert_id) if d.kind == "escalation:1") == [
        "op1", "operators"
    ]  # fmt: skip


def test_routing_that_fails_leaves_the_stage_due_for_the_next_run(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    t0 = harness.T0
    [alert] = harness.lifecycle.apply([harness.draft(t0)], [])
    harness.clock.now = t0 + 300
    with monkeypatch.context() as patched:
        patched.setattr(harness.router, "escalation_contacts", _database_down)
        assert harness.escalator.run_due() == []  # logged, not claimed
    assert harness.store.escalations(alert.alert_id)[0].fired_at is None
    assert [s.stage for s in harness.escalator.run_due()] == [1]
    assert escalations_sent(harness) == STAGE_1


def _database_down(*args: object) -> None:
    raise RuntimeError("the database is restarting")
