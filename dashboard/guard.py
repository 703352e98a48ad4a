"""Guards at the edge: NUL characters in paths and query strings, and oversized request bodies (what a validation
error says back: dashboard/refusals.py).

PostgreSQL text cannot hold NUL, so without `RefuseNul` a stray %00 in a query parameter becomes a database error
(500) on TimescaleDB while SQLite accepts it (422 here; a websocket is closed with 1008). Request bodies are checked
by their models (schemas.NoNul). `LimitBody` bounds what one request can make the server read and hold (413).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The largest body the API takes is a user with their sites or residents (ids of at most 64 characters): a mebibyte
# holds over 10,000 of them, and bounds the memory an unauthenticated request can take (a login is read whole).
MAX_BODY_BYTES = 1 << 20


class RefuseNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and _has_nul(scope):
            await send({"type": "websocket.close", "code": 1008, "reason": "NUL in the request"})
        elif scope["type"] == "http" and _has_nul(scope):
            await _refuse(send, 422, "NUL characters are not allowed in a path or query")
        else:
            await self.app(scope, receive, send)


class LimitBody:
    """413 for a body over `MAX_BODY_BYTES`: by its Content-Length before reading any of it, or, for a body streamed
    without one, read here up to the limit and refused as soon as it passes it (within limits, replayed to the app)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is None:
            body = await _read_bounded(receive)
            if body is not None:
                await self.app(scope, _replay(body, receive), send)
                return
        elif length <= MAX_BODY_BYTES:
            await self.app(scope, receive, send)
            return
        await _refuse(send, 413, f"the request body is over {MAX_BODY_BYTES} bytes")


def _has_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"\x00" in query or b"%00" in query


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None  # the server's parser refuses a malformed one first
    return None


async def _read_bounded(receive: Receive) -> bytes | None:
    """The whole body, or None once it passes `MAX_BODY_BYTES` (the rest is left unread)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # the client went away: the app sees an empty or partial body and its disconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    """A receive that gives the body read already, then whatever comes next (a disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
