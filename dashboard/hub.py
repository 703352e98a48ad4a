"""The websocket hub: fans messages out to every connected dashboard, each through a bounded queue.

A client that stops reading fills its queue and is dropped (it reconnects and gets a fresh snapshot): memory does
not grow behind a slow tab. Vitals are coalesced per resident and flushed at most every VITALS_FLUSH_S, with the
residents' NEWS2 recomputed from the newest value of every parameter. Each client sees only the residents its user
may see (`Client.visible`; None = all). Other threads hand messages over with `*_threadsafe`; everything else runs
on the event loop.

A dropped client's queue ends with a `Close`, which says how its sender closes the socket: "reconnect" for a client
too slow (counted in `dropped_clients`), a user an admin changed and a stopping server; "logged out" for the sockets
of a session that ended, which the page answers by going to the login page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from dashboard.scoring import news2

log = logging.getLogger(__name__)

CLIENT_QUEUE_SIZE = 256  # messages; at one vitals flush a second plus alerts, a client 4 minutes behind is dropped
VITALS_FLUSH_S = 1.0  # a tile changes at most once a second: enough for a human, cheap for 2,000 tiles

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Close:
    """The last item of a dropped client's queue: its sender closes the socket with this code and reason."""

    code: int
    reason: str


POLICY_VIOLATION = 1008  # websocket close codes (RFC 6455): the page goes to the login page
TRY_AGAIN_LATER = 1013  # the page reconnects
RECONNECT = Close(TRY_AGAIN_LATER, "dropped: reconnect for a fresh snapshot")
LOGGED_OUT = Close(POLICY_VIOLATION, "logged out")


class Client:
    def __init__(self, visible: frozenset[str] | None = None, username: str = "", session: str = "") -> None:
        self.queue: asyncio.Queue[Message | Close] = asyncio.Queue(CLIENT_QUEUE_SIZE)
        self.dropped = False
        self.visible = visible  # the resident ids this client may see; None = every resident
        self.username = username
        self.session = session  # the key of the login session it was opened with (Sessions.key), never the token

    def view(self, message: Message) -> Message | None:
        """The part of a message this client may see, or None for nothing."""
        if self.visible is None:
            return message
        kind = message.get("type")
        if kind == "alert":
            return message if message["alert"]["resident_id"] in self.visible else None
        if kind == "vitals":
            residents = _only(message["residents"], self.visible)
            if not residents:
                return None
            return {"type": "vitals", "residents": residents, "news2": _only(message.get("news2", {}), self.visible)}
        if kind == "notice":  # an escalation of an alert of a resident this client sees
            return message if message.get("resident_id") in self.visible else None
        return None  # a kind this filter does not know is not shown to a scoped user


def _only(by_resident: dict[str, Any], visible: frozenset[str]) -> dict[str, Any]:
    if len(visible) < len(by_resident):
        return {rid: by_resident[rid] for rid in visible if rid in by_resident}
    return {rid: value for rid, value in by_resident.items() if rid in visible}


class Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._clients: set[Client] = set()
        self._vitals: dict[str, dict[str, list[float]]] = {}
        self._latest: dict[str, dict[str, list[float]]] = {}  # one entry per resident that reported: bounded
        self._scale2: frozenset[str] = frozenset()
        self._flusher: asyncio.Task[None] | None = None
        self.dropped_clients = 0

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def start(self) -> None:
        self._flusher = self._loop.create_task(self._flush_vitals_forever())

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        for client in list(self._clients):
            self._drop(client, RECONNECT)

    def connect(self, visible: frozenset[str] | None = None, username: str = "", session: str = "") -> Client:
        client = Client(visible, username, session)
        self._clients.add(client)
        return client

    def drop_user(self, username: str) -> None:
        """Close the sockets of a user an admin changed or deleted: they reconnect with the new scope or are refused."""
        for client in [c for c in self._clients if c.username == username]:
            self._drop(client, RECONNECT)

    def drop_session(self, session: str) -> None:
        """Close the sockets of a login session that ended (logged out); the user's other sessions keep theirs."""
        for client in [c for c in self._clients if c.session == session]:
            self._drop(client, LOGGED_OUT)

    def drop_user_threadsafe(self, username: str) -> None:
        self._loop.call_soon_threadsafe(self.drop_user, username)

    def drop_session_threadsafe(self, session: str) -> None:
        self._loop.call_soon_threadsafe(self.drop_session, session)

    def set_spo2_scale2(self, resident_ids: Collection[str]) -> None:
        """The residents a clinician marked for NEWS2 SpO2 scale 2."""
        self._scale2 = frozenset(resident_ids)

    def disconnect(self, client: Client) -> None:
        self._clients.discard(client)

    def broadcast_threadsafe(self, message: Message) -> None:
        self._loop.call_soon_threadsafe(self.broadcast, message)

    def vitals_threadsafe(self, latest: dict[str, dict[str, list[float]]]) -> None:
        """resident_id -> metric -> [ts, value]; merged with what is waiting for the next flush."""
        self._loop.call_soon_threadsafe(self._merge_vitals, latest)

    def broadcast(self, message: Message) -> None:
        for client in list(self._clients):
            view = client.view(message)
            if view is None:
                continue
            try:
                client.queue.put_nowait(view)
            except asyncio.QueueFull:
                log.warning("dropping a dashboard client that stopped reading")
                self.drop(client)

    def drop(self, client: Client) -> None:
        """Stop serving a client that is too slow or stuck (counted in dropped_clients); it reconnects."""
        if client in self._clients:
            self.dropped_clients += 1
            self._drop(client, RECONNECT)

    def _drop(self, client: Client, close: Close) -> None:
        self._clients.discard(client)
        client.dropped = True
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                client.queue.get_nowait()
        client.queue.put_nowait(close)  # wakes the sender, which closes the socket

    def _merge_vitals(self, latest: dict[str, dict[str, list[float]]]) -> None:
        for resident_id, metrics in latest.items():
            self._vitals.setdefault(resident_id, {}).update(metrics)
            self._latest.setdefault(resident_id, {}).update(metrics)

    async def _flush_vitals_forever(self) -> None:
        while True:
            await asyncio.sleep(VITALS_FLUSH_S)
            if self._vitals and self._clients:
                scores = news2({rid: self._latest[rid] for rid in self._vitals}, self._scale2)
                self.broadcast({"type": "vitals", "residents": self._vitals, "news2": scores})
            self._vitals = {}
