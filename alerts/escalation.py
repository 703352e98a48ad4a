"""Escalation: when nobody acknowledges an alert in time, the next people are called, stage by stage.

State lives in the database (the ``escalations`` table), not in the scheduler: when an alert opens, its stages are
planned with their due times from the site's policy for the alert's severity (or the defaults below). APScheduler is
only the clock that calls ``run_due`` every few seconds. Each due stage is claimed with a conditional UPDATE (not yet
fired, not cancelled, the alert still open), so across a restart, a second worker or a racing acknowledgement every
stage fires exactly once, or not at all once acknowledged; acknowledging or resolving cancels the pending stages in the
transition's own transaction. Snoozing moves the pending stages by one delay (`snooze_delay`): the first fires at the
snooze's end (at its own time, if later) and the others keep their spacing after it, so the operators get their
reminder before the on-call clinician is paged, as without the snooze. An alert reopened (the same episode, within the
flap window) before its snooze ended re-arms the stages that have not fired held the same way.

Claim and messages commit together. The stage's messages are worked out first (who, on which channel, held back or
not), then one transaction claims the stage and writes them to the dispatcher's durable outbox
(``Router.escalate(..., fired_at=now)`` -> ``Store.enqueue_outbox(..., claim=...)``). A crash before the commit leaves
the stage unclaimed, so the next run (after the restart, or in another worker) fires it; a crash after it leaves the
messages in the outbox, where the restarted dispatcher finds them. So no stage is fired without its messages, and none
is routed twice. The alternative, a ``routed_at`` mark on the stage written after routing with a sweep that routes
again what was claimed but not marked, needs a column added to existing databases, a grace period before the sweep
(or it races the worker still routing), and a rule for stages acknowledged in between; the single transaction needs
none of that. Routing that fails (the database restarting, a bug) leaves the stage due: it is tried again on the next
run, and logged each time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from apscheduler.schedulers.base import BaseScheduler

from alerts.routing import Router
from carewatch.model import Alert, AlertState, Severity
from carewatch.storage.base import EscalationStage, EscalationStep, Store, snooze_delay

log = logging.getLogger(__name__)

TICK_S = 5.0  # how often the scheduler looks for due stages: a stage fires at most this late
BATCH = 200  # due stages handled per look; the rest wait for the next tick


@dataclass(frozen=True, slots=True)
class PolicyDefaults:
    """The policy of a site that has none of its own for a severity (minutes come from the settings)."""

    on_call_after_s: float = 10 * 60  # urgent: the on-call clinician after 10 minutes without acknowledgement
    family_after_s: float = 20 * 60  # urgent: the family's emergency contact after 20
    reminder_every_s: float = 5 * 60  # the operators are reminded this often until someone acknowledges
    reminders: int = 6
    critical_factor: float = 0.5  # critical alerts escalate twice as fast

    def steps(self, severity: Severity) -> list[EscalationStep]:
        """info: none; warning: operator reminders; urgent and critical: reminders, on-call, family."""
        if severity is Severity.INFO:
            return []
        factor = self.critical_factor if severity is Severity.CRITICAL else 1.0
        timed = [(self.reminder_every_s * factor * k, "operators") for k in range(1, self.reminders + 1)]
        if severity is not Severity.WARNING:
            timed += [(self.on_call_after_s * factor, "on_call"), (self.family_after_s * factor, "family")]
        timed.sort(key=lambda t: t[0])
        return [EscalationStep(stage, after, target) for stage, (after, target) in enumerate(timed, start=1)]


class Escalator:
    def __init__(
        self, store: Store, router: Router, defaults: PolicyDefaults | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._store = store
        self._router = router
        self._defaults = defaults or PolicyDefaults()
        self._clock = clock
        self._stopping = threading.Event()

    def stop(self) -> None:
        """A run in progress ends after the stage it is routing; the stages left fire on the next run or start."""
        self._stopping.set()

    def plan(self, alert: Alert, start: float | None = None) -> list[EscalationStage]:
        """Plan (or, for a reopened alert, re-arm) the stages that have not fired, counted from ``start``."""
        steps = self._store.escalation_policy(alert.site_id, alert.severity)
        if steps is None:
            steps = self._defaults.steps(alert.severity)
        begin = alert.raised_at if start is None else start
        stages = [EscalationStage(alert.alert_id, s.stage, s.target, begin + s.after_s) for s in steps]
        if start is not None:
            stages = self._held(alert.alert_id, stages)  # a reopen keeps a snooze still running
        self._store.plan_escalation(alert.alert_id, stages)
        return stages

    def _held(self, alert_id: int, stages: list[EscalationStage]) -> list[EscalationStage]:
        """The stages as the alert's snooze holds them: those that have not fired moved by `snooze_delay`."""
        until = self._store.snoozed_until(alert_id)
        if until is None:
            return stages
        fired = {s.stage for s in self._store.escalations(alert_id) if s.fired_at is not None}
        delay = snooze_delay([s.due_at for s in stages if s.stage not in fired], until)
        return [s if s.stage in fired else replace(s, due_at=s.due_at + delay) for s in stages]

    def run_due(self) -> list[EscalationStage]:
        """Fire every due stage this process wins the claim of; the stages fired."""
        now = self._clock()
        fired = []
        for stage in self._store.due_escalations(now, BATCH):
            if self._stopping.is_set():
                log.info("stopping: due escalation stages left for the next start")
                break
            alert = self._store.alert(stage.alert_id)
            if alert is None or alert.state is not AlertState.OPEN:
                continue  # the claim would fail: acknowledging or resolving cancels the stage
            try:
                if not self._router.escalate(alert, stage, fired_at=now):
                    continue  # acknowledged, resolved or claimed by another worker meanwhile
            except Exception:  # not claimed: the next run tries again; one failing stage must not hold back the rest
                log.exception("escalation stage %d of alert %d failed to route", stage.stage, stage.alert_id)
                continue
            fired.append(stage)
        return fired

    def attach(self, scheduler: BaseScheduler, every_s: float = TICK_S) -> None:
        """Let APScheduler drive ``run_due`` (one run at a time; missed runs coalesce into one)."""
        scheduler.add_job(
            self._run_logged, "interval", seconds=every_s, id="carewatch-escalation", replace_existing=True,
            max_instances=1, coalesce=True,
        )  # fmt: skip

    def _run_logged(self) -> None:
        try:
            self.run_due()
        except Exception:  # the database may be restarting: the next tick tries again
            log.exception("the escalation run failed")
