"""Escalation on both backends with a controlled clock: stages fire in order and exactly once, also across a restart
and with two schedulers racing; acknowledging stops them, also when it races a due stage; snoozing delays them, keeping
their spacing; site policies override the defaults; APScheduler drives the runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from lifecycle_support import second_store

from alerts.escalation import PolicyDefaults
from carewatch.model import Severity
from carewatch.storage.base import EscalationStep, Store

POLL_S = 10.0


def kinds(harness: Any) -> list[tuple[str, str, str]]:
    return sorted(s for s in harness.sent() if s[2].startswith("escalation"))


def test_default_policy_orders_the_stages() -> None:
    steps = PolicyDefaults(600, 1200, 300, 2).steps(Severity.URGENT)
    assert [(s.stage, s.after_s, s.target) for s in steps] == [
        (1, 300, "operators"), (2, 600, "operators"), (3, 600, "on_call"), (4, 1200, "family")
    ]  # fmt: skip
    assert [s.after_s for s in PolicyDefaults(600, 1200, 300, 2).steps(Severity.CRITICAL)][-1] == 600
    assert PolicyDefaults().steps(Severity.INFO) == []
    assert {s.target for s in PolicyDefaults().steps(Severity.WARNING)} == {"operators"}


def test_stages_fire_at_their_time_exactly_once(harness: Any) -> None:
    t0, clock, escalator = harness.T0, harness.clock, harness.escalator
    [alert] = harness.lifecycle.apply([harness.draft(t0)], [])
    harness.sent()
    clock.now = t0 + 299
    assert escalator.run_due() == []
    clock.now = t0 + 300
    assert [s.stage for s in escalator.run_due()] == [1]
    assert escalator.run_due() == []  # the same instant again: nothing twice
    clock.now = t0 + 1200
    assert [s.stage for s in escalator.run_due()] == [2, 3, 4]
    assert escalator.run_due() == []
    assert kinds(harness) == [
        ("doc1", "email", "escalation:3"),  # the on-call clinician of the rota
        ("fam1", "email", "escalation:4"),  # the family's emergency contact (priority 1), both channels
        ("fam1", "mqtt", "escalation:4"),
        ("op1", "webhook", "escalation:1"),  # reminders to the operators ...
        ("op1", "webhook", "escalation:2"),
        ("operators", "websocket", "escalation:1"),  # ... also on the dashboard
        ("operators", "websocket", "escalation:2"),
    ]
    assert all(s.fired_at is not None for s in harness.store.escalations(alert.alert_id))


def test_acknowledging_stops_the_escalation(harness: Any) -> None:
    t0, clock, escalator, store = harness.T0, harness.clock, harness.escalator, harness.store
    [alert] = harness.lifecycle.apply([harness.draft(t0)], [])
    clock.now = t0 + 300
    escalator.run_due()
    harness.lifecycle.acknowledge(alert.alert_id, "operator:zhang", t0 + 400, "on my way")
    clock.now = t0 + 5000
    assert escalator.run_due() == []
    stages = store.escalations(alert.alert_id)
    assert stages[0].fired_at == pytest.approx(t0 + 300)
    assert all(s.fired_at is None and s.cancelled_at == pytest.approx(t0 + 400) for s in stages[1:])
    assert {k for *_, k in kinds(harness)} == {"escalation:1"}


def test_an_acknowledgement_racing_a_due_stage_leaves_one_outcome(harness: Any) -> None:
    """The claim and the acknowledgement update the same row: the stage fires before the acknowledgement or not at
    all. Repeated with fresh alerts, so both orders occur."""
    t0, store = harness.T0, harness.store
    for i in range(8):
        resident = "r1" if i % 2 == 0 else "r2"
        [alert] = harness.lifecycle.apply([harness.draft(t0 + i * 10_000, resident=resident)], [])
        harness.clock.now = t0 + i * 10_000 + 300
        barrier = threading.Barrier(2)

        def claim(alert_id: int = alert.alert_id, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            store.claim_escalation(alert_id, 1, harness.clock.now)

        def acknowledge(alert_id: int = alert.alert_id, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            store.acknowledge_alert(alert_id, "operator:zhang", harness.clock.now)

        threads = [threading.Thread(target=claim), threading.Thread(target=acknowledge)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stage = store.escalations(alert.alert_id)[0]
        assert (stage.fired_at is None) != (stage.cancelled_at is None)
        store.resolve_alert(alert.alert_id, "operator:zhang", harness.clock.now + 1)
    # and in the plain order: an acknowledged alert's due stage cannot be claimed
    [alert] = harness.lifecycle.apply([harness.draft(t0 + 200_000)], [])
    harness.lifecycle.acknowledge(alert.alert_id, "operator:li", t0 + 200_100)
    assert store.claim_escalation(alert.alert_id, 1, t0 + 200_300) is False


def test_a_restart_in_the_middle_fires_each_stage_once(
    harness: Any, store: Store, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    t0, clock = harness.T0, harness.clock
    [alert] = harness.lifecycle.apply([harness.draft(t0)], [])
    clock.now = t0 + 650
    assert [s.stage for s in harness.escalator.run_due()] == [1, 2, 3]
    harness.settle()  # their messages went out (tests/lifecycle/test_outbox.py stops with messages pending)
    harness.dispatcher.stop()  # the process stops ...

    restarted_store = second_store(store, tmp_path, request)  # ... and starts again: new connections, new objects
    restarted = type(harness)(restarted_store, clock)
    restarted.dispatcher.start()
    try:
        assert restarted.escalator.run_due() == []  # stages 1-3 fired before the restart
        clock.now = t0 + 1300
        assert [s.stage for s in restarted.escalator.run_due()] == [4]
        assert restarted.escalator.run_due() == []
        assert kinds(restarted) == [("fam1", "email", "escalation:4"), ("fam1", "mqtt", "escalation:4")]
    finally:
        restarted.dispatcher.stop()
        restarted_store.close()
    fired = [d for d in store.deliveries(alert.alert_id) if d.kind.startswith("escalation")]
    assert sorted({(d.kind, d.contact_id, d.channel) for d in fired}) == sorted(
        (d.kind, d.contact_id, d.channel) for d in fired
    )  # every stage's message went out once


def test_two_schedulers_racing_fire_each_stage_once(
    harness: Any, store: Store, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    t0, clock = harness.T0, harness.clock
    harness.lifecycle.apply([harness.draft(t0), harness.draft(t0, resident="r2")], [])
    other_store = second_store(store, tmp_path, request)
    other = type(harness)(other_store, clock)
    clock.now = t0 + 5000
    barrier = threading.Barrier(2)
    fired: list[tuple[int, int]] = []

    def run(escalator: Any) -> None:
        barrier.wait()
        fired.extend((s.alert_id, s.stage) for s in escalator.run_due())

    threads = [threading.Thread(target=run, args=(e,)) for e in (harness.escalator, other.escalator)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other_store.close()
    assert len(fired) == len(set(fired)) == 8  # 4 stages of 2 alerts, each once


def fired_at(harness: Any, *offsets: float) -> list[list[int]]:
    """The stages each run fires with the clock at T0 + each offset."""
    runs = []
    for offset in offsets:
        harness.clock.now = harness.T0 + offset
        runs.append([s.stage for s in harness.escalator.run_due()])
    return runs


def test_a_snooze_holds_the_escalation_and_it_resumes_with_its_spacing(harness: Any) -> None:
    t0 = harness.T0
    [alert] = harness.lifecycle.apply([harness.draft(t0)], [])  # stages at 300, 600, 600 (on-call), 1200 (family)
    harness.lifecycle.snooze(alert.alert_id, "operator:li", t0 + 10, t0 + 900, "in the shower")
    # The operators first, at the snooze's end; the on-call 300 s and the family 900 s after them, as planned
    assert fired_at(harness, 899, 900, 1199, 1200, 1799, 1800) == [[], [1], [], [2, 3], [], [4]]


def test_a_snooze_after_a_stage_fired_shifts_only_the_pending_stages(harness: Any) -> None:
    t0 = harness.T0
    [alert] = harness.lifecycle.apply([harness.draft(t0)], [])
    assert fired_at(harness, 300) == [[1]]
    harness.lifecycle.snooze(alert.alert_id, "operator:li", t0 + 310, t0 + 900, "on my way")
    assert [s.due_at - t0 for s in harness.store.escalations(alert.alert_id)] == [300, 900, 900, 1500]
    harness.lifecycle.snooze(alert.alert_id, "operator:li", t0 + 320, t0 + 400, "a shorter one")  # holds no less
    assert [s.due_at - t0 for s in harness.store.escalations(alert.alert_id)] == [300, 900, 900, 1500]


def test_a_snooze_ending_before_the_next_stage_moves_nothing(harness: Any) -> None:
    t0 = harness.T0
    [alert] = harness.lifecycle.apply([harness.draft(t0)], [])
    harness.lifecycle.snooze(alert.alert_id, "operator:li", t0 + 10, t0 + 200, "a moment")
    assert [s.due_at - t0 for s in harness.store.escalations(alert.alert_id)] == [300, 600, 600, 1200]


def test_a_site_policy_replaces_the_defaults(harness: Any) -> None:
    store = harness.store
    store.set_escalation_policy(
        "s1", Severity.CRITICAL, [EscalationStep(1, 0, "clinic"), EscalationStep(2, 120, "family")]
    )
    assert store.escalation_policy("s1", Severity.CRITICAL) == [
        EscalationStep(1, 0, "clinic"), EscalationStep(2, 120, "family")
    ]  # fmt: skip
    [alert] = harness.lifecycle.apply([harness.draft(harness.T0, Severity.CRITICAL)], [])
    planned = [(s.stage, s.target, s.due_at - harness.T0) for s in store.escalations(alert.alert_id)]
    assert planned == [(1, "clinic", 0), (2, "family", 120)]


def test_a_site_policy_without_steps_never_escalates(harness: Any) -> None:
    store = harness.store
    store.set_escalation_policy("s1", Severity.URGENT, [])
    [alert] = harness.lifecycle.apply([harness.draft(harness.T0)], [])  # urgent: the defaults would plan 4 stages
    assert store.escalations(alert.alert_id) == []
    harness.clock.now = harness.T0 + 7 * 86_400
    assert harness.escalator.run_due() == [] and kinds(harness) == []


def test_a_reopened_alert_rearms_only_the_stages_that_have_not_fired(harness: Any) -> None:
    t0, clock, lifecycle, store = harness.T0, harness.clock, harness.lifecycle, harness.store
    [alert] = lifecycle.apply([harness.draft(t0)], [])
    clock.now = t0 + 300
    harness.escalator.run_due()
    lifecycle.apply([], [harness.cleared(t0 + 310)])
    lifecycle.tick(t0 + 400)  # auto-resolved: pending stages cancelled
    lifecycle.apply([harness.draft(t0 + 500)], [])  # back within the flap window: the same alert
    stages = store.escalations(alert.alert_id)
    assert stages[0].fired_at == pytest.approx(t0 + 300)
    assert [(s.due_at - t0, s.cancelled_at) for s in stages[1:]] == [(1100, None), (1100, None), (1700, None)]


def test_a_reopened_alert_keeps_its_snooze(harness: Any) -> None:
    t0, lifecycle, store = harness.T0, harness.lifecycle, harness.store
    [alert] = lifecycle.apply([harness.draft(t0)], [])
    lifecycle.snooze(alert.alert_id, "operator:li", t0 + 10, t0 + 1500, "in the bath, she answered")
    lifecycle.apply([], [harness.cleared(t0 + 100)])
    lifecycle.tick(t0 + 300)  # auto-resolved
    lifecycle.apply([harness.draft(t0 + 400)], [])  # back within the flap window: the same episode, still snoozed
    # re-armed from the reopen (700, 1000, 1000, 1600), then held: the first at the snooze's end, the spacing kept
    assert [s.due_at - t0 for s in store.escalations(alert.alert_id)] == [1500, 1800, 1800, 2400]


def test_a_reopened_alert_keeps_its_snooze_counted_from_the_first_stage_not_fired(harness: Any) -> None:
    t0, lifecycle, store = harness.T0, harness.lifecycle, harness.store
    [alert] = lifecycle.apply([harness.draft(t0)], [])
    assert fired_at(harness, 300) == [[1]]
    lifecycle.snooze(alert.alert_id, "operator:li", t0 + 310, t0 + 2000, "with her now")
    lifecycle.apply([], [harness.cleared(t0 + 320)])
    lifecycle.tick(t0 + 400)  # auto-resolved
    lifecycle.apply([harness.draft(t0 + 500)], [])  # re-armed from 500: stage 1 (800) fired, 1100, 1100, 1700
    assert [s.due_at - t0 for s in store.escalations(alert.alert_id)] == [300, 2000, 2000, 2600]


def test_apscheduler_drives_the_runs(harness: Any) -> None:
    [alert] = harness.lifecycle.apply([harness.draft(harness.T0)], [])
    harness.clock.now = harness.T0 + 300
    scheduler = BackgroundScheduler(timezone="UTC")
    harness.escalator.attach(scheduler, every_s=0.05)
    scheduler.start()
    try:
        deadline = time.monotonic() + POLL_S
        while harness.store.escalations(alert.alert_id)[0].fired_at is None:
            assert time.monotonic() < deadline, "the scheduler never ran the escalation"
            time.sleep(0.02)
    finally:
        scheduler.shutdown()
    assert [s.stage for s in harness.store.escalations(alert.alert_id) if s.fired_at] == [1]
