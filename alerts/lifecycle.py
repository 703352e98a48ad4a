"""The alert lifecycle: turns the engine's findings into stored alerts and tells the notifiers.

The database enforces one live alert per resident and rule; a finding for a live alert changes nothing. A cleared
condition resolves the live alert automatically. Every transition is audited by the store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alerts.engine import Cleared
from alerts.notify.base import Notifier
from carewatch.model import Alert, AlertDraft
from carewatch.storage.base import Store

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"


class Lifecycle:
    def __init__(self, store: Store, notifiers: Sequence[Notifier]) -> None:
        self._store = store
        self._notifiers = list(notifiers)

    def apply(self, drafts: Sequence[AlertDraft], cleared: Sequence[Cleared]) -> list[Alert]:
        changed: list[Alert] = []
        for draft in drafts:
            alert = self._store.raise_alert(draft)
            if alert is not None:
                changed.append(alert)
        for done in cleared:
            alert = self._store.resolve_live(done.resident_id, done.rule, SYSTEM_ACTOR, done.at, "condition cleared")
            if alert is not None:
                changed.append(alert)
        for alert in changed:
            self.notify(alert)
        return changed

    def acknowledge(self, alert_id: int, actor: str, at: float, note: str = "") -> Alert:
        """Raises AlertConflict when the alert is not open (another operator was first)."""
        alert = self._store.acknowledge_alert(alert_id, actor, at, note)
        self.notify(alert)
        return alert

    def resolve(self, alert_id: int, actor: str, at: float, note: str = "") -> Alert:
        alert = self._store.resolve_alert(alert_id, actor, at, note)
        self.notify(alert)
        return alert

    def notify(self, alert: Alert) -> None:
        for notifier in self._notifiers:
            try:
                notifier.alert_changed(alert)
            except Exception:  # one failing channel must not keep the alert from the others
                log.exception("notifier %s failed for alert %d", type(notifier).__name__, alert.alert_id)
