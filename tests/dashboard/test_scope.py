"""What each user sees: lists and the websocket filtered to the scope; logging in, out, and the login throttle."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from dashboard_support import PASSWORD, Served
from websockets.asyncio.client import ClientConnection, connect

from carewatch.storage.base import Role, User
from dashboard.auth import COOKIE_NAME, hash_password


def ids(items: list[dict[str, Any]], key: str) -> list[str]:
    return sorted(str(item[key]) for item in items)


def test_lists_are_filtered_to_the_scope(served: Served) -> None:
    expected = {"admin": ["r1", "r2", "r3"], "operator": ["r1", "r2"], "clinician": ["r1", "r2"], "family": ["r1"]}
    for role, residents in expected.items():
        with served.client(role) as client:
            assert ids(client.get("/api/residents").json(), "resident_id") == residents, role
            alerts = client.get("/api/alerts").json()
            assert sorted({a["resident_id"] for a in alerts}) == [r for r in ("r1", "r3") if r in residents], role
    with served.client("operator") as client:
        assert client.get("/api/alerts", params={"site_id": "s2"}).json() == []
        assert client.get("/api/alerts", params={"resident_id": "r3"}).json() == []
        assert ids(client.get("/api/sites").json(), "site_id") == ["s1"]
    with served.client("family") as client:
        assert client.get("/api/residents", params={"site_id": "s2"}).json() == []


def test_resident_detail_and_bucketed_history(served: Served) -> None:
    with served.client("family") as client:
        resident = client.get("/api/residents/r1").json()
        assert resident["name"] == "Wang Fang" and resident["latest"]["hr"][1] in (70, 71, 72)
        assert resident["news2"]["missing"] >= 1  # only HR and SpO2 are known
        history = client.get("/api/residents/r1/history", params={"metric": "hr", "view": "1h"}).json()
        assert history["bucket_s"] == 60 and 29 <= len(history["buckets"]) <= 31
        assert sum(b["count"] for b in history["buckets"]) == 30
        assert client.get("/api/residents/r1/history", params={"metric": "nope"}).status_code == 422
        assert client.get("/api/residents/r1/history", params={"metric": "hr", "view": "2y"}).status_code == 422


def test_cookie_login_logout_and_throttle(served: Served) -> None:
    with httpx.Client(base_url=served.url) as browser:
        response = browser.post("/api/auth/login", json={"username": "operator", "password": PASSWORD})
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
        assert f"{COOKIE_NAME}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert browser.get("/api/auth/me").json()["role"] == "operator"
        assert browser.post("/api/auth/logout").status_code == 204
        assert browser.get("/api/auth/me").status_code == 401
    token = response.json()["token"]
    assert httpx.get(f"{served.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    served.store.save_user(User("victim", "Victim", Role.OPERATOR, site_ids=("s1",)), hash_password(PASSWORD))
    assert [served.login("victim", "guess").status_code for _ in range(3)] == [401, 401, 401]
    locked = served.login("victim")  # the right password, but locked out for now
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert served.login("operator").status_code == 200  # another user is not affected


async def receive_until(socket: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if message["type"] == kind:
            return dict(message)


def test_websocket_sends_each_user_only_their_scope(served: Served) -> None:
    async def run() -> tuple[dict[str, Any], ...]:
        async with (
            connect(f"{served.ws_url}?token={served.token('family')}") as family,
            connect(f"{served.ws_url}?token={served.token('admin')}") as admin,
        ):
            family_snapshot = await receive_until(family, "snapshot")
            await receive_until(admin, "snapshot")
            now = time.time()
            served.hub.vitals_threadsafe({rid: {"hr": [now, 80.0 + i]} for i, rid in enumerate(("r1", "r2", "r3"))})
            family_vitals = await receive_until(family, "vitals")
            admin_vitals = await receive_until(admin, "vitals")
            served.hub.broadcast_threadsafe({"type": "alert", "alert": {"resident_id": "r3", "alert_id": 99}})
            served.hub.broadcast_threadsafe({"type": "alert", "alert": {"resident_id": "r1", "alert_id": 98}})
            family_alert = await receive_until(family, "alert")  # r3's alert never reaches the family
            return family_snapshot, family_vitals, admin_vitals, family_alert

    snapshot, family_vitals, admin_vitals, family_alert = asyncio.run(run())
    assert [r["resident_id"] for r in snapshot["residents"]] == ["r1"]
    assert {a["resident_id"] for a in snapshot["alerts"]} <= {"r1"}
    assert set(family_vitals["residents"]) == {"r1"} and set(family_vitals["news2"]) == {"r1"}
    assert set(admin_vitals["residents"]) == {"r1", "r2", "r3"}
    assert family_alert["alert"]["alert_id"] == 98


def test_a_family_member_reads_the_audit_trail_without_the_care_teams_notes(served: Served) -> None:
    with served.client("family") as family:
        alert_id = next(a["alert_id"] for a in family.get("/api/alerts").json() if a["state"] == "open")
    note = "daughter not answering; try the son"
    with served.client("operator") as operator:
        assert operator.post(f"/api/alerts/{alert_id}/acknowledge", json={"note": note}).status_code == 200
        assert note in [t["note"] for t in operator.get(f"/api/alerts/{alert_id}").json()["transitions"]]
    with served.client("family") as family:
        trail = family.get(f"/api/alerts/{alert_id}").json()["transitions"]
    assert [t["to_state"] for t in trail][-1] == "acknowledged"
    assert {t["note"] for t in trail} == {""}
