"""Alerts: list with filters, one alert with its audit trail or as FHIR, acknowledge, resolve, snooze. The actor is
the user."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from alerts.fhir import alert_bundle
from carewatch.model import AlertState, Severity
from carewatch.storage.base import AlertConflict, Role
from dashboard.deps import (
    Acknowledger,
    CareTeam,
    LifecycleDep,
    Reader,
    Resolver,
    ScopeDep,
    Snoozer,
    StoreDep,
    public_alert,
    public_alerts,
    visible_alert,
)
from dashboard.schemas import AlertAction, AlertDetailPublic, AlertId, AlertPublic, NoNul, TransitionPublic

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


@router.get("")
def list_alerts(
    _: Reader, scope: ScopeDep, store: StoreDep,
    site_id: str | None = None, resident_id: str | None = None,
    state: Annotated[list[AlertState] | None, Query(description="any of these states")] = None,
    severity: Annotated[list[Severity] | None, Query(description="any of these severities")] = None,
    rule: str | None = None,
    since: float | None = Query(default=None, ge=0, le=1e11, description="opened at or after (epoch seconds)"),
    until: float | None = Query(default=None, ge=0, le=1e11, description="opened before"),
    live: bool = Query(default=False, description="only alerts not yet resolved"),
    limit: int = Query(default=200, ge=1, le=1000),
) -> list[AlertPublic]:  # fmt: skip
    site_ids = _narrow(scope.site_ids, site_id)
    resident_ids = _narrow(scope.resident_ids, resident_id)
    states = state
    if live:
        states = [s for s in (state or AlertState) if s is not AlertState.RESOLVED]
    alerts = store.alerts_matching(
        site_ids=site_ids, resident_ids=resident_ids, states=states,
        severities=[s.value for s in severity] if severity else None, rule=rule, since=since, until=until,
        limit=limit,
    )  # fmt: skip
    return public_alerts(store, alerts)


def _narrow(allowed: frozenset[str] | None, wanted: str | None) -> list[str] | None:
    """The ids to filter by: the one asked for (if allowed), else all allowed; None = no restriction."""
    if wanted is not None:
        return [wanted] if allowed is None or wanted in allowed else []
    return sorted(allowed) if allowed is not None else None


@router.get("/{alert_id}")
def get_alert(alert_id: AlertId, user: Reader, scope: ScopeDep, store: StoreDep) -> AlertDetailPublic:
    """The alert with its audit trail; a family member's without the care team's notes (they are the team's
    working record: "daughter not answering", a clinical remark), its states and times as they are."""
    alert = visible_alert(store, scope, alert_id)
    transitions = [TransitionPublic.of(t, notes=user.role is not Role.FAMILY) for t in store.transitions(alert_id)]
    return AlertDetailPublic(**public_alert(store, alert).model_dump(), transitions=transitions)


class FhirJSONResponse(JSONResponse):
    media_type = "application/fhir+json"


@router.get("/{alert_id}/fhir", response_class=FhirJSONResponse)
def get_alert_fhir(alert_id: AlertId, _: CareTeam, scope: ScopeDep, store: StoreDep) -> FhirJSONResponse:
    """The alert as the clinic receives it: a FHIR R4 Bundle of the Patient, a Flag, a Communication and the
    vital-sign Observations behind it (alerts/fhir.py)."""
    alert = visible_alert(store, scope, alert_id)
    return FhirJSONResponse(alert_bundle(alert, store.resident(alert.resident_id)))


@router.post("/{alert_id}/acknowledge", responses={409: {"description": "not open (someone acknowledged first)"}})
def acknowledge(
    alert_id: AlertId, action: AlertAction, user: Acknowledger, scope: ScopeDep, lifecycle: LifecycleDep,
    store: StoreDep,
) -> AlertPublic:  # fmt: skip
    visible_alert(store, scope, alert_id)
    try:
        return public_alert(store, lifecycle.acknowledge(alert_id, user.username, time.time(), action.note))
    except AlertConflict as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/{alert_id}/resolve", responses={409: {"description": "already resolved"}})
def resolve(
    alert_id: AlertId, action: AlertAction, user: Resolver, scope: ScopeDep, lifecycle: LifecycleDep, store: StoreDep
) -> AlertPublic:
    visible_alert(store, scope, alert_id)
    try:
        return public_alert(store, lifecycle.resolve(alert_id, user.username, time.time(), action.note))
    except AlertConflict as exc:
        raise HTTPException(409, str(exc)) from None


SNOOZE_MAX_MINUTES = 24 * 60  # longer than a day is not a snooze: resolve the alert, or fix the threshold


class SnoozeAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: float = Field(ge=1, le=SNOOZE_MAX_MINUTES, description="escalation waits this long (a minute at least)")
    note: Annotated[str, Field(max_length=2000, description="why; the actor is the logged-in user"), NoNul] = ""


class SnoozePublic(BaseModel):
    alert: AlertPublic
    snoozed_until: float


@router.post("/{alert_id}/snooze", responses={409: {"description": "already resolved"}})
def snooze(
    alert_id: AlertId, action: SnoozeAction, user: Snoozer, scope: ScopeDep, lifecycle: LifecycleDep, store: StoreDep
) -> SnoozePublic:
    """Hold the alert's escalation (reminders, on-call, family) for a while; its state does not change."""
    visible_alert(store, scope, alert_id)
    now = time.time()
    until = now + action.minutes * 60
    try:
        alert = lifecycle.snooze(alert_id, user.username, now, until, action.note)
    except AlertConflict as exc:
        raise HTTPException(409, str(exc)) from None
    return SnoozePublic(alert=public_alert(store, alert), snoozed_until=until)
