"""The RBAC matrix: every endpoint of the app (enumerated from app.routes, so a new one cannot be forgotten) against
every role and no login, and the websocket. Then the scope: what an operator and a family member see in lists.

Expected: no login -> 401 (the websocket: refused with 1008); a role without the permission -> 403; a resident or
alert outside the user's scope -> 404; allowed -> 2xx (or 409 when an earlier allowed role already acknowledged).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from dashboard_support import USERS, Served
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from carewatch.model import Contact, ContactLink, ContactRole, Severity
from carewatch.storage.base import ContactChannel, News2Escalation, OnCallShift, Threshold, User

ROLES = ("family", "clinician", "operator", "admin")  # admin last: its writes must not change what others see
EVERYONE = set(ROLES)
STAFF = {"clinician", "operator", "admin"}
ACKNOWLEDGERS = {"clinician", "operator", "admin"}
OPERATORS = {"operator", "admin"}
THRESHOLD_SETTERS = {"clinician", "admin"}
ADMINS = {"admin"}

# (method, path) -> the roles allowed. Entries for routes that do not exist (yet) are ignored.
MATRIX: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/auth/me"): EVERYONE,
    ("GET", "/api/users"): ADMINS,
    ("POST", "/api/users"): ADMINS,
    ("GET", "/api/users/{username}"): ADMINS,
    ("PATCH", "/api/users/{username}"): ADMINS,
    ("DELETE", "/api/users/{username}"): ADMINS,
    ("GET", "/api/sites"): STAFF,
    ("PUT", "/api/sites/{site_id}"): ADMINS,
    ("GET", "/api/residents"): EVERYONE,
    ("GET", "/api/residents/{resident_id}"): EVERYONE,
    ("PUT", "/api/residents/{resident_id}"): ADMINS,
    ("GET", "/api/residents/{resident_id}/readings"): EVERYONE,
    ("GET", "/api/residents/{resident_id}/history"): EVERYONE,
    ("GET", "/api/devices"): STAFF,
    ("PUT", "/api/devices/{device_id}"): ADMINS,
    ("GET", "/api/residents/{resident_id}/contacts"): STAFF,
    ("PUT", "/api/residents/{resident_id}/contacts/{contact_id}"): ADMINS,
    ("GET", "/api/contacts"): ADMINS,
    ("PUT", "/api/contacts/{contact_id}"): ADMINS,
    ("DELETE", "/api/contacts/{contact_id}"): ADMINS,
    ("PUT", "/api/contacts/{contact_id}/links/{resident_id}"): ADMINS,
    ("DELETE", "/api/contacts/{contact_id}/links/{resident_id}"): ADMINS,
    ("GET", "/api/contacts/{contact_id}/channels"): ADMINS,
    ("PUT", "/api/contacts/{contact_id}/channels/{channel}"): ADMINS,
    ("DELETE", "/api/contacts/{contact_id}/channels/{channel}"): ADMINS,
    ("GET", "/api/contacts/{contact_id}/preferences"): ADMINS,
    ("PUT", "/api/contacts/{contact_id}/preferences"): ADMINS,
    ("GET", "/api/sites/{site_id}/contacts"): ADMINS,
    ("PUT", "/api/sites/{site_id}/contacts/{contact_id}"): ADMINS,
    ("DELETE", "/api/sites/{site_id}/contacts/{contact_id}"): ADMINS,
    ("GET", "/api/residents/{resident_id}/thresholds"): STAFF,
    ("PUT", "/api/residents/{resident_id}/thresholds/{metric}"): THRESHOLD_SETTERS,
    ("DELETE", "/api/residents/{resident_id}/thresholds/{metric}"): THRESHOLD_SETTERS,
    ("GET", "/api/residents/{resident_id}/thresholds/changes"): STAFF,
    ("GET", "/api/residents/{resident_id}/news2-escalation"): STAFF,
    ("PUT", "/api/residents/{resident_id}/news2-escalation"): THRESHOLD_SETTERS,
    ("DELETE", "/api/residents/{resident_id}/news2-escalation"): THRESHOLD_SETTERS,
    ("GET", "/api/residents/{resident_id}/news2-escalation/changes"): STAFF,
    ("GET", "/api/residents/{resident_id}/limit-review"): THRESHOLD_SETTERS,
    ("POST", "/api/residents/{resident_id}/limit-review/apply"): THRESHOLD_SETTERS,
    ("GET", "/api/alerts"): EVERYONE,
    ("GET", "/api/alerts/{alert_id}"): EVERYONE,
    ("GET", "/api/alerts/{alert_id}/fhir"): STAFF,
    ("POST", "/api/alerts/{alert_id}/acknowledge"): ACKNOWLEDGERS,
    ("POST", "/api/alerts/{alert_id}/resolve"): OPERATORS,
    ("POST", "/api/alerts/{alert_id}/snooze"): OPERATORS,
    ("GET", "/api/system"): OPERATORS,
    ("GET", "/api/sites/{site_id}/escalation-policies/{severity}"): STAFF,
    ("PUT", "/api/sites/{site_id}/escalation-policies/{severity}"): ADMINS,
    ("DELETE", "/api/sites/{site_id}/escalation-policies/{severity}"): ADMINS,
    ("GET", "/api/sites/{site_id}/on-call"): STAFF,
    ("POST", "/api/sites/{site_id}/on-call"): ADMINS,
    ("GET", "/api/sites/{site_id}/on-call/shifts"): STAFF,
    ("DELETE", "/api/sites/{site_id}/on-call/shifts"): ADMINS,
    ("GET", "/api/reports/service"): STAFF,
    ("GET", "/api/reports/digest/{contact_id}"): STAFF,
}
PUBLIC = {
    ("POST", "/api/auth/login"), ("POST", "/api/auth/logout"), ("GET", "/healthz"), ("GET", "/metrics"),
    ("GET", "/favicon.ico"),
}  # fmt: skip
PAGES = {"/", "/login", "/residents/{resident_id}", "/family", "/admin", "/system", "/reports"}

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/users"): {
        "display_name": "New", "role": "operator", "password": "a long password", "site_ids": ["s1"],
    },
    ("PATCH", "/api/users/{username}"): {"display_name": "Renamed"},
    ("PUT", "/api/sites/{site_id}"): {"name": "Sunrise station", "kind": "community_station"},
    ("PUT", "/api/residents/{resident_id}"): {"site_id": "s1", "name": "Wang Fang", "room": "101"},
    ("PUT", "/api/devices/{device_id}"): {"site_id": "s1", "kind": "wearable", "resident_id": "r1"},
    ("PUT", "/api/residents/{resident_id}/contacts/{contact_id}"): {
        "name": "Wang Min", "role": "family", "relation": "daughter",
    },
    ("PUT", "/api/contacts/{contact_id}"): {"name": "Wang Min", "role": "family"},
    ("PUT", "/api/contacts/{contact_id}/links/{resident_id}"): {"relation": "daughter"},
    ("PUT", "/api/contacts/{contact_id}/channels/{channel}"): {"address": "min@example.org"},
    ("PUT", "/api/contacts/{contact_id}/preferences"): {"quiet_start": 1320, "quiet_end": 420},
    ("PUT", "/api/residents/{resident_id}/thresholds/{metric}"): {"low": 90, "reason": "COPD"},
    ("PUT", "/api/residents/{resident_id}/news2-escalation"): {"urgent_from": 7, "emergency_from": 9, "reason": "COPD"},
    ("POST", "/api/residents/{resident_id}/limit-review/apply"): {"start": 1e9, "end": 1e9 + 86400},  # accept nothing
    ("PUT", "/api/sites/{site_id}/escalation-policies/{severity}"): {
        "steps": [{"after_minutes": 10, "target": "on_call"}],
    },
    ("POST", "/api/sites/{site_id}/on-call"): {"contact_id": "c1", "starts_at": 1e9, "ends_at": 1e9 + 3600},
    ("POST", "/api/alerts/{alert_id}/acknowledge"): {},
    ("POST", "/api/alerts/{alert_id}/resolve"): {},
    ("POST", "/api/alerts/{alert_id}/snooze"): {"minutes": 15},
}  # fmt: skip
SHIFT_START = 4e9  # a shift in 2096: always upcoming
QUERIES = {
    "/api/sites/{site_id}/on-call/shifts": {"contact_id": "c1", "starts_at": SHIFT_START},
    "/api/reports/service": {"site_id": "s1"},
    "/api/residents/{resident_id}/readings": {"metric": "hr"},
    "/api/residents/{resident_id}/history": {"metric": "hr"},
}


def flat_routes(routes: list[BaseRoute]) -> list[BaseRoute]:
    """The app's routes, with included routers opened (FastAPI >= 0.16x wraps them; their paths carry the prefix)."""
    flat: list[BaseRoute] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        flat += flat_routes(inner.routes) if inner is not None else [route]
    return flat


