"""Residents with their latest vitals and NEWS2, and one resident's history (raw, or bucketed for the charts)."""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, HTTPException, Query

from carewatch.catalog import METRIC_BY_NAME
from carewatch.model import Resident, upserted
from carewatch.storage.history import fill_gaps
from dashboard.deps import Admin, Reader, ScopeDep, StoreDep, visible_resident
from dashboard.schemas import (
    BucketPublic,
    HistoryPublic,
    Id,
    News2Public,
    ReadingsPublic,
    ResidentPublic,
    ResidentUpsert,
)
from dashboard.scoring import news2

router = APIRouter(prefix="/api/residents", tags=["residents"])

MAX_WINDOW_S = 7 * 24 * 3600
# The chart views: window -> bucket width. About 60-170 points each: one per pixel column is plenty.
VIEWS: dict[str, tuple[int, int]] = {
    "1h": (3600, 60), "24h": (86400, 600), "7d": (7 * 86400, 3600), "30d": (30 * 86400, 6 * 3600),
}  # fmt: skip
View = Literal["1h", "24h", "7d", "30d"]


def _public(residents: list[Resident], latest: dict[str, dict[str, tuple[float, float]]]) -> list[ResidentPublic]:
    scale2 = [r.resident_id for r in residents if r.spo2_scale == 2]
    scores = news2({r.resident_id: latest[r.resident_id] for r in residents if r.resident_id in latest}, scale2)
    return [
        ResidentPublic.of(
            r, latest.get(r.resident_id, {}),
            News2Public.model_validate(scores[r.resident_id]) if r.resident_id in scores else None,
        )
        for r in residents
    ]  # fmt: skip


@router.get("")
def list_residents(_: Reader, scope: ScopeDep, store: StoreDep, site_id: str | None = None) -> list[ResidentPublic]:
    return _public(scope.residents(store.residents(site_id)), store.latest_readings(site_id))


@router.get("/{resident_id}")
def get_resident(resident_id: str, _: Reader, scope: ScopeDep, store: StoreDep) -> ResidentPublic:
    resident = visible_resident(store, scope, resident_id)
    return _public([resident], store.latest_readings(resident.site_id))[0]


@router.put("/{resident_id}", responses={422: {"description": "unknown site"}})
def put_resident(resident_id: Id, body: ResidentUpsert, _: Admin, store: StoreDep) -> ResidentPublic:
    if body.site_id not in {s.site_id for s in store.sites()}:
        raise HTTPException(422, f"unknown site {body.site_id}")
    given = {"resident_id": resident_id, **body.model_dump(exclude_unset=True)}
    resident = upserted(store.resident(resident_id), Resident, given)
    store.upsert_residents([resident])
    return ResidentPublic.of(resident, {})


def _metric(metric: str) -> str:
    if metric not in METRIC_BY_NAME:
        raise HTTPException(422, f"unknown metric {metric!r}")
    return metric


@router.get("/{resident_id}/readings")
def readings(
    resident_id: str, metric: str, _: Reader, scope: ScopeDep, store: StoreDep,
    start: float | None = Query(default=None, ge=0, le=1e11), end: float | None = Query(default=None, ge=0, le=1e11),
    window_s: float = Query(default=3600, gt=0, le=MAX_WINDOW_S),
) -> ReadingsPublic:  # fmt: skip
    visible_resident(store, scope, resident_id)
    end = end if end is not None else time.time()
    start = start if start is not None else end - window_s
    points = store.readings(resident_id, _metric(metric), start, end)
    return ReadingsPublic(resident_id=resident_id, metric=metric, points=points)


@router.get("/{resident_id}/history")
def history(
    resident_id: str, metric: str, _: Reader, scope: ScopeDep, store: StoreDep, view: View = "1h",
    end: float | None = Query(default=None, ge=0, le=1e11, description="default: now"),
    fill: bool = Query(default=False, description="list every bucket of the window; empty ones (gaps) have count 0"),
) -> HistoryPublic:  # fmt: skip
    """Bucketed history for the charts: 1 h in 1-minute buckets, 24 h in 10-minute, 7 d in hourly ones, 30 d in
    6-hourly ones. Raw readings for short windows, roll-ups for long ones (``Store.history`` chooses)."""
    visible_resident(store, scope, resident_id)
    window_s, bucket_s = VIEWS[view]
    end = end if end is not None else time.time()
    start = end - window_s
    buckets = store.history(resident_id, _metric(metric), start, end, bucket_s)
    public = (
        [BucketPublic.of(b) if b else BucketPublic.gap(at) for at, b in fill_gaps(buckets, start, end, bucket_s)]
        if fill
        else [BucketPublic.of(b) for b in buckets]
    )
    return HistoryPublic(
        resident_id=resident_id, metric=metric, start=start, end=end, bucket_s=bucket_s, buckets=public,
    )  # fmt: skip
