"""A site's escalation policies (per severity) and on-call rota. The lifecycle (alerts/escalation.py) applies them."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from carewatch.model import ID_PATTERN, Severity
from carewatch.storage.base import EscalationStep, OnCallShift
from dashboard.deps import Admin, CareTeam, ScopeDep, StoreDep, visible_site
from dashboard.schemas import (
    EscalationPolicyPublic,
    EscalationPolicySet,
    OnCallPublic,
    OnCallShiftCreate,
    OnCallShiftPublic,
)

router = APIRouter(prefix="/api/sites/{site_id}", tags=["escalation"])


@router.get("/escalation-policies/{severity}")
def get_policy(
    site_id: str, severity: Severity, _: CareTeam, scope: ScopeDep, store: StoreDep
) -> EscalationPolicyPublic:
    visible_site(store, scope, site_id)
    steps = store.escalation_policy(site_id, severity)
    return EscalationPolicyPublic.of(site_id, severity, steps)


@router.put("/escalation-policies/{severity}")
def set_policy(
    site_id: str, severity: Severity, body: EscalationPolicySet, _: Admin, scope: ScopeDep, store: StoreDep
) -> EscalationPolicyPublic:
    visible_site(store, scope, site_id)
    steps = [EscalationStep(i + 1, s.after_minutes * 60, s.target) for i, s in enumerate(body.steps)]
    store.set_escalation_policy(site_id, severity, steps)
    return EscalationPolicyPublic.of(site_id, severity, steps)


@router.delete("/escalation-policies/{severity}", status_code=204, responses={404: {"description": "none set"}})
def delete_policy(site_id: str, severity: Severity, _: Admin, scope: ScopeDep, store: StoreDep) -> None:
    """Back to the defaults (a policy without steps is not that: it never escalates)."""
    visible_site(store, scope, site_id)
    if not store.delete_escalation_policy(site_id, severity):
        raise HTTPException(404, f"site {site_id} has no {severity} policy of its own")


@router.get("/on-call")
def on_call(
    site_id: str, _: CareTeam, scope: ScopeDep, store: StoreDep,
    at: float | None = Query(default=None, ge=0, le=1e11, description="epoch seconds; default now"),
) -> OnCallPublic:  # fmt: skip
    visible_site(store, scope, site_id)
    at = time.time() if at is None else at
    return OnCallPublic(site_id=site_id, at=at, contact_ids=[c.contact_id for c in store.on_call(site_id, at)])


@router.post("/on-call", status_code=201, responses={422: {"description": "unknown contact"}})
def add_shift(site_id: str, body: OnCallShiftCreate, _: Admin, scope: ScopeDep, store: StoreDep) -> OnCallShiftCreate:
    visible_site(store, scope, site_id)
    known = {c.contact_id for r in store.residents(site_id) for c, _link in store.contacts_of(r.resident_id)}
    known |= {c.contact_id for c in store.site_contacts(site_id)}
    if body.contact_id not in known:
        raise HTTPException(422, f"contact {body.contact_id} is not a contact of site {site_id}")
    store.add_on_call_shifts([OnCallShift(site_id, body.contact_id, body.starts_at, body.ends_at)])
    return body


@router.get("/on-call/shifts")
def list_shifts(site_id: str, _: CareTeam, scope: ScopeDep, store: StoreDep) -> list[OnCallShiftPublic]:
    """The rota: the site's current and upcoming shifts, by start."""
    visible_site(store, scope, site_id)
    return [OnCallShiftPublic.of(s) for s in store.on_call_shifts(site_id, time.time())]


@router.delete("/on-call/shifts", status_code=204, responses={404: {"description": "no such shift"}})
def delete_shift(
    site_id: str, _: Admin, scope: ScopeDep, store: StoreDep,
    contact_id: Annotated[str, Query(min_length=1, max_length=64, pattern=ID_PATTERN, description="the contact")],
    starts_at: Annotated[float, Query(ge=0, le=1e11, description="the shift's start as listed (epoch seconds)")],
) -> None:  # fmt: skip
    visible_site(store, scope, site_id)
    if not store.delete_on_call_shift(site_id, contact_id, starts_at):
        raise HTTPException(404, f"no shift of {contact_id} starting at {starts_at} at site {site_id}")
