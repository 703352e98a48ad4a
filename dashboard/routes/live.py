"""The live websocket: a snapshot of the board first, then deltas (alert changes, coalesced vitals)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from carewatch.storage.base import Store
from dashboard.deps import hub_of
from dashboard.schemas import AlertPublic, ResidentPublic

router = APIRouter(tags=["live"])

SNAPSHOT_ALERTS = 500


def snapshot(store: Store) -> dict[str, Any]:
    latest = store.latest_readings()
    return {
        "type": "snapshot",
        "residents": [ResidentPublic.of(r, latest.get(r.resident_id, {})).model_dump() for r in store.residents()],
        "alerts": [AlertPublic.of(a).model_dump() for a in store.alerts(live_only=True, limit=SNAPSHOT_ALERTS)],
    }


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    await websocket.accept()
    hub = hub_of(websocket.app)
    client = hub.connect()  # before the snapshot: no change between the two is missed
    receiver = asyncio.create_task(_drain(websocket))
    try:
        await websocket.send_json(await run_in_threadpool(snapshot, websocket.app.state.context.store))
        while not receiver.done():
            getter = asyncio.create_task(client.queue.get())
            done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            message = getter.result()
            if message is None:  # dropped as too slow
                await websocket.close(code=1013, reason="too slow: reconnect for a fresh snapshot")
                break
            await websocket.send_json(message)
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