def api_routes(served: Served) -> list[tuple[str, str]]:
    routes = []
    for route in flat_routes(served.app.routes):
        if isinstance(route, APIRoute):
            routes += [(method, route.path) for method in sorted(route.methods) if method != "HEAD"]
    return routes


def fill(path: str, served: Served, in_scope: bool) -> str:
    values = {
        "resident_id": "r1" if in_scope else "r3",
        "alert_id": str(served.alerts["r1" if in_scope else "r3"]),
        "username": "temp",
        "site_id": "s1" if in_scope else "s2",
        "severity": "urgent",
        "device_id": "w-r1",
        "contact_id": "c1",
        "metric": "spo2",
        "channel": "email",
    }
    if path.startswith("/api/sites/{site_id}/contacts/"):  # a site's own contact: an operator, not family c1
        values["contact_id"] = "op1"
    if path == "/api/contacts/{contact_id}":  # a directory entry an allowed DELETE removes, not family c1
        values["contact_id"] = "temp1"
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def prepare(served: Served, method: str, path: str) -> None:
    """Put back what an earlier allowed call changed, so every role meets the same state."""
    served.store.save_user(User("temp", "Temporary", USERS["operator"].role, site_ids=("s1",)), "x")
    served.store.delete_user("new")
    if path.endswith("/on-call/shifts"):  # the shift an allowed DELETE removes
        served.store.add_on_call_shifts([OnCallShift(s, "c1", SHIFT_START, SHIFT_START + 3600) for s in ("s1", "s2")])
    if path.endswith("/thresholds/{metric}"):
        for rid in ("r1", "r3"):
            served.store.set_threshold(Threshold(rid, "spo2", 90, None, "COPD", time.time(), "test"))
    if path.endswith("/news2-escalation"):  # the escalation an allowed DELETE removes
        for rid in ("r1", "r3"):
            served.store.set_news2_escalation(News2Escalation(rid, 6, 8, True, "COPD", "test", time.time()))
    if path.endswith("/links/{resident_id}"):  # the link an allowed DELETE removes
        served.store.upsert_contacts([], [ContactLink("r1", "c1", "daughter")])
    if path.endswith("/channels/{channel}"):  # the channel an allowed DELETE removes
        served.store.upsert_contact_channels([ContactChannel("c1", "email", "min@example.org")])
    if path.endswith("/contacts/{contact_id}"):  # the site's own contact an allowed DELETE removes
        served.store.upsert_contacts([Contact("op1", "Zhang", ContactRole.OPERATOR)], [])
        for site in ("s1", "s2"):
            served.store.add_site_contacts(site, ["op1"])
    if path == "/api/contacts/{contact_id}":  # the contact an allowed DELETE removes
        served.store.upsert_contacts([Contact("temp1", "Temporary", ContactRole.OPERATOR)], [])
    if path.endswith("/escalation-policies/{severity}"):  # the policy an allowed DELETE removes
        for site in ("s1", "s2"):
            served.store.set_escalation_policy(site, Severity.URGENT, [])


