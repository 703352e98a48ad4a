"""Sites: homes, community care stations, care institutions."""

from __future__ import annotations

from fastapi import APIRouter

from carewatch.model import Site, upserted
from dashboard.deps import Admin, CareTeam, ScopeDep, StoreDep
from dashboard.schemas import Id, SitePublic, SiteUpsert

router = APIRouter(prefix="/api/sites", tags=["registry"])


@router.get("")
def list_sites(_: CareTeam, scope: ScopeDep, store: StoreDep) -> list[SitePublic]:
    return [SitePublic.of(s) for s in store.sites() if scope.sees_site(s.site_id)]


@router.put("/{site_id}")
def put_site(site_id: Id, body: SiteUpsert, _: Admin, store: StoreDep) -> SitePublic:
    stored = next((s for s in store.sites() if s.site_id == site_id), None)
    site = upserted(stored, Site, {"site_id": site_id, **body.model_dump(exclude_unset=True)})
    store.upsert_sites([site])
    return SitePublic.of(site)
