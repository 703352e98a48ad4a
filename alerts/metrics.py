"""The alert core's figures, exported in Prometheus format at /metrics beside ingest's (ingest/metrics.py)."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Gauge

EngineStart = Literal["resumed", "recovered", "rebuilt"]  # how a start readied the state (carewatch.runtime)


class AlertCoreMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.start_seconds = Gauge(
            "carewatch_alert_core_start_seconds",
            "how long the last start took to ready the alert core's state (no alert is evaluated meanwhile)",
            registry=registry,
        )
        self.resumed = Gauge(
            "carewatch_alert_core_resumed",
            "1: the last start took up the state a clean stop saved, as it was",
            registry=registry,
        )
        self.recovered = Gauge(
            "carewatch_alert_core_recovered",
            "1: the last start took up the state saved last while running and replayed the rows stored since",
            registry=registry,
        )  # both 0: it rebuilt the state from stored data
        self.save_seconds = Gauge(
            "carewatch_alert_state_save_seconds",
            "how long the last save of the alert core's state while running held up the writer",
            registry=registry,
        )
        self.save_bytes = Gauge(
            "carewatch_alert_state_bytes", "the size of the alert core's state saved last", registry=registry
        )

    def started(self, how: EngineStart) -> None:
        self.resumed.set(how == "resumed")
        self.recovered.set(how == "recovered")

    def saved(self, seconds: float, size: int) -> None:
        self.save_seconds.set(seconds)
        self.save_bytes.set(size)
