"""Alerts: list, acknowledge, resolve."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Query

from carewatch.storage.base import AlertConflict
from dashboard.deps import LifecycleDep, StoreDep
from dashboard.schemas import AlertAction, AlertPublic

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


@router.get("")
def list_alerts(
    store: StoreDep, site_id: str | None = None, live: bool = False, limit: int = Query(default=200, ge=1, le=1000)
) -> list[AlertPublic]:
    return [AlertPublic.of(a) for a in store.alerts(site_id, live_only=live, limit=limit)]


@router.post("/{alert_id}/acknowledge", responses={409: {"description": "not open (someone acknowledged first)"}})
def acknowledge(alert_id: int, action: AlertAction, lifecycle: LifecycleDep, store: StoreDep) -> AlertPublic:
    _exists(store, alert_id)
    try:
        return AlertPublic.of(lifecycle.acknowledge(alert_id, action.actor, time.time(), action.note))
    except AlertConflict as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/{alert_id}/resolve", responses={409: {"description": "already resolved"}})
def resolve(alert_id: int, action: AlertAction, lifecycle: LifecycleDep, store: StoreDep) -> AlertPublic:
    _exists(store, alert_id)
    try:
        return AlertPublic.of(lifecycle.resolve(alert_id, action.actor, time.time(), action.note))
    except AlertConflict as exc:
        raise HTTPException(409, str(exc)) from None


def _exists(store: StoreDep, alert_id: int) -> None:
    if store.alert(alert_id) is None:
        raise HTTPException(404, f"no alert {alert_id}")
