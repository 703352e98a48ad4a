"""Health, Prometheus metrics, and the system page's figures: ingest counters, backlog, dead letters, websockets, and
how the alert core's state was readied at start."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from dashboard.deps import StoreDep, SystemViewer, context_of, hub_of
from dashboard.schemas import DeadLetterPublic, SystemPublic

router = APIRouter(tags=["system"])

SYSTEM_DEAD_LETTERS = 50  # the newest rejected messages shown on the system page
# Counter -> the name the page shows. Counters are cumulative: the page turns two samples into a rate.
INGEST_COUNTERS = {
    "carewatch_ingest_messages_received_total": "messages_received",
    "carewatch_ingest_rows_duplicate_total": "rows_duplicate",
    "carewatch_ingest_readings_sensor_off_total": "readings_sensor_off",
    "carewatch_ingest_callback_errors_total": "callback_errors",
    "carewatch_ingest_write_retries_total": "write_retries",
    "carewatch_ingest_batch_rows_count": "batches_committed",
}


@router.get("/healthz")
def health(store: StoreDep) -> dict[str, str]:
    """Liveness for load balancers and probes; no login needed, nothing private."""
    return {"status": "ok", "storage": store.backend}


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus scrape endpoint (counters only, no resident data): keep it on the internal network."""
    return Response(generate_latest(context_of(request.app).metrics_registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/system")
def system(_: SystemViewer, store: StoreDep, request: Request) -> SystemPublic:
    registry = context_of(request.app).metrics_registry
    hub = hub_of(request.app)
    ingest = {label: _sample(registry, name) for name, label in INGEST_COUNTERS.items()}
    rejected: dict[str, float] = {}
    stored: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "carewatch_ingest_messages_rejected_total":
                rejected[sample.labels["reason"]] = sample.value
            elif sample.name == "carewatch_ingest_rows_stored_total":
                stored[sample.labels["table"]] = sample.value
    ingest.update({f"rows_stored_{table}": value for table, value in stored.items()})
    ingest["messages_rejected"] = sum(rejected.values())
    return SystemPublic(
        storage=store.backend, ingest=ingest, rejected_by_reason=rejected,
        backlog=_sample(registry, "carewatch_ingest_backlog"),
        broker_connected=_sample(registry, "carewatch_ingest_broker_connected") > 0,
        websocket_clients=hub.client_count, websocket_dropped=hub.dropped_clients,
        dead_letters_total=store.count("dead_letters"),
        alert_core_start_seconds=registry.get_sample_value("carewatch_alert_core_start_seconds"),
        alert_core_resumed=_sample(registry, "carewatch_alert_core_resumed") > 0,
        alert_core_recovered=_sample(registry, "carewatch_alert_core_recovered") > 0,
        dead_letters=[
            DeadLetterPublic(
                received_at=d.received_at, topic=d.topic, reason=d.reason, detail=d.detail,
                payload_size=d.payload_size,
            )
            for d in store.dead_letters(SYSTEM_DEAD_LETTERS)
        ],
    )  # fmt: skip


def _sample(registry: CollectorRegistry, name: str) -> float:
    value = registry.get_sample_value(name)
    return float(value) if value is not None else 0.0
