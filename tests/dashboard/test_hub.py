"""The hub's bounded fan-out: a client that stops reading is dropped and its memory freed, on the hub alone and
through a real socket whose reader stalls; acknowledgements reach another operator's socket."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from dashboard_support import Served
from websockets.asyncio.client import connect

from dashboard.hub import CLIENT_QUEUE_SIZE, Client, Hub

BIG_VITALS = {f"x{i}": {"hr": [0.0, 70.0], "spo2": [0.0, 97.0]} for i in range(4000)}  # ~200 kB once encoded


def test_a_client_that_stops_reading_is_dropped_and_its_queue_emptied() -> None:
    async def run() -> tuple[Hub, Any, Any]:
        hub = Hub(asyncio.get_running_loop())
        slow, fast = hub.connect(), hub.connect()
        for i in range(CLIENT_QUEUE_SIZE + 10):
            hub.broadcast({"type": "alert", "alert": {"resident_id": "r1", "alert_id": i}})
            fast.queue.get_nowait()  # this one keeps up
        return hub, slow, fast

    hub, slow, fast = asyncio.run(run())
    assert slow.dropped and not fast.dropped
    assert slow.queue.qsize() == 1 and slow.queue.get_nowait() is None  # only the wake-up marker is held
    assert hub.client_count == 1 and hub.dropped_clients == 1


def test_a_stalled_socket_is_dropped_by_the_server(served: Served) -> None:
    async def run() -> int:
        # max_queue=1 and a tiny read limit: the client library stops reading the socket once one frame waits.
        async with connect(f"{served.ws_url}?token={served.token('admin')}", max_queue=1, max_size=None) as socket:
            before = served.hub.dropped_clients
            message = {"type": "vitals", "residents": BIG_VITALS, "news2": {}}
            deadline = time.monotonic() + 30
            while served.hub.dropped_clients == before and time.monotonic() < deadline:
                served.hub.broadcast_threadsafe(message)  # ~200 kB each: TCP buffers fill, then the queue
                await asyncio.sleep(0.002)
            socket.close_timeout = 1
            return served.hub.dropped_clients - before

    assert asyncio.run(run()) >= 1
    deadline = time.monotonic() + 10
    while served.hub.client_count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert served.hub.client_count == 0  # gone from the hub: nothing more is queued for it


def test_an_acknowledgement_reaches_the_other_operator(served: Served) -> None:
    alert_id = served.alerts["r1"]

    async def run() -> dict[str, Any]:
        async with connect(f"{served.ws_url}?token={served.token('operator')}") as watcher:
            assert json.loads(await watcher.recv())["type"] == "snapshot"
            token = served.token("clinician")
            response = await asyncio.to_thread(
                httpx.post, f"{served.url}/api/alerts/{alert_id}/acknowledge", json={"note": "on my way"},
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            assert response.status_code in (200, 409), response.text
            while True:
                message = json.loads(await asyncio.wait_for(watcher.recv(), 10))
                if message["type"] == "alert":
                    return dict(message["alert"])

    alert = asyncio.run(run())
    assert alert["alert_id"] == alert_id and alert["state"] == "acknowledged"
    assert alert["acknowledged_by"] == "clinician"


def test_a_scoped_client_sees_only_its_residents_messages() -> None:
    client = Client(frozenset({"r1"}), "family")
    mine = {"type": "notice", "resident_id": "r1", "alert_id": 7, "kind": "escalation-1"}
    other = {**mine, "resident_id": "r2"}
    assert client.view(mine) == mine
    assert client.view(other) is None
    assert client.view({"type": "alert", "alert": {"resident_id": "r2"}}) is None
    assert client.view({"type": "something-new"}) is None  # unknown kinds are not shown to a scoped user
    assert Client(None, "admin").view(other) == other
