"""The alert core's figures, exported in Prometheus format at /metrics beside ingest's (ingest/metrics.py)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge


class AlertCoreMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.start_seconds = Gauge(
            "carewatch_alert_core_start_seconds",
            "how long the last start took to ready the alert core's state (no alert is evaluated meanwhile)",
            registry=registry,
        )
        self.resumed = Gauge(
            "carewatch_alert_core_resumed",
            "1: the last start took up the state a clean stop saved; 0: it rebuilt the state from stored data",
            registry=registry,
        )
