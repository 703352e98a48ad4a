"""Reports: a site's service report for a period (JSON and a page with charts) and a family contact's digest."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from alerts.reports import WEEK_S, family_digest, service_report
from carewatch.model import ContactRole
from dashboard.access import Permission, allowed
from dashboard.deps import CareTeam, OptionalUser, ScopeDep, StoreDep

STATIC = Path(__file__).resolve().parents[1] / "static"
MAX_PERIOD_S = 400 * 86_400.0  # a year and a bit: enough for an annual report, bounded for the database

router = APIRouter(tags=["reports"])


def _period(start: float | None, end: float | None) -> tuple[float, float]:
    end = time.time() if end is None else end
    start = end - WEEK_S if start is None else start
    if not 0 < end - start <= MAX_PERIOD_S:
        raise HTTPException(422, f"the period must be positive and at most {MAX_PERIOD_S / 86_400:.0f} days")
    return start, end


@router.get("/api/reports/service")
def site_service_report(
    _: CareTeam, scope: ScopeDep, store: StoreDep, site_id: str | None = None,
    start: float | None = Query(default=None, ge=0, le=1e11, description="epoch seconds; default a week before end"),
    end: float | None = Query(default=None, ge=0, le=1e11, description="epoch seconds; default now"),
) -> dict[str, Any]:  # fmt: skip
    """Residents covered, alerts by rule and severity, time to acknowledge, escalations, deliveries by channel."""
    if site_id is None and not scope.everything:
        raise HTTPException(422, "name a site_id")
    if site_id is not None and not scope.sees_site(site_id):
        raise HTTPException(404, f"no site {site_id}")
    return service_report(store, site_id, *_period(start, end))


@router.get("/api/reports/digest/{contact_id}")
def contact_digest(
    contact_id: str, _: CareTeam, scope: ScopeDep, store: StoreDep,
    start: float | None = Query(default=None, ge=0, le=1e11), end: float | None = Query(default=None, ge=0, le=1e11),
) -> dict[str, Any]:  # fmt: skip
    """The weekly digest a family contact receives (a preview for the care team)."""
    residents = []
    contact = None
    for resident in store.residents():
        if not scope.sees(resident):
            continue
        for c, _link in store.contacts_of(resident.resident_id):
            if c.contact_id == contact_id and c.role is ContactRole.FAMILY:
                contact = c
                residents.append(resident)
    if contact is None:
        raise HTTPException(404, f"no family contact {contact_id}")
    return family_digest(store, contact, residents, *_period(start, end))


@router.get("/reports", include_in_schema=False)
def report_page(request: Request, user: OptionalUser) -> Response:
    if user is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if not allowed(user, Permission.READ_CARE_TEAM):
        return RedirectResponse("/", status_code=303)
    return FileResponse(STATIC / "report.html", headers={"Cache-Control": "no-store"})
