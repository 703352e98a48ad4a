"""Contacts: family, clinicians, operators. Each is linked to the residents they are called for, in order of
priority, or to none (a site's operator, an on-call clinician). Staff read a resident's contacts; the admin keeps the
directory of every contact and their links."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from carewatch.model import Contact, ContactLink, upserted
from carewatch.storage.base import Store
from dashboard.deps import Admin, CareTeam, ScopeDep, StoreDep, visible_resident
from dashboard.schemas import (
    ContactDetailPublic,
    ContactLinkPublic,
    ContactLinkUpsert,
    ContactPublic,
    ContactUpsert,
    Id,
    ResidentContactUpsert,
)

router = APIRouter(tags=["registry"])


def _contact(store: Store, contact_id: str, fields: dict[str, Any]) -> Contact:
    """The contact as ``fields`` change it (created if new; what they leave out is kept)."""
    stored = next((c for c in store.contacts() if c.contact_id == contact_id), None)
    return upserted(stored, Contact, {"contact_id": contact_id, **fields})


def _link(store: Store, resident_id: str, contact_id: str, fields: dict[str, Any]) -> ContactLink:
    stored = next((k for _, k in store.contacts_of(resident_id) if k.contact_id == contact_id), None)
    return upserted(stored, ContactLink, {"resident_id": resident_id, "contact_id": contact_id, **fields})


def _given(body: BaseModel, part: type[BaseModel]) -> dict[str, Any]:
    """The fields of ``part`` that the body gives."""
    return body.model_dump(include=set(part.model_fields), exclude_unset=True)


@router.get("/api/residents/{resident_id}/contacts")
def list_contacts(resident_id: str, _: CareTeam, scope: ScopeDep, store: StoreDep) -> list[ContactPublic]:
    visible_resident(store, scope, resident_id)
    return [ContactPublic.of(c, link) for c, link in store.contacts_of(resident_id)]


@router.put("/api/residents/{resident_id}/contacts/{contact_id}")
def put_contact(
    resident_id: str, contact_id: Id, body: ResidentContactUpsert, _: Admin, scope: ScopeDep, store: StoreDep
) -> ContactPublic:
    """The contact and their link to the resident; fields left out keep their stored values."""
    visible_resident(store, scope, resident_id)
    contact = _contact(store, contact_id, _given(body, ContactUpsert))
    link = _link(store, resident_id, contact_id, _given(body, ContactLinkUpsert))
    store.upsert_contacts([contact], [link])
    return ContactPublic.of(contact, link)


@router.get("/api/contacts")
def list_directory(_: Admin, store: StoreDep) -> list[ContactDetailPublic]:
    """Every contact, linked or not, with their links."""
    links: dict[str, list[ContactLink]] = defaultdict(list)
    for link in store.contact_links():
        links[link.contact_id].append(link)
    return [ContactDetailPublic.of(c, links[c.contact_id]) for c in store.contacts()]


@router.put("/api/contacts/{contact_id}")
def put_directory_contact(contact_id: Id, body: ContactUpsert, _: Admin, store: StoreDep) -> ContactDetailPublic:
    """A contact, created or replaced; fields left out keep their stored values. Their links stay."""
    contact = _contact(store, contact_id, body.model_dump(exclude_unset=True))
    store.upsert_contacts([contact], [])
    return ContactDetailPublic.of(contact, [k for k in store.contact_links() if k.contact_id == contact_id])


@router.put("/api/contacts/{contact_id}/links/{resident_id}", responses={404: {"description": "no such contact"}})
def link_contact(
    contact_id: str, resident_id: str, body: ContactLinkUpsert, _: Admin, scope: ScopeDep, store: StoreDep
) -> ContactLinkPublic:
    """Link a contact to a resident, or change the link; a priority left out keeps its stored value."""
    visible_resident(store, scope, resident_id)
    if contact_id not in {c.contact_id for c in store.contacts()}:
        raise HTTPException(404, f"no contact {contact_id}")
    link = _link(store, resident_id, contact_id, body.model_dump(exclude_unset=True))
    store.upsert_contacts([], [link])
    return ContactLinkPublic.of(link)


@router.delete(
    "/api/contacts/{contact_id}/links/{resident_id}", status_code=204, responses={404: {"description": "not linked"}}
)
def unlink_contact(contact_id: str, resident_id: str, _: Admin, store: StoreDep) -> None:
    """The contact is no longer called for the resident; the contact stays."""
    if not store.delete_contact_link(resident_id, contact_id):
        raise HTTPException(404, f"contact {contact_id} is not linked to resident {resident_id}")
