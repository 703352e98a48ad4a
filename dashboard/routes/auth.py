"""Logging in and out. Browsers get the session in an HttpOnly cookie; API clients use the returned bearer token."""

from __future__ import annotations

import math

from fastapi import APIRouter, HTTPException, Request, Response

from dashboard.auth import COOKIE_NAME, verify_password
from dashboard.deps import CurrentUser, SessionsDep, StoreDep, ThrottleDep, TokenDep, context_of, hub_of
from dashboard.schemas import LoginPublic, LoginRequest, UserPublic

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post(
    "/login",
    responses={401: {"description": "wrong username or password"}, 429: {"description": "too many failed logins"}},
)
def login(
    body: LoginRequest, request: Request, response: Response, store: StoreDep, sessions: SessionsDep,
    throttle: ThrottleDep,
) -> LoginPublic:  # fmt: skip
    address = request.client.host if request.client else "?"
    wait = throttle.retry_after(body.username, address)
    if wait > 0:
        raise HTTPException(429, "too many failed logins: wait and try again", {"Retry-After": str(math.ceil(wait))})
    ok = verify_password(store.password_hash(body.username), body.password)  # as slow for an unknown user
    user = store.user(body.username) if ok else None
    if user is None:
        throttle.failed(body.username, address)
        raise HTTPException(401, "wrong username or password")
    throttle.succeeded(body.username, address)
    token, expires_at = sessions.create(user.username)
    config = context_of(request.app).auth
    response.set_cookie(
        COOKIE_NAME, token, max_age=int(config.session_ttl_s), httponly=True, samesite="lax",
        secure=config.cookie_secure, path="/",
    )  # fmt: skip
    return LoginPublic(token=token, expires_at=expires_at, user=UserPublic.of(user))


@router.post("/logout", status_code=204)
def logout(sessions: SessionsDep, token: TokenDep, request: Request, response: Response) -> None:
    """End this session and close its sockets (the pages go to the login page); other sessions of the user stay."""
    if token:
        sessions.revoke(token)
        hub_of(request.app).drop_session_threadsafe(sessions.key(token))
    response.delete_cookie(COOKIE_NAME, path="/")


@router.get("/me")
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.of(user)
