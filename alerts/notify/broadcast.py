"""The dashboard channel: hands alert changes and escalation notices to a broadcaster (the websocket hub) as JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from alerts.notify.base import Message
from carewatch.model import Alert

Broadcast = Callable[[dict[str, Any]], None]


def alert_message(alert: Alert, snoozed_until: float | None = None) -> dict[str, Any]:
    """An alert change; a snooze adds its end (other changes do not say: the boards keep what they know)."""
    snooze = {} if snoozed_until is None else {"snoozed_until": snoozed_until}
    return {"type": "alert", "alert": asdict(alert) | snooze}


def notice_message(message: Message) -> dict[str, Any]:
    """An escalation or reminder for the operators of a site (address = the site id)."""
    alert = message.payload.get("alert", {})
    return {
        "type": "notice", "site_id": message.address, "alert_id": message.alert_id,
        "resident_id": alert.get("resident_id"), "kind": message.kind, "subject": message.subject,
        "text": message.text,
    }  # fmt: skip


class BroadcastNotifier:
    """A Notifier (every alert change) and the "websocket" Channel (notices), over one non-blocking broadcast."""

    name = "websocket"

    def __init__(self, broadcast: Broadcast) -> None:
        self._broadcast = broadcast

    def alert_changed(self, alert: Alert, snoozed_until: float | None = None) -> None:
        self._broadcast(alert_message(alert, snoozed_until))

    def send(self, message: Message) -> None:
        self._broadcast(notice_message(message))
