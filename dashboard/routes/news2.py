"""A resident's NEWS2 escalation: the levels a clinician documents for them (read by the care team, set by those who
set thresholds). Every set and removal is kept in the resident's audit trail (``/changes``)."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException

from carewatch.storage.base import News2Escalation
from dashboard.deps import CareTeam, ScopeDep, StoreDep, ThresholdSetter, visible_resident
from dashboard.schemas import News2EscalationChangePublic, News2EscalationPublic, News2EscalationSet

router = APIRouter(prefix="/api/residents/{resident_id}/news2-escalation", tags=["news2"])


@router.get("")
def get_escalation(resident_id: str, _: CareTeam, scope: ScopeDep, store: StoreDep) -> News2EscalationPublic:
    """The levels in force: the clinician's escalation, else the RCP's (``resident_specific`` false)."""
    visible_resident(store, scope, resident_id)
    return News2EscalationPublic.of(store.news2_escalation(resident_id))


@router.put("", responses={422: {"description": "levels out of range or out of order, or no reason"}})
def set_escalation(
    resident_id: str, body: News2EscalationSet, user: ThresholdSetter, scope: ScopeDep, store: StoreDep
) -> News2EscalationPublic:
    visible_resident(store, scope, resident_id)
    escalation = News2Escalation(
        resident_id, body.urgent_from, body.emergency_from, body.red_score, body.reason.strip(), user.username,
        time.time(),
    )  # fmt: skip
    store.set_news2_escalation(escalation)
    return News2EscalationPublic.of(escalation)


@router.delete("", status_code=204)
def delete_escalation(resident_id: str, user: ThresholdSetter, scope: ScopeDep, store: StoreDep) -> None:
    """Back to the RCP's levels (audited)."""
    visible_resident(store, scope, resident_id)
    if not store.delete_news2_escalation(resident_id, user.username, time.time()):
        raise HTTPException(404, f"no NEWS2 escalation for {resident_id}")


@router.get("/changes")
def list_changes(resident_id: str, _: CareTeam, scope: ScopeDep, store: StoreDep) -> list[News2EscalationChangePublic]:
    """The audit trail: who set or removed the resident's escalation, when, and what it was, oldest first."""
    visible_resident(store, scope, resident_id)
    return [News2EscalationChangePublic.of(c) for c in store.news2_escalation_changes(resident_id)]
