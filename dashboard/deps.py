"""Dependency aliases for the routes: what the app was built with (from app.state), and who is asking.

Unauthenticated -> 401; a role without the permission -> 403; a resident or alert outside the user's scope -> 404
(as if it did not exist: a family member cannot probe for other residents).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from alerts.lifecycle import Lifecycle
from carewatch.model import Alert, Contact, Resident
from carewatch.storage.base import Store, User
from dashboard.access import Permission, Scope, allowed
from dashboard.auth import COOKIE_NAME, LoginThrottle, Sessions
from dashboard.hub import Hub
from dashboard.schemas import AlertPublic

if TYPE_CHECKING:
    from dashboard.app import DashboardContext

_bearer = HTTPBearer(auto_error=False, description="a session token from POST /api/auth/login")
_cookie = APIKeyCookie(name=COOKIE_NAME, auto_error=False, description="set by POST /api/auth/login")


def context_of(app: Any) -> DashboardContext:
    return app.state.context  # type: ignore[no-any-return]


def _store(request: Request) -> Store:
    return context_of(request.app).store


def _lifecycle(request: Request) -> Lifecycle:
    return context_of(request.app).lifecycle


def _sessions(request: Request) -> Sessions:
    return request.app.state.sessions  # type: ignore[no-any-return]


def _throttle(request: Request) -> LoginThrottle:
    return request.app.state.login_throttle  # type: ignore[no-any-return]


StoreDep = Annotated[Store, Depends(_store)]
LifecycleDep = Annotated[Lifecycle, Depends(_lifecycle)]
SessionsDep = Annotated[Sessions, Depends(_sessions)]
ThrottleDep = Annotated[LoginThrottle, Depends(_throttle)]


def hub_of(app: object) -> Hub:
    return context_of(app).hub


def session_token(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    cookie: Annotated[str | None, Security(_cookie)],
) -> str | None:
    return bearer.credentials if bearer is not None else cookie


TokenDep = Annotated[str | None, Depends(session_token)]


def _optional_user(sessions: SessionsDep, token: TokenDep) -> User | None:
    return sessions.user(token)


def _current_user(user: Annotated[User | None, Depends(_optional_user)]) -> User:
    if user is None:
        raise HTTPException(401, "log in first", headers={"WWW-Authenticate": "Bearer"})
    return user


OptionalUser = Annotated[User | None, Depends(_optional_user)]
CurrentUser = Annotated[User, Depends(_current_user)]


def require(permission: Permission) -> Callable[[User], User]:
    def check(user: CurrentUser) -> User:
        if not allowed(user, permission):
            raise HTTPException(403, f"a {user.role} may not {permission.value.replace('_', ' ')}")
        return user

    return check


Reader = Annotated[User, Depends(require(Permission.READ))]
CareTeam = Annotated[User, Depends(require(Permission.READ_CARE_TEAM))]
Acknowledger = Annotated[User, Depends(require(Permission.ACKNOWLEDGE))]
Resolver = Annotated[User, Depends(require(Permission.RESOLVE))]
Snoozer = Annotated[User, Depends(require(Permission.SNOOZE))]
ThresholdSetter = Annotated[User, Depends(require(Permission.SET_THRESHOLDS))]
SystemViewer = Annotated[User, Depends(require(Permission.SYSTEM))]
Admin = Annotated[User, Depends(require(Permission.ADMINISTER))]


def _scope(user: CurrentUser) -> Scope:
    return Scope.of(user)


ScopeDep = Annotated[Scope, Depends(_scope)]


def visible_resident(store: Store, scope: Scope, resident_id: str) -> Resident:
    for resident in store.residents():
        if resident.resident_id == resident_id and scope.sees(resident):
            return resident
    raise HTTPException(404, f"no resident {resident_id}")


def stored_contact(store: Store, contact_id: str) -> Contact | None:
    return next(iter(store.contacts([contact_id])), None)


def known_contact(store: Store, contact_id: str) -> Contact:
    """The stored contact, else 404 (contacts are the admin's: no scope to check)."""
    contact = stored_contact(store, contact_id)
    if contact is None:
        raise HTTPException(404, f"no contact {contact_id}")
    return contact


def visible_site(store: Store, scope: Scope, site_id: str) -> None:
    if not scope.sees_site(site_id) or site_id not in {s.site_id for s in store.sites()}:
        raise HTTPException(404, f"no site {site_id}")


def visible_alert(store: Store, scope: Scope, alert_id: int) -> Alert:
    alert = store.alert(alert_id)
    if alert is None or not scope.sees_alert(alert):
        raise HTTPException(404, f"no alert {alert_id}")
    return alert


def public_alerts(store: Store, alerts: Sequence[Alert]) -> list[AlertPublic]:
    """The alerts as the API and the board show them: with the escalation each has fired and the end of its newest
    snooze (one query each for all)."""
    ids = [a.alert_id for a in alerts]
    fired, snoozes = store.fired_escalations(ids), store.snoozes(ids)
    return [AlertPublic.of(a, fired.get(a.alert_id), snoozes.get(a.alert_id)) for a in alerts]


def public_alert(store: Store, alert: Alert) -> AlertPublic:
    return public_alerts(store, [alert])[0]
