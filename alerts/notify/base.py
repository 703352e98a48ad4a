"""The notifier interface every delivery channel implements."""

from __future__ import annotations

from typing import Protocol

from carewatch.model import Alert


class Notifier(Protocol):
    def alert_changed(self, alert: Alert) -> None:
        """An alert was raised or changed state. Called from the ingest writer's or an API thread: return quickly."""
