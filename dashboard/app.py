"""The FastAPI application factory. It is handed its collaborators; it reads no settings and starts nothing."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry

from alerts.lifecycle import Lifecycle
from carewatch.storage.base import StillOnRota, Store
from dashboard.auth import AuthConfig, LoginThrottle, Sessions
from dashboard.guard import LimitBody, RefuseNul
from dashboard.hub import Hub
from dashboard.refusals import invalid_request, still_on_rota
from dashboard.routes import (
    alerts,
    auth,
    contacts,
    devices,
    escalation,
    limit_review,
    live,
    news2,
    pages,
    reports,
    residents,
    sites,
    system,
    thresholds,
    users,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
# uPlot, installed from npm by `make` (package.json). A checkout without it still serves every page, without charts.
UPLOT_DIST = Path(__file__).resolve().parents[1] / "node_modules" / "uplot" / "dist"
ROUTERS = (
    auth, users, sites, residents, devices, contacts, thresholds, news2, limit_review, escalation, alerts, reports,
    live, system, pages,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DashboardContext:
    store: Store
    lifecycle: Lifecycle
    hub: Hub
    metrics_registry: CollectorRegistry
    auth: AuthConfig = field(default_factory=AuthConfig)  # a random per-process secret unless the settings give one


def create_app(context: DashboardContext) -> FastAPI:
    app = FastAPI(
        title="carewatch", summary="Elderly-care monitoring: residents, vitals, alerts", version="0.1.0",
        description="Log in with POST /api/auth/login; send the token as `Authorization: Bearer <token>`.",
        exception_handlers={RequestValidationError: invalid_request, StillOnRota: still_on_rota},
    )  # fmt: skip
    app.state.context = context
    app.add_middleware(RefuseNul)
    app.add_middleware(LimitBody)
    app.state.sessions = Sessions(context.store, context.auth)
    app.state.login_throttle = LoginThrottle(context.auth.login_max_failures, context.auth.login_window_s)
    for module in ROUTERS:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if UPLOT_DIST.is_dir():
        app.mount("/vendor/uplot", StaticFiles(directory=UPLOT_DIST), name="uplot")
    else:
        log.warning("uPlot is not installed (run `make` or `npm ci`): the resident page shows no charts")
    return app
