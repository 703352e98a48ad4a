"""A resident's contacts: family, clinicians, operators to call, in order."""

from __future__ import annotations

from fastapi import APIRouter

from carewatch.model import Contact, ContactLink
from dashboard.deps import Admin, CareTeam, ScopeDep, StoreDep, visible_resident
from dashboard.schemas import ContactPublic, ContactUpsert, Id

router = APIRouter(prefix="/api/residents/{resident_id}/contacts", tags=["registry"])


@router.get("")
def list_contacts(resident_id: str, _: CareTeam, scope: ScopeDep, store: StoreDep) -> list[ContactPublic]:
    visible_resident(store, scope, resident_id)
    return [ContactPublic.of(c, link) for c, link in store.contacts_of(resident_id)]


@router.put("/{contact_id}")
def put_contact(
    resident_id: str, contact_id: Id, body: ContactUpsert, _: Admin, scope: ScopeDep, store: StoreDep
) -> ContactPublic:
    visible_resident(store, scope, resident_id)
    contact = Contact(contact_id, body.name, body.role, body.email, body.phone)
    link = ContactLink(resident_id, contact_id, body.relation, body.priority)
    store.upsert_contacts([contact], [link])
    return ContactPublic.of(contact, link)
