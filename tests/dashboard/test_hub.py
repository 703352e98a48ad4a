"""The hub's bounded fan-out: a client that stops reading is dropped and its memory freed, on the hub alone and
through a real socket whose reader stalls; acknowledgements reach another operator's socket. Logging out closes that
session's sockets (and no other's); an edited or deactivated user's sockets close too, and are not counted as slow."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx
from dashboard_support import PASSWORD, Served
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from carewatch.storage.base import Role, User
from dashboard.auth import hash_password
from dashboard.hub import CLIENT_QUEUE_SIZE, LOGGED_OUT, POLICY_VIOLATION, RECONNECT, TRY_AGAIN_LATER, Client, Hub

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
    assert slow.queue.qsize() == 1 and slow.queue.get_nowait() == RECONNECT  # only the closing marker is held
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


def test_closing_a_users_sockets_is_not_counted_as_dropping_a_slow_client() -> None:
    async def run() -> tuple[Hub, Client, Client]:
        hub = Hub(asyncio.get_running_loop())
        edited, other = hub.connect(username="zhang"), hub.connect(username="li")
        hub.drop_user("zhang")  # an admin changed or deactivated zhang
        return hub, edited, other

    hub, edited, other = asyncio.run(run())
    assert edited.dropped and edited.queue.get_nowait() == RECONNECT and not other.dropped
    assert hub.client_count == 1 and hub.dropped_clients == 0


def test_a_session_that_logs_out_has_its_sockets_closed_and_no_other() -> None:
    async def run() -> tuple[Hub, list[Client]]:
        hub = Hub(asyncio.get_running_loop())
        clients = [hub.connect(username="zhang", session=session) for session in ("tab", "tab", "phone")]
        hub.drop_session("tab")
        return hub, clients

    hub, (first_tab, second_tab, phone) = asyncio.run(run())
    assert first_tab.queue.get_nowait() == LOGGED_OUT and second_tab.queue.get_nowait() == LOGGED_OUT
    assert not phone.dropped and phone.queue.empty()
    assert hub.client_count == 1 and hub.dropped_clients == 0


async def closed_with(socket: ClientConnection) -> int | None:
    """The close code of a socket the server closes (within 10 s), once what it sent before has been read."""
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(10):
            while True:
                await socket.recv()
    return socket.close_code


def test_logging_out_closes_the_sockets_of_that_session_only(served: Served) -> None:
    leaving, staying = served.login("operator").json()["token"], served.login("operator").json()["token"]

    async def run() -> tuple[int | None, dict[str, Any]]:
        async with (
            connect(f"{served.ws_url}?token={leaving}") as tab,
            connect(f"{served.ws_url}?token={staying}") as other_device,
        ):
            assert json.loads(await tab.recv())["type"] == "snapshot"
            assert json.loads(await other_device.recv())["type"] == "snapshot"
            response = await asyncio.to_thread(
                httpx.post, f"{served.url}/api/auth/logout", headers={"Authorization": f"Bearer {leaving}"}
            )
            assert response.status_code == 204
            code = await closed_with(tab)
            served.hub.broadcast_threadsafe({"type": "alert", "alert": {"resident_id": "r1", "alert_id": 97}})
            return code, json.loads(await asyncio.wait_for(other_device.recv(), 10))

    before = served.hub.dropped_clients
    code, message = asyncio.run(run())
    assert code == POLICY_VIOLATION  # the page goes to the login page
    assert message["type"] == "alert"  # the same user's other session still streams
    assert served.hub.dropped_clients == before


def test_deactivating_a_user_closes_their_sockets_and_refuses_them_again(served: Served) -> None:
    served.store.save_user(User("nightshift", "Night shift", Role.OPERATOR, site_ids=("s1",)), hash_password(PASSWORD))
    token = served.login("nightshift").json()["token"]

    async def run() -> tuple[int | None, int]:
        async with connect(f"{served.ws_url}?token={token}") as board:
            assert json.loads(await board.recv())["type"] == "snapshot"
            with served.client("admin") as admin:
                response = await asyncio.to_thread(admin.patch, "/api/users/nightshift", json={"active": False})
            assert response.status_code == 200, response.text
            code = await closed_with(board)
        try:
            async with connect(f"{served.ws_url}?token={token}"):
                return code, 101
        except InvalidStatus as exc:
            return code, exc.response.status_code

    before = served.hub.dropped_clients
    code, reconnected = asyncio.run(run())
    assert code == TRY_AGAIN_LATER and reconnected == 403  # reconnects, and is refused (HTTP 403)
    assert served.hub.dropped_clients == before  # not a slow client
