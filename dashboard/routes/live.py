"""The live websocket: a snapshot of the board first, then deltas (alert changes, coalesced vitals with NEWS2).

Authenticated before the handshake is accepted (the session cookie, or `?token=` for API clients); an unknown session
or a cross-site page is refused with close code 1008 (policy violation). Each user sees only their scope.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from carewatch.model import AlertState, Resident
from carewatch.storage.base import Store, User
from dashboard.access import Permission, Scope, allowed
from dashboard.auth import COOKIE_NAME, Sessions
from dashboard.deps import context_of, hub_of, public_alerts
from dashboard.hub import POLICY_VIOLATION, Close
from dashboard.schemas import News2Public, ResidentPublic
from dashboard.scoring import news2

router = APIRouter(tags=["live"])

SNAPSHOT_ALERTS = 500
ALERT_QUERY_IDS = 500  # resident ids per query: SQLite allows 32,766 parameters, PostgreSQL 65,535; stay far below
LIVE_STATES = [s for s in AlertState if s is not AlertState.RESOLVED]
SEND_TIMEOUT_S = 10.0  # a client whose socket takes no message for this long is stuck: close it, free its task


def visible_residents(store: Store, scope: Scope) -> tuple[list[Resident], frozenset[str] | None]:
    """The residents a client may see, and their ids for the hub's filter (None: every resident, now and later)."""
    residents = scope.residents(store.residents())
    return residents, None if scope.everything else frozenset(r.resident_id for r in residents)


def snapshot(store: Store, residents: list[Resident], everyone: bool) -> tuple[dict[str, Any], list[str]]:
    """(the snapshot message, the residents marked for SpO2 scale 2). everyone: the residents are all there are."""
    latest = store.latest_readings()
    scale2 = [r.resident_id for r in residents if r.spo2_scale == 2]
    scores = news2({r.resident_id: latest[r.resident_id] for r in residents if r.resident_id in latest}, scale2)
    ids = [r.resident_id for r in residents]
    if everyone:
        alerts = store.alerts_matching(states=LIVE_STATES, limit=SNAPSHOT_ALERTS)
    else:
        alerts = [
            a for chunk in range(0, len(ids), ALERT_QUERY_IDS)
            for a in store.alerts_matching(
                resident_ids=ids[chunk : chunk + ALERT_QUERY_IDS], states=LIVE_STATES, limit=SNAPSHOT_ALERTS
            )
        ]  # fmt: skip
        alerts.sort(key=lambda a: (-a.opened_at, -a.alert_id))
        del alerts[SNAPSHOT_ALERTS:]
    message = {
        "type": "snapshot",
        "residents": [
            ResidentPublic.of(
                r, latest.get(r.resident_id, {}),
                News2Public.model_validate(scores[r.resident_id]) if r.resident_id in scores else None,
            ).model_dump()
            for r in residents
        ],
        "alerts": [a.model_dump() for a in public_alerts(store, alerts)],
    }  # fmt: skip
    return message, scale2


def _same_origin(websocket: WebSocket) -> bool:
    """Browsers send Origin: a page of another site must not ride on our session cookie (cross-site hijacking)."""
    origin = websocket.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == websocket.headers.get("host")


async def _authenticate(websocket: WebSocket) -> tuple[User, str] | None:
    """The user and the key of their session (the hub closes its sockets at logout); None: refused."""
    token = websocket.query_params.get("token") or websocket.cookies.get(COOKIE_NAME)
    if not token:
        return None
    sessions: Sessions = websocket.app.state.sessions
    user = await run_in_threadpool(sessions.user, token)
    if user is None or not allowed(user, Permission.READ):
        return None
    return user, sessions.key(token)


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    login = await _authenticate(websocket) if _same_origin(websocket) else None
    if login is None:
        await websocket.close(code=POLICY_VIOLATION, reason="log in first")
        return
    user, session = login
    await websocket.accept()
    context = context_of(websocket.app)
    hub = hub_of(websocket.app)
    scope = Scope.of(user)
    # Residents visible to a scoped user are fixed at connection: a resident registered later shows after reconnecting.
    residents, visible = await run_in_threadpool(visible_residents, context.store, scope)
    client = hub.connect(visible, user.username, session)  # before reading the snapshot: no change in between is missed
    message, scale2 = await run_in_threadpool(snapshot, context.store, residents, visible is None)
    if scope.everything:
        hub.set_spo2_scale2(scale2)
    receiver = asyncio.create_task(_drain(websocket))
    try:
        await websocket.send_json(message)
        while not receiver.done():
            getter = asyncio.create_task(client.queue.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            delta = getter.result()
            if isinstance(delta, Close):  # dropped: too slow, the user changed, or the session logged out
                await websocket.close(code=delta.code, reason=delta.reason)
                break
            await asyncio.wait_for(websocket.send_json(delta), SEND_TIMEOUT_S)
    except TimeoutError:
        hub.drop(client)  # its TCP buffers are full and it does not read: the connection is of no more use
    except (WebSocketDisconnect, RuntimeError):
        pass  # the browser went away mid-send
    finally:
        hub.disconnect(client)
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await receiver


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the browser sends, so a closed socket is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
