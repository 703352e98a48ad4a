"""Refuse NUL characters in paths and query strings at the edge (422; a websocket is closed with 1008).

PostgreSQL text cannot hold NUL, so without this a stray %00 in a query parameter becomes a database error (500)
on TimescaleDB while SQLite accepts it. Request bodies are checked by their models (schemas.NoNul).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send


class RefuseNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and _has_nul(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": "NUL in the request"})
                return
            body = json.dumps({"detail": "NUL characters are not allowed in a path or query"}).encode()
            await send(
                {"type": "http.response.start", "status": 422, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"\x00" in query or b"%00" in query
