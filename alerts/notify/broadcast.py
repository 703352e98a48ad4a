"""The dashboard channel: hands alert changes to a broadcaster (the dashboard's websocket hub) as plain JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from carewatch.model import Alert

Broadcast = Callable[[dict[str, Any]], None]


def alert_message(alert: Alert) -> dict[str, Any]:
    return {"type": "alert", "alert": asdict(alert)}


class BroadcastNotifier:
    def __init__(self, broadcast: Broadcast) -> None:
        self._broadcast = broadcast

    def alert_changed(self, alert: Alert) -> None:
        self._broadcast(alert_message(alert))
