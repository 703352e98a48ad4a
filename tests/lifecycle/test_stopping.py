"""Stopping the lifecycle's threads is bounded and loses no finding it could apply: the worker applies what was
submitted (skipping ticks) and gives up on a database that is gone, saying what it did not apply; a stop ends an
escalation run after the stage in progress, and the next start fires the rest. Real stores (SQLite, TimescaleDB)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from support import free_port

from alerts.escalation import Escalator
from alerts.lifecycle import Lifecycle
from alerts.lifecycle_worker import LifecycleWorker
from carewatch.storage.timescale import TimescaleStore

GONE_STOP_S = 1.0  # far below a connection attempt's 5 s: the worker is caught retrying


def test_a_stop_applies_the_findings_submitted(harness: Any) -> None:
    worker = LifecycleWorker(harness.lifecycle)
    for second in range(200):
        worker.tick(harness.T0 + second)
    worker.submit([harness.draft(harness.T0)], [])
    worker.start()
    assert worker.stop()
    assert [(a.resident_id, a.rule) for a in harness.store.alerts(live_only=True)] == [("r1", "spo2_low")]


def test_the_findings_not_yet_applied_are_known_for_a_saved_state(harness: Any) -> None:
    """What a save of the alert core's state keeps (alerts.checkpoint): submitted and not yet applied, in order."""
    worker = LifecycleWorker(harness.lifecycle)
    first, second = harness.draft(harness.T0), harness.draft(harness.T0 + 5, resident="r2")
    worker.submit([first], [])
    worker.submit([second], [])
    worker.submit([], [])  # nothing to apply: not kept
    assert worker.unapplied() == ([first, second], [])
    worker.start()
    worker.drain()
    assert worker.unapplied() == ([], [])
    assert worker.stop()


def test_a_stop_gives_up_on_a_database_that_is_gone(harness: Any, caplog: pytest.LogCaptureFixture) -> None:
    gone = TimescaleStore(f"postgresql://postgres@127.0.0.1:{free_port()}/gone")  # nothing listens there
    try:
        worker = LifecycleWorker(Lifecycle(gone, []))
        worker.submit([harness.draft(harness.T0)], [])
        worker.submit([harness.draft(harness.T0, resident="r2")], [])
        worker.start()
        with caplog.at_level(logging.ERROR, logger="alerts.lifecycle_worker"):
            assert not worker.stop(GONE_STOP_S)
        assert "2 new alerts not raised" in caplog.text  # the one in progress and the one queued
        assert len(worker.unapplied()[0]) == 2
    finally:
        gone.close()


def test_a_stop_ends_an_escalation_run_after_the_stage_in_progress(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    t0, clock, escalator = harness.T0, harness.clock, harness.escalator
    harness.lifecycle.apply([harness.draft(t0)], [])
    escalate = harness.router.escalate

    def escalate_then_stop(*args: Any, **kwargs: Any) -> bool:
        routed = bool(escalate(*args, **kwargs))
        escalator.stop()  # the signal arrives while the first stage is being routed
        return routed

    monkeypatch.setattr(harness.router, "escalate", escalate_then_stop)
    clock.now = t0 + 1200  # stages 1-4 all due
    assert [s.stage for s in escalator.run_due()] == [1]
    monkeypatch.undo()
    restarted = Escalator(harness.store, harness.router, harness.defaults, clock)
    assert [s.stage for s in restarted.run_due()] == [2, 3, 4]
