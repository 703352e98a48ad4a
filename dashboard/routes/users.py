"""Dashboard users and their roles (admins only)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from carewatch.storage.base import User
from dashboard.auth import hash_password
from dashboard.deps import Admin, StoreDep, hub_of
from dashboard.schemas import UserCreate, UserPublic, UserUpdate, check_scope

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("")
def list_users(_: Admin, store: StoreDep) -> list[UserPublic]:
    return [UserPublic.of(u) for u in store.users()]


@router.post("", status_code=201, responses={409: {"description": "the username is taken"}})
def create_user(body: UserCreate, _: Admin, store: StoreDep) -> UserPublic:
    if store.user(body.username) is not None:
        raise HTTPException(409, f"user {body.username} exists")
    _check_references(store, body.site_ids, body.resident_ids)
    user = User(body.username, body.display_name, body.role, tuple(body.site_ids), tuple(body.resident_ids))
    store.save_user(user, hash_password(body.password))
    return UserPublic.of(user)


@router.get("/{username}")
def get_user(username: str, _: Admin, store: StoreDep) -> UserPublic:
    return UserPublic.of(_existing(store, username))


@router.patch("/{username}")
def update_user(username: str, body: UserUpdate, admin: Admin, store: StoreDep, request: Request) -> UserPublic:
    old = _existing(store, username)
    user = User(
        username,
        body.display_name if body.display_name is not None else old.display_name,
        body.role if body.role is not None else old.role,
        tuple(body.site_ids) if body.site_ids is not None else old.site_ids,
        tuple(body.resident_ids) if body.resident_ids is not None else old.resident_ids,
        body.active if body.active is not None else old.active,
    )
    try:
        check_scope(user.role, list(user.site_ids), list(user.resident_ids))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if username == admin.username and (not user.active or user.role is not admin.role):
        raise HTTPException(422, "you cannot demote or deactivate yourself")
    _check_references(store, list(user.site_ids), list(user.resident_ids))
    store.save_user(user, hash_password(body.password) if body.password is not None else None)
    if user != old:
        hub_of(request.app).drop_user_threadsafe(username)  # open sockets reconnect with the new scope (or not at all)
    return UserPublic.of(user)


@router.delete("/{username}", status_code=204)
def delete_user(username: str, admin: Admin, store: StoreDep, request: Request) -> None:
    if username == admin.username:
        raise HTTPException(422, "you cannot delete yourself")
    if not store.delete_user(username):
        raise HTTPException(404, f"no user {username}")
    hub_of(request.app).drop_user_threadsafe(username)


def _existing(store: StoreDep, username: str) -> User:
    user = store.user(username)
    if user is None:
        raise HTTPException(404, f"no user {username}")
    return user


def _check_references(store: StoreDep, site_ids: list[str], resident_ids: list[str]) -> None:
    unknown_sites = set(site_ids) - {s.site_id for s in store.sites()}
    unknown_residents = set(resident_ids) - {r.resident_id for r in store.residents()} if resident_ids else set()
    if unknown_sites or unknown_residents:
        raise HTTPException(422, f"unknown sites {sorted(unknown_sites)} or residents {sorted(unknown_residents)}")
