"""Per-resident thresholds a clinician sets, each with the reason for it (read by the care team). A metric may have
one that applies always and one for the time in bed (``?context=in_bed``: while the resident's own bed sensor says
they are in bed; out of bed the other, or the rule's default, applies). Every set and removal is kept in the
resident's audit trail (``/changes``), as a NEWS2 escalation's is."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from carewatch.catalog import METRIC_BY_NAME
from carewatch.storage.base import Threshold, ThresholdContext, threshold_limits_problem
from dashboard.deps import CareTeam, ScopeDep, StoreDep, ThresholdSetter, visible_resident
from dashboard.schemas import CONTEXT_ABOUT, ContextName, ThresholdChangePublic, ThresholdPublic, ThresholdSet

ContextQuery = Annotated[ContextName, Query(description=CONTEXT_ABOUT)]

router = APIRouter(prefix="/api/residents/{resident_id}/thresholds", tags=["thresholds"])


@router.get("")
def list_thresholds(resident_id: str, _: CareTeam, scope: ScopeDep, store: StoreDep) -> list[ThresholdPublic]:
    visible_resident(store, scope, resident_id)
    return [ThresholdPublic.of(t) for t in store.thresholds(resident_id)]


@router.get("/changes")
def list_changes(resident_id: str, _: CareTeam, scope: ScopeDep, store: StoreDep) -> list[ThresholdChangePublic]:
    """The audit trail: who set or removed which of the resident's limits, when, what they were and why, oldest
    first."""
    visible_resident(store, scope, resident_id)
    return [ThresholdChangePublic.of(c) for c in store.threshold_changes(resident_id)]


@router.put(
    "/{metric}", responses={422: {"description": "unknown metric or context, no reason, limits out of order or range"}}
)
def set_threshold(
    resident_id: str, metric: str, body: ThresholdSet, user: ThresholdSetter, scope: ScopeDep, store: StoreDep,
    context: ContextQuery = "always",
) -> ThresholdPublic:  # fmt: skip
    visible_resident(store, scope, resident_id)
    if metric not in METRIC_BY_NAME:
        raise HTTPException(422, f"unknown metric {metric!r}")
    problem = threshold_limits_problem(METRIC_BY_NAME[metric], body.low, body.high)
    if problem is not None:
        raise HTTPException(422, problem)
    threshold = Threshold(resident_id, metric, body.low, body.high, body.reason.strip(), time.time(), user.username,
                          ThresholdContext(context))  # fmt: skip
    store.set_threshold(threshold)
    return ThresholdPublic.of(threshold)


@router.delete("/{metric}", status_code=204)
def delete_threshold(
    resident_id: str, metric: str, user: ThresholdSetter, scope: ScopeDep, store: StoreDep,
    context: ContextQuery = "always",
) -> None:  # fmt: skip
    """Back to the rule's default, or for ``in_bed`` to the limit that applies otherwise (audited)."""
    visible_resident(store, scope, resident_id)
    if not store.delete_threshold(resident_id, metric, user.username, time.time(), ThresholdContext(context)):
        raise HTTPException(404, f"no {metric} threshold ({context}) for {resident_id}")
