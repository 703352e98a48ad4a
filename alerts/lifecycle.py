"""The alert lifecycle: turns the engine's findings into stored alerts, and drives routing and escalation.

Rules, all enforced with the store's transactions and an injected clock:

- One live alert per resident and rule (the database's partial unique index): a repeat of a live alert changes nothing.
- Two times: an alert is *opened* when its condition became alertable (the data's time, ``opened_at``: what the
  rules, the flap window and the hold go by) and *raised* when carewatch found it (the clock, ``raised_at``: its
  audit trail, escalation, time to acknowledge and the reports go by). Live they are a moment apart; a backlog
  flushed days late raises today what was opened then.
- Auto-resolve with a hold: a cleared condition resolves its alert only once it has stayed clear for ``hold_s``
  (checked by ``tick``); a re-raise within the hold cancels the pending resolution. Time-driven, never sleeping.
  The engine's findings are taken in their time order, and a resolution is stamped when the hold ran out, so the
  outcome does not depend on how the data was cut into batches or when ``tick`` ran: a re-raise after the hold ran
  out reopens the resolved alert (below) even when no tick came between.
- Flap suppression: a condition that returns within ``flap_window_s`` of its alert's automatic resolution reopens the
  same alert (audited resolved -> open) instead of opening a new one; the dashboard sees the reopen, the family and
  the clinic are not told again, its end not yet sent to them (an automatic resolution's end waits out the flap
  window) is withdrawn (alerts/routing.py), and the escalation
  stages that have not fired are re-armed (the fired ones never fire twice). An alert resolved by hand is never
  reopened: a new episode is a new alert.
- Acknowledge (who, when, note), resolve by hand, snooze until a time (escalation waits). Every transition is written
  to the audit trail by the store, in the transition's transaction, which also cancels pending escalation stages.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from alerts.engine import Cleared
from alerts.escalation import Escalator
from alerts.notify.base import Notifier
from alerts.routing import Router
from carewatch.model import Alert, AlertDraft
from carewatch.storage.base import Store

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
HOLD_S = 120.0  # a condition must stay clear 2 minutes before its alert resolves itself (vitals arrive every 5-60 s)
FLAP_WINDOW_S = 15 * 60.0  # a condition back within 15 minutes of its automatic resolution is the same episode


class Lifecycle:
    def __init__(
        self, store: Store, notifiers: Sequence[Notifier], router: Router | None = None,
        escalator: Escalator | None = None, clock: Callable[[], float] = time.time, hold_s: float = HOLD_S,
        flap_window_s: float = FLAP_WINDOW_S,
    ) -> None:  # fmt: skip
        self._store = store
        self._notifiers = list(notifiers)
        self._router = router
        self._escalator = escalator
        self._clock = clock
        self._hold_s = hold_s
        self._flap_window_s = flap_window_s
        self._clearing: dict[tuple[str, str], float] = {}  # (resident, rule) -> when the condition cleared
        self._lock = threading.Lock()

    # The writer's thread ------------------------------------------------------------------------------------
    def apply(self, drafts: Sequence[AlertDraft], cleared: Sequence[Cleared]) -> list[Alert]:
        changed: list[Alert] = []
        found: list[tuple[float, AlertDraft | Cleared]] = [(d.opened_at, d) for d in drafts]
        found += [(c.at, c) for c in cleared]
        found.sort(key=lambda item: (item[0], isinstance(item[1], Cleared)))  # at one instant, the raise first
        for at, finding in found:
            key = (finding.resident_id, finding.rule)
            cleared_at = self._hold_ran_out(key, at, back=isinstance(finding, AlertDraft))
            if cleared_at is not None:
                changed += self._auto_resolve(*key, cleared_at)
            if isinstance(finding, AlertDraft):
                alert = self._open(finding)
                changed += [alert] if alert is not None else []
            elif self._hold_s <= 0:
                changed += self._auto_resolve(*key, at)
            else:
                with self._lock:
                    self._clearing.setdefault(key, at)
        for alert in changed:
            self.notify(alert)
        return changed

    def tick(self, now: float | None = None) -> list[Alert]:
        """Resolve the alerts whose condition has stayed clear for the hold time."""
        now = self._clock() if now is None else now
        with self._lock:
            held = [(key, at) for key, at in self._clearing.items() if now - at >= self._hold_s]
            for key, _ in held:
                del self._clearing[key]
        changed = [a for (resident, rule), at in held for a in self._auto_resolve(resident, rule, at)]
        for alert in changed:
            self.notify(alert)
        return changed

    def _hold_ran_out(self, key: tuple[str, str], at: float, back: bool) -> float | None:
        """When the condition of ``key`` cleared, if its hold ran out by ``at`` (no longer pending then). A condition
        ``back`` within the hold cancels the pending resolution: its alert stays open."""
        with self._lock:
            since = self._clearing.get(key)
            if since is None:
                return None
            ran_out = at - since >= self._hold_s
            if ran_out or back:
                del self._clearing[key]
            return since if ran_out else None

    def pending_resolutions(self) -> dict[tuple[str, str], float]:
        with self._lock:
            return dict(self._clearing)

    def _open(self, draft: AlertDraft) -> Alert | None:
        # Raised now: a condition found in a backlog of the past is raised (and escalates, and is measured) from
        # when carewatch found it; never before its own time (a device clock a little ahead).
        now = max(self._clock(), draft.opened_at)
        reopened = self._store.reopen_recent(draft, draft.opened_at - self._flap_window_s, now)
        if reopened is not None:
            if self._escalator is not None:
                self._escalator.plan(reopened, start=now)
            self._route(lambda router: router.reopened(reopened))
            return reopened
        alert = self._store.raise_alert(draft, now)
        if alert is None:
            return None  # live already: a repeat
        if self._escalator is not None:
            self._escalator.plan(alert)
        self._route(lambda router: router.raised(alert))
        return alert

    def _auto_resolve(self, resident_id: str, rule: str, cleared_at: float) -> list[Alert]:
        """Resolve the live alert as of when the hold ran out."""
        note = f"condition cleared at {cleared_at:.0f} and stayed clear for {self._hold_s:.0f} s"
        at = cleared_at + max(self._hold_s, 0.0)
        alert = self._store.resolve_live(resident_id, rule, SYSTEM_ACTOR, at, note)
        if alert is None:
            return []
        self._route(lambda router: router.resolved(alert, self._flap_window_s))  # told once it can no longer reopen
        return [alert]

    # API threads --------------------------------------------------------------------------------------------
    def acknowledge(self, alert_id: int, actor: str, at: float, note: str = "") -> Alert:
        """Raises AlertConflict when the alert is not open (another operator was first)."""
        alert = self._store.acknowledge_alert(alert_id, actor, at, note)
        self.notify(alert)
        return alert

    def resolve(self, alert_id: int, actor: str, at: float, note: str = "") -> Alert:
        alert = self._store.resolve_alert(alert_id, actor, at, note)
        with self._lock:
            self._clearing.pop((alert.resident_id, alert.rule), None)
        self.notify(alert)
        self._route(lambda router: router.resolved(alert))
        return alert

    def snooze(self, alert_id: int, actor: str, at: float, until: float, note: str = "") -> Alert:
        """Escalation waits until ``until``; raises AlertConflict for a resolved alert, ValueError for a past end."""
        if until <= at:
            raise ValueError("a snooze must end in the future")
        alert = self._store.snooze_alert(alert_id, actor, at, until, note)
        self.notify(alert, snoozed_until=until)
        return alert

    # Delivery -----------------------------------------------------------------------------------------------
    def notify(self, alert: Alert, snoozed_until: float | None = None) -> None:
        for notifier in self._notifiers:
            try:
                notifier.alert_changed(alert, snoozed_until)
            except Exception:  # one failing channel must not keep the alert from the others
                log.exception("notifier %s failed for alert %d", type(notifier).__name__, alert.alert_id)

    def _route(self, action: Callable[[Router], object]) -> None:
        if self._router is None:
            return
        try:
            action(self._router)
        except Exception:  # routing reads the registry: a failure must not undo the stored transition
            log.exception("routing failed")
