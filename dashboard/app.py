"""The FastAPI application factory. It is handed its collaborators; it reads no settings and starts nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry

from alerts.lifecycle import Lifecycle
from carewatch.storage.base import Store
from dashboard.hub import Hub
from dashboard.routes import alerts, live, residents, system

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True, slots=True)
class DashboardContext:
    store: Store
    lifecycle: Lifecycle
    hub: Hub
    metrics_registry: CollectorRegistry


def create_app(context: DashboardContext) -> FastAPI:
    app = FastAPI(title="carewatch", summary="Elderly-care monitoring: residents, vitals, alerts", version="0.1.0")
    app.state.context = context
    for module in (residents, alerts, live, system):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def board() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app
