"""Per-resident thresholds a clinician sets (read by the care team)."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException

from carewatch.catalog import METRIC_BY_NAME
from carewatch.storage.base import Threshold
from dashboard.deps import CareTeam, ScopeDep, StoreDep, ThresholdSetter, visible_resident
from dashboard.schemas import ThresholdPublic, ThresholdSet

router = APIRouter(prefix="/api/residents/{resident_id}/thresholds", tags=["thresholds"])


@router.get("")
def list_thresholds(resident_id: str, _: CareTeam, scope: ScopeDep, store: StoreDep) -> list[ThresholdPublic]:
    visible_resident(store, scope, resident_id)
    return [ThresholdPublic.of(t) for t in store.thresholds(resident_id)]


@router.put("/{metric}", responses={422: {"description": "unknown metric"}})
def set_threshold(
    resident_id: str, metric: str, body: ThresholdSet, user: ThresholdSetter, scope: ScopeDep, store: StoreDep
) -> ThresholdPublic:
    visible_resident(store, scope, resident_id)
    if metric not in METRIC_BY_NAME:
        raise HTTPException(422, f"unknown metric {metric!r}")
    threshold = Threshold(resident_id, metric, body.low, body.high, time.time(), user.username)
    store.set_threshold(threshold)
    return ThresholdPublic.of(threshold)


@router.delete("/{metric}", status_code=204)
def delete_threshold(resident_id: str, metric: str, _: ThresholdSetter, scope: ScopeDep, store: StoreDep) -> None:
    visible_resident(store, scope, resident_id)
    if not store.delete_threshold(resident_id, metric):
        raise HTTPException(404, f"no {metric} threshold for {resident_id}")
