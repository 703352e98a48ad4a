"""Sites: homes, community care stations, care institutions."""

from __future__ import annotations

from fastapi import APIRouter

from carewatch.model import Site
from dashboard.deps import Admin, CareTeam, ScopeDep, StoreDep
from dashboard.schemas import Id, SitePublic, SiteUpsert

router = APIRouter(prefix="/api/sites", tags=["registry"])


@router.get("")
def list_sites(_: CareTeam, scope: ScopeDep, store: StoreDep) -> list[SitePublic]:
    return [SitePublic.of(s) for s in store.sites() if scope.sees_site(s.site_id)]


@router.put("/{site_id}")
def put_site(site_id: Id, body: SiteUpsert, _: Admin, store: StoreDep) -> SitePublic:
    site = Site(site_id, body.name, body.kind, body.timezone)
    store.upsert_sites([site])
    return SitePublic.of(site)
