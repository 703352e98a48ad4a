"""Contacts: family, clinicians, operators. Each is linked to the residents they are called for, in order of
priority, or to none (a site's operator, an on-call clinician). Staff read a resident's contacts; the admin keeps the
directory of every contact, their links, the channels routing reaches them on (the only addresses it uses) and, for
family, the preferences it reads (alerts/routing.py)."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from carewatch.model import Contact, ContactLink, ContactRole, upserted
from carewatch.storage.base import (
    ContactChannel,
    ContactPreference,
    Store,
    channel_address_problem,
    preference_problem,
)
from dashboard.deps import Admin, CareTeam, ScopeDep, StoreDep, known_contact, stored_contact, visible_resident
from dashboard.refusals import ON_ROTA, refused
from dashboard.schemas import (
    ChannelKind,
    ContactChannelPublic,
    ContactChannelSet,
    ContactDetailPublic,
    ContactLinkPublic,
    ContactLinkUpsert,
    ContactPreferencePublic,
    ContactPreferenceSet,
    ContactPublic,
    ContactUpsert,
    Id,
    ResidentContactUpsert,
)

router = APIRouter(tags=["registry"])


def _contact(store: Store, contact_id: str, fields: dict[str, Any]) -> Contact:
    """The contact as ``fields`` change it (created if new; what they leave out is kept)."""
    return upserted(stored_contact(store, contact_id), Contact, {"contact_id": contact_id, **fields})


def _link(store: Store, resident_id: str, contact_id: str, fields: dict[str, Any]) -> ContactLink:
    stored = next((k for _, k in store.contacts_of(resident_id) if k.contact_id == contact_id), None)
    return upserted(stored, ContactLink, {"resident_id": resident_id, "contact_id": contact_id, **fields})


def _detail(store: Store, contacts: list[Contact], links: list[ContactLink]) -> list[ContactDetailPublic]:
    """The contacts as the directory shows them: with their links, channels and preferences (one query each)."""
    ids = [c.contact_id for c in contacts]
    by_contact: dict[str, list[ContactLink]] = defaultdict(list)
    for link in links:
        by_contact[link.contact_id].append(link)
    channels: dict[str, list[ContactChannel]] = defaultdict(list)
    for channel in store.contact_channels(ids):
        channels[channel.contact_id].append(channel)
    preferences = store.contact_preferences(ids)
    return [
        ContactDetailPublic.of(c, by_contact[c.contact_id], channels[c.contact_id], preferences.get(c.contact_id))
        for c in contacts
    ]


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
    """Every contact, linked or not, with their links, channels and preferences."""
    return _detail(store, store.contacts(), store.contact_links())


@router.put("/api/contacts/{contact_id}")
def put_directory_contact(contact_id: Id, body: ContactUpsert, _: Admin, store: StoreDep) -> ContactDetailPublic:
    """A contact, created or replaced; fields left out keep their stored values. Their links stay."""
    contact = _contact(store, contact_id, body.model_dump(exclude_unset=True))
    store.upsert_contacts([contact], [])
    [detail] = _detail(store, [contact], [k for k in store.contact_links() if k.contact_id == contact_id])
    return detail


@router.put("/api/contacts/{contact_id}/links/{resident_id}", responses={404: {"description": "no such contact"}})
def link_contact(
    contact_id: str, resident_id: str, body: ContactLinkUpsert, _: Admin, scope: ScopeDep, store: StoreDep
) -> ContactLinkPublic:
    """Link a contact to a resident, or change the link; a priority left out keeps its stored value."""
    visible_resident(store, scope, resident_id)
    known_contact(store, contact_id)
    link = _link(store, resident_id, contact_id, body.model_dump(exclude_unset=True))
    store.upsert_contacts([], [link])
    return ContactLinkPublic.of(link)


@router.delete(
    "/api/contacts/{contact_id}", status_code=204, responses={404: {"description": "no such contact"}, **ON_ROTA}
)
def delete_contact(contact_id: str, _: Admin, store: StoreDep) -> None:
    """Remove a contact with their links, their place among sites' own contacts, their channels, preferences and
    past shifts. Refused (409, naming the shifts) while they have current or upcoming shifts on a rota: reassign
    those first, or the on-call stage would find nobody. Delivery records keep their id."""
    if not store.delete_contact(contact_id, time.time()):
        raise HTTPException(404, f"no contact {contact_id}")


@router.delete(
    "/api/contacts/{contact_id}/links/{resident_id}", status_code=204,
    responses={404: {"description": "not linked"}, **ON_ROTA},
)  # fmt: skip
def unlink_contact(contact_id: str, resident_id: str, _: Admin, store: StoreDep) -> None:
    """The contact is no longer called for the resident; the contact stays. Refused (409, naming the shifts) when
    that leaves them current or upcoming shifts at the resident's site, of which they would no longer be a contact."""
    if not store.delete_contact_link(resident_id, contact_id, time.time()):
        raise HTTPException(404, f"contact {contact_id} is not linked to resident {resident_id}")


