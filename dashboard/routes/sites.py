"""Sites: homes, community care stations, care institutions; and each site's own contacts (its operators and
clinic), whom routing calls for all its residents and the on-call rota accepts besides the residents' contacts."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException

from carewatch.model import SITE_CONTACT_ROLES, Contact, Site, upserted
from dashboard.deps import Admin, CareTeam, ScopeDep, StoreDep, known_contact, visible_site
from dashboard.refusals import ON_ROTA
from dashboard.schemas import Id, SiteContactPublic, SitePublic, SiteUpsert

router = APIRouter(prefix="/api/sites", tags=["registry"])


def _public(site_id: str, contact: Contact) -> SiteContactPublic:
    return SiteContactPublic(site_id=site_id, contact_id=contact.contact_id, name=contact.name, role=contact.role)


@router.get("")
def list_sites(_: CareTeam, scope: ScopeDep, store: StoreDep) -> list[SitePublic]:
    return [SitePublic.of(s) for s in store.sites() if scope.sees_site(s.site_id)]


@router.put("/{site_id}")
def put_site(site_id: Id, body: SiteUpsert, _: Admin, store: StoreDep) -> SitePublic:
    stored = next((s for s in store.sites() if s.site_id == site_id), None)
    site = upserted(stored, Site, {"site_id": site_id, **body.model_dump(exclude_unset=True)})
    store.upsert_sites([site])
    return SitePublic.of(site)


@router.get("/{site_id}/contacts")
def list_site_contacts(site_id: str, _: Admin, scope: ScopeDep, store: StoreDep) -> list[SiteContactPublic]:
    """The site's own contacts, by id (the residents' contacts are theirs: GET /api/residents/{id}/contacts)."""
    visible_site(store, scope, site_id)
    return [_public(site_id, c) for c in store.site_contacts(site_id)]


@router.put(
    "/{site_id}/contacts/{contact_id}",
    responses={404: {"description": "no such site or contact"}, 422: {"description": "a family contact"}},
)
def add_site_contact(site_id: str, contact_id: str, _: Admin, scope: ScopeDep, store: StoreDep) -> SiteContactPublic:
    """Make an operator or clinician one of the site's own contacts (idempotent)."""
    visible_site(store, scope, site_id)
    contact = known_contact(store, contact_id)
    if contact.role not in SITE_CONTACT_ROLES:
        raise HTTPException(422, f"contact {contact_id} is family: link them to a resident, not to the site")
    store.add_site_contacts(site_id, [contact_id])
    return _public(site_id, contact)


@router.delete(
    "/{site_id}/contacts/{contact_id}", status_code=204,
    responses={404: {"description": "not the site's own"}, **ON_ROTA},
)  # fmt: skip
def delete_site_contact(site_id: str, contact_id: str, _: Admin, scope: ScopeDep, store: StoreDep) -> None:
    """The contact is no longer the site's own (they stay in the directory). Refused (409, naming the shifts) while
    they have current or upcoming shifts at the site and are not linked to one of its residents: the rota would name
    someone the site no longer calls."""
    visible_site(store, scope, site_id)
    if not store.delete_site_contact(site_id, contact_id, time.time()):
        raise HTTPException(404, f"contact {contact_id} is not one of site {site_id}'s own")