def request(served: Served, role: str | None, method: str, path: str, in_scope: bool = True) -> httpx.Response:
    prepare(served, method, path)
    body = BODIES.get((method, path))
    if (method, path) == ("POST", "/api/users"):
        body = {**body, "username": "new"} if body else body
    with served.client(role) as client:
        return client.request(method, fill(path, served, in_scope), json=body, params=QUERIES.get(path))


def test_every_endpoint_is_in_the_matrix(served: Served) -> None:
    routes = set(api_routes(served))
    missing = routes - set(MATRIX) - PUBLIC - {("GET", p) for p in PAGES}
    assert not missing, f"add these endpoints to the RBAC matrix: {sorted(missing)}"
    websockets = {r.path for r in flat_routes(served.app.routes) if isinstance(r, APIWebSocketRoute)}
    assert len(routes) > 20  # the enumeration sees the API
    assert websockets == {"/ws"}


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_matrix(served: Served, method: str, path: str) -> None:
    if (method, path) not in set(api_routes(served)):
        pytest.skip("no such endpoint (yet)")
    allowed = MATRIX[(method, path)]
    outcomes = {"anonymous": request(served, None, method, path).status_code}
    for role in ROLES:
        outcomes[role] = request(served, role, method, path).status_code
    expected = {"anonymous": 401} | {role: ("ok" if role in allowed else 403) for role in ROLES}
    seen = {who: ("ok" if 200 <= status < 300 or status == 409 else status) for who, status in outcomes.items()}
    assert seen == expected, outcomes
    if any(key in path for key in ("{resident_id}", "{alert_id}", "{site_id}")):
        out_of_scope = {role: request(served, role, method, path, in_scope=False).status_code for role in ROLES[:-1]}
        expected_out = {role: (404 if role in allowed else 403) for role in ROLES[:-1]}
        assert out_of_scope == expected_out, f"outside the scope: {out_of_scope}"