@router.get("/api/contacts/{contact_id}/channels", responses={404: {"description": "no such contact"}})
def list_channels(contact_id: str, _: Admin, store: StoreDep) -> list[ContactChannelPublic]:
    """Where routing reaches the contact: the only addresses it uses (not the contact's e-mail)."""
    known_contact(store, contact_id)
    return [ContactChannelPublic.of(c) for c in store.contact_channels([contact_id])]


@router.put("/api/contacts/{contact_id}/channels/{channel}", responses={404: {"description": "no such contact"}})
def set_channel(
    contact_id: str, channel: ChannelKind, body: ContactChannelSet, _: Admin, store: StoreDep
) -> ContactChannelPublic:
    """Reach the contact on this channel at this address (an e-mail address, an http(s) URL, an MQTT topic)."""
    known_contact(store, contact_id)
    problem = channel_address_problem(channel, body.address)
    if problem is not None:
        raise refused("address", channel, problem)
    stored = ContactChannel(contact_id, channel, body.address)
    store.upsert_contact_channels([stored])
    return ContactChannelPublic.of(stored)


@router.delete(
    "/api/contacts/{contact_id}/channels/{channel}", status_code=204, responses={404: {"description": "no channel"}}
)
def delete_channel(contact_id: str, channel: ChannelKind, _: Admin, store: StoreDep) -> None:
    if not store.delete_contact_channel(contact_id, channel):
        raise HTTPException(404, f"contact {contact_id} has no {channel} channel")


@router.get("/api/contacts/{contact_id}/preferences", responses={404: {"description": "no such contact"}})
def get_preferences(contact_id: str, _: Admin, store: StoreDep) -> ContactPreferencePublic:
    known_contact(store, contact_id)
    return ContactPreferencePublic.of(store.contact_preferences([contact_id]).get(contact_id))


@router.put(
    "/api/contacts/{contact_id}/preferences",
    responses={404: {"description": "no such contact"}, 422: {"description": "not a family contact"}},
)
def set_preferences(contact_id: str, body: ContactPreferenceSet, _: Admin, store: StoreDep) -> ContactPreferencePublic:
    """A family contact's time zone, quiet hours and rules; fields left out keep their stored values. Routing reads
    them for family only: the site's operators and clinic hear of every alert of their role."""
    if known_contact(store, contact_id).role is not ContactRole.FAMILY:
        raise HTTPException(422, f"contact {contact_id} is not family: preferences apply to family contacts only")
    stored = store.contact_preferences([contact_id]).get(contact_id) or ContactPreference(contact_id)
    fields = body.model_dump(exclude_unset=True)
    if "rules" in fields:
        fields["rules"] = tuple((r.rule, r.lowest) for r in body.rules)
    preference = replace(stored, **fields)
    problem = preference_problem(preference)  # as the manifest checks it (registry.py)
    if problem is not None:
        raise refused("body", "preference", problem)
    store.upsert_contact_preferences([preference])
    return ContactPreferencePublic.of(preference)
