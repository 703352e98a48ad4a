"""Ingest counters, exported in Prometheus format at /metrics and shown on the dashboard's system page."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter("carewatch_ingest_messages_received", "MQTT messages received", registry=registry)
        self.rejected = Counter(
            "carewatch_ingest_messages_rejected", "messages dead-lettered, by reason", ["reason"], registry=registry
        )
        self.stored = Counter("carewatch_ingest_rows_stored", "rows inserted, by table", ["table"], registry=registry)
        self.sensor_off = Counter(
            "carewatch_ingest_readings_sensor_off",
            "vital signs stored flagged as artefacts: sent while the wearable reported itself off the body",
            registry=registry,
        )
        self.duplicates = Counter(
            "carewatch_ingest_rows_duplicate", "rows skipped as already stored", registry=registry
        )
        self.callback_errors = Counter(
            "carewatch_ingest_callback_errors", "unexpected errors inside MQTT callbacks", registry=registry
        )
        self.write_retries = Counter(
            "carewatch_ingest_write_retries", "batch writes retried after a transient database error", registry=registry
        )
        self.batch_rows = Histogram(
            "carewatch_ingest_batch_rows", "rows per committed batch", registry=registry,
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000),
        )  # fmt: skip
        self.commit_seconds = Histogram(
            "carewatch_ingest_commit_seconds", "time to commit one batch", registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )  # fmt: skip
        self.backlog = Gauge("carewatch_ingest_backlog", "messages received, not yet committed", registry=registry)
        self.connected = Gauge(
            "carewatch_ingest_broker_connected", "1 while connected to the broker", registry=registry
        )
        self.refused = Gauge(
            "carewatch_ingest_broker_refused", "1 once the broker refused carewatch's credentials", registry=registry
        )