def test_public_endpoints(served: Served) -> None:
    assert httpx.get(f"{served.url}/healthz").status_code == 200
    assert httpx.get(f"{served.url}/metrics").status_code == 200
    assert httpx.get(f"{served.url}/favicon.ico").headers["content-type"] == "image/svg+xml"
    assert served.login("admin", "wrong").status_code == 401
    pages = httpx.get(f"{served.url}/", follow_redirects=False)
    assert pages.status_code == 303 and pages.headers["location"] == "/login?next=/"


@pytest.mark.parametrize("role", [None, *ROLES])
def test_websocket_requires_a_session(served: Served, role: str | None) -> None:
    async def first_message() -> dict[str, Any] | int:
        url = served.ws_url + (f"?token={served.token(role)}" if role else "")
        try:
            async with connect(url) as socket:
                return dict(json.loads(await asyncio.wait_for(socket.recv(), 10)))
        except InvalidStatus as exc:
            return exc.response.status_code

    outcome = asyncio.run(first_message())
    if role is None:
        assert outcome == 403  # refused before the handshake (close 1008 becomes HTTP 403)
    else:
        assert isinstance(outcome, dict) and outcome["type"] == "snapshot"


def test_websocket_refuses_a_forged_token_and_a_foreign_origin(served: Served) -> None:
    async def status(url: str, origin: str | None = None) -> int:
        try:
            async with connect(url, origin=origin):  # type: ignore[arg-type]
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(status(served.ws_url + "?token=forged")) == 403
    token = served.token("operator")
    assert asyncio.run(status(f"{served.ws_url}?token={token}", "http://evil.example")) == 403
    assert asyncio.run(status(f"{served.ws_url}?token={token}", served.url)) == 101
