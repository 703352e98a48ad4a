"""The lifecycle on both backends: dedupe (also across racing workers), hold before auto-resolve, flap suppression,
acknowledge / resolve / snooze with their audit trail."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from alerts.lifecycle import Lifecycle
from carewatch.model import AlertState
from carewatch.storage.base import AlertConflict, Store


def test_a_repeat_updates_nothing_and_opens_no_second_alert(harness: Any) -> None:
    t0 = harness.T0
    [alert] = harness.lifecycle.apply([harness.draft(t0)], [])
    assert harness.lifecycle.apply([harness.draft(t0 + 5), harness.draft(t0 + 10)], []) == []
    assert [a.alert_id for a in harness.store.alerts()] == [alert.alert_id]
    assert [(t.from_state, t.to_state) for t in harness.store.transitions(alert.alert_id)] == [(None, AlertState.OPEN)]


def test_racing_workers_open_one_alert(store: Store, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Two workers, each with its own connection, raise the same condition at once: the database keeps one."""
    harness_cls = type(request.getfixturevalue("harness"))
    second = _second_store(store, tmp_path, request)
    lifecycles = [Lifecycle(s, []) for s in (store, second, store, second)]
    barrier = threading.Barrier(len(lifecycles))
    opened: list[int] = []

    def work(lifecycle: Lifecycle) -> None:
        barrier.wait()
        opened.extend(a.alert_id for a in lifecycle.apply([harness_cls.draft(harness_cls.T0)], []))

    threads = [threading.Thread(target=work, args=(lc,)) for lc in lifecycles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    second.close()
    assert len(opened) == 1 and len(store.alerts(live_only=True)) == 1


def test_auto_resolve_waits_for_the_hold_and_a_reraise_cancels_it(harness: Any) -> None:
    t0, lifecycle = harness.T0, harness.lifecycle
    [alert] = lifecycle.apply([harness.draft(t0)], [])
    harness.clock.now = t0 + 30
    lifecycle.apply([], [harness.cleared(t0 + 30)])
    harness.clock.now = t0 + 60
    assert lifecycle.tick() == []  # clear for 30 s of the 60 s hold
    lifecycle.apply([harness.draft(t0 + 70)], [])  # back within the hold: the pending resolution is cancelled
    assert lifecycle.pending_resolutions() == {}
    assert lifecycle.tick(t0 + 200) == [] and harness.store.alert(alert.alert_id).state is AlertState.OPEN

    lifecycle.apply([], [harness.cleared(t0 + 300)])
    assert lifecycle.tick(t0 + 359) == []
    [resolved] = lifecycle.tick(t0 + 360)
    assert resolved.state is AlertState.RESOLVED and resolved.resolved_by == "system"
    assert resolved.resolved_at == pytest.approx(t0 + 360)
    note = harness.store.transitions(alert.alert_id)[-1].note
    assert "stayed clear for 60 s" in note


def test_a_flapping_condition_reopens_the_same_alert(harness: Any) -> None:
    t0, lifecycle, store = harness.T0, harness.lifecycle, harness.store
    [alert] = lifecycle.apply([harness.draft(t0)], [])
    for cycle in range(3):  # clear, resolve after the hold, come back a minute later: three times
        start = t0 + 1000 * cycle
        lifecycle.apply([], [harness.cleared(start + 100)])
        lifecycle.tick(start + 160)
        [again] = lifecycle.apply([harness.draft(start + 220)], [])
        assert again.alert_id == alert.alert_id and again.state is AlertState.OPEN
    assert len(store.alerts()) == 1
    trail = [(t.from_state, t.to_state) for t in store.transitions(alert.alert_id)]
    assert trail[1:3] == [(AlertState.OPEN, AlertState.RESOLVED), (AlertState.RESOLVED, AlertState.OPEN)]
    assert "reopened" in store.transitions(alert.alert_id)[2].note
    # family and clinic were told once, not once per flap
    raised = [s for s in harness.sent() if s[2] == "raised"]
    assert sorted(raised) == sorted(set(raised))


def test_the_outcome_does_not_depend_on_how_the_findings_were_batched_or_when_ticks_ran(harness: Any) -> None:
    """One episode, as r1's findings one at a time with a tick at each, and as r2's all in one batch with one tick
    at the end: clear, back after the hold ran out (reopened), clear, back within the hold (stays open), clear."""
    t0, lifecycle, store = harness.T0, harness.lifecycle, harness.store
    findings = [(0, "raised"), (30, "cleared"), (100, "raised"), (200, "cleared"), (230, "raised"), (400, "cleared")]

    def finding(offset: float, kind: str, resident: str) -> tuple[list[Any], list[Any]]:
        if kind == "raised":
            return [harness.draft(t0 + offset, resident=resident)], []
        return [], [harness.cleared(t0 + offset, resident=resident)]

    for offset, kind in findings:
        lifecycle.apply(*finding(offset, kind, "r1"))
        lifecycle.tick(t0 + offset)
    batch = [finding(offset, kind, "r2") for offset, kind in findings]
    lifecycle.apply([d for drafts, _ in batch for d in drafts], [c for _, cleared in batch for c in cleared])
    lifecycle.tick(t0 + 1000)
    lifecycle.tick(t0 + 1000)  # r1's last clearing ran out here too

    def trail(resident: str) -> list[tuple[Any, Any, float]]:
        [alert] = [a for a in store.alerts() if a.resident_id == resident]
        return [(t.from_state, t.to_state, t.at - t0) for t in store.transitions(alert.alert_id)]

    open_, resolved = AlertState.OPEN, AlertState.RESOLVED
    expected = [(None, open_, 0), (open_, resolved, 90), (resolved, open_, 100), (open_, resolved, 460)]
    assert trail("r1") == trail("r2") == expected


def test_after_the_flap_window_or_a_manual_resolve_a_new_alert_opens(harness: Any) -> None:
    t0, lifecycle, store = harness.T0, harness.lifecycle, harness.store
    [first] = lifecycle.apply([harness.draft(t0)], [])
    lifecycle.apply([], [harness.cleared(t0 + 10)])
    lifecycle.tick(t0 + 70)
    [second] = lifecycle.apply([harness.draft(t0 + 70 + harness.FLAP_S + 1)], [])
    assert second.alert_id != first.alert_id
    lifecycle.resolve(second.alert_id, "operator:zhang", t0 + 2000, "checked, sensor loose")
    [third] = lifecycle.apply([harness.draft(t0 + 2010)], [])  # resolved by hand: never reopened
    assert third.alert_id not in (first.alert_id, second.alert_id)
    assert len(store.alerts()) == 3 and len(store.alerts(live_only=True)) == 1


def test_acknowledge_resolve_and_snooze_are_audited(harness: Any) -> None:
    t0, lifecycle, store = harness.T0, harness.lifecycle, harness.store
    [alert] = lifecycle.apply([harness.draft(t0)], [])
    snoozed = lifecycle.snooze(alert.alert_id, "operator:li", t0 + 10, t0 + 900, "resident is showering")
    assert snoozed.state is AlertState.OPEN and store.snoozed_until(alert.alert_id) == pytest.approx(t0 + 900)
    with pytest.raises(ValueError, match="future"):
        lifecycle.snooze(alert.alert_id, "operator:li", t0 + 20, t0 + 5)
    acked = lifecycle.acknowledge(alert.alert_id, "operator:zhang", t0 + 60, "on my way")
    assert (acked.acknowledged_by, acked.acknowledged_at) == ("operator:zhang", pytest.approx(t0 + 60))
    with pytest.raises(AlertConflict):
        lifecycle.acknowledge(alert.alert_id, "operator:li", t0 + 61)
    done = lifecycle.resolve(alert.alert_id, "operator:zhang", t0 + 120, "SpO2 back at 95 % on air")
    with pytest.raises(AlertConflict):
        lifecycle.snooze(alert.alert_id, "operator:li", t0 + 130, t0 + 900)
    trail = [(t.from_state, t.to_state, t.actor) for t in store.transitions(alert.alert_id)]
    assert trail == [
        (None, AlertState.OPEN, "system"),
        (AlertState.OPEN, AlertState.OPEN, "operator:li"),  # the snooze
        (AlertState.OPEN, AlertState.ACKNOWLEDGED, "operator:zhang"),
        (AlertState.ACKNOWLEDGED, AlertState.RESOLVED, "operator:zhang"),
    ]
    assert "snoozed until" in store.transitions(alert.alert_id)[1].note
    assert [a.state for a in harness.changes] == [
        AlertState.OPEN, AlertState.OPEN, AlertState.ACKNOWLEDGED, AlertState.RESOLVED
    ]  # fmt: skip
    assert done.resolved_by == "operator:zhang"


def _second_store(store: Store, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    """Another connection to the same database, as a second worker would have."""
    if store.backend == "sqlite":
        from carewatch.storage.sqlite import SqliteStore

        return SqliteStore(tmp_path / "carewatch.db")
    from carewatch.storage.timescale import TimescaleStore

    return TimescaleStore(request.getfixturevalue("pg_url"))


def test_a_reopen_never_makes_a_second_live_alert(harness: Any) -> None:
    """Another worker opened a new alert after the automatic resolution: the flap rule must not revive the old one."""
    t0, lifecycle, store = harness.T0, harness.lifecycle, harness.store
    [first] = lifecycle.apply([harness.draft(t0)], [])
    lifecycle.apply([], [harness.cleared(t0 + 10)])
    lifecycle.tick(t0 + 70)
    other = store.raise_alert(harness.draft(t0 + 80))  # the other worker
    assert other is not None and other.alert_id != first.alert_id
    assert lifecycle.apply([harness.draft(t0 + 90)], []) == []
    assert [a.alert_id for a in store.alerts(live_only=True)] == [other.alert_id]
    assert store.alert(first.alert_id).state is AlertState.RESOLVED


def test_an_alert_from_a_backlog_is_raised_now_and_counted_then(harness: Any) -> None:
    """A gateway flushes data 6 days old: the alert keeps its condition's time (opened_at, the evidence) and is raised
    now: its audit trail, its escalation, its time to acknowledge and the report's period go by the raise; the report
    of the closed period of the data stays as it was; the condition's end, in the same backlog, is recorded at the
    raise, not before it."""
    from alerts.reports import service_report

    t0, store, clock = harness.T0, harness.store, harness.clock
    before = service_report(store, "s1", t0 - 86_400, t0 + 86_400)
    now = clock.advance(6 * 86_400)
    [alert] = harness.lifecycle.apply([harness.draft(t0)], [])
    assert (alert.opened_at, alert.raised_at) == (t0, now)
    assert [(t.at, t.to_state) for t in store.transitions(alert.alert_id)] == [(now, AlertState.OPEN)]
    assert min(s.due_at for s in store.escalations(alert.alert_id)) > now  # not overdue at once
    harness.lifecycle.acknowledge(alert.alert_id, "operator:zhang", now + 120)
    report = service_report(store, "s1", now - 3600, now + 3600)
    assert report["alerts"]["total"] == 1 and report["time_to_acknowledge_s"]["median"] == 120.0
    assert service_report(store, "s1", t0 - 86_400, t0 + 86_400) == before  # the closed period is unchanged
    assert before["alerts"]["total"] == 0

    [other] = harness.lifecycle.apply([harness.draft(t0 + 60, resident="r2")], [harness.cleared(t0 + 600, "r2")])
    harness.lifecycle.tick(now + 1)  # the hold ran out in the data long ago
    resolved = store.alert(other.alert_id)
    assert resolved is not None and resolved.resolved_at == now and resolved.opened_at == t0 + 60
    assert [t.at for t in store.transitions(other.alert_id)] == [now, now]
