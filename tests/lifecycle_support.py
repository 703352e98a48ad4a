"""Shared by the lifecycle tests (tests/lifecycle): a webhook receiver on loopback that fails, then recovers, and
keeps one copy per idempotency key; waiting for a condition; a second connection to the test's database (a restart,
or a second worker)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from carewatch.storage.base import Store

SECRET = b"clinic-shared-secret"
WAIT_S = 10.0


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# A webhook receiver ---------------------------------------------------------------------------------------------


class Receiver:
    """Answers the first ``failures`` requests with ``status`` (and a ``Location`` when ``location`` is given), then
    200; keeps one copy per idempotency key. A GET (a redirect followed) is answered 200 and kept in ``gets``."""

    def __init__(
        self, failures: int = 0, status: int = 503, stall_first_s: float = 0.0, location: str | None = None
    ) -> None:
        self.failures, self.status, self.stall_first_s, self.location = failures, status, stall_first_s, location
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.gets: list[str] = []
        self.accepted: dict[str, bytes] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                if len(receiver.requests) == 1 and receiver.stall_first_s:  # processed, but answers too late
                    receiver.accepted.setdefault(self.headers["Idempotency-Key"], body)
                    time.sleep(receiver.stall_first_s)
                if len(receiver.requests) <= receiver.failures:
                    self.send_response(receiver.status)
                    if receiver.location:
                        self.send_header("Location", receiver.location)
                else:
                    receiver.accepted.setdefault(self.headers["Idempotency-Key"], body)
                    self.send_response(200)
                self.end_headers()

            def do_GET(self) -> None:
                receiver.gets.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def second_store(store: Store, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    """Another connection to the same database, as a restarted process or a second worker has."""
    if store.backend == "sqlite":
        from carewatch.storage.sqlite import SqliteStore

        return SqliteStore(tmp_path / "carewatch.db")
    from carewatch.storage.timescale import TimescaleStore

    return TimescaleStore(request.getfixturevalue("pg_url"))
