"""Health and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dashboard.deps import StoreDep

router = APIRouter(tags=["system"])


@router.get("/healthz")
def health(store: StoreDep) -> dict[str, str]:
    return {"status": "ok", "storage": store.backend}


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.context.metrics_registry), media_type=CONTENT_TYPE_LATEST)
