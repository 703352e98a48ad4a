"""Residents with their latest vitals, and one resident's readings history."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Query

from carewatch.catalog import METRIC_BY_NAME
from dashboard.deps import StoreDep
from dashboard.schemas import ReadingsPublic, ResidentPublic

router = APIRouter(prefix="/api/residents", tags=["residents"])

MAX_WINDOW_S = 7 * 24 * 3600


@router.get("")
def list_residents(store: StoreDep, site_id: str | None = None) -> list[ResidentPublic]:
    latest = store.latest_readings(site_id)
    return [ResidentPublic.of(r, latest.get(r.resident_id, {})) for r in store.residents(site_id)]


@router.get("/{resident_id}/readings")
def readings(
    store: StoreDep, resident_id: str, metric: str, start: float | None = None, end: float | None = None,
    window_s: float = Query(default=3600, gt=0, le=MAX_WINDOW_S),
) -> ReadingsPublic:  # fmt: skip
    if metric not in METRIC_BY_NAME:
        raise HTTPException(422, f"unknown metric {metric!r}")
    end = end if end is not None else time.time()
    start = start if start is not None else end - window_s
    return ReadingsPublic(
        resident_id=resident_id, metric=metric, points=store.readings(resident_id, metric, start, end)
    )
