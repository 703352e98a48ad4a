"""The edge's guards against a served dashboard: request bodies are bounded (413, by Content-Length before reading,
or while a body streamed without one arrives) and a validation error does not send the input back."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
from dashboard_support import Served

from dashboard.guard import MAX_BODY_BYTES

STREAM_CHUNK = 64 * 1024


def blank_login(size: int) -> bytes:
    """A login body of exactly ``size`` bytes (padded with JSON whitespace) that fails validation (blank fields)."""
    body = json.dumps({"username": "", "password": ""}).encode()
    return body + b" " * (size - len(body))


def streamed(body: bytes) -> Iterator[bytes]:
    """The body in chunks: httpx sends a generator chunked, without a Content-Length."""
    for at in range(0, len(body), STREAM_CHUNK):
        yield body[at : at + STREAM_CHUNK]


def test_a_body_declared_over_the_limit_is_refused_before_it_is_sent(served: Served) -> None:
    address = urlsplit(served.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=5)
    connection.putrequest("POST", "/api/auth/login")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(100_000_000))
    connection.endheaders(b'{"username": "')  # the rest never comes: the answer must not wait for it
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read()) == {"detail": f"the request body is over {MAX_BODY_BYTES} bytes"}
    connection.close()


def test_bodies_up_to_the_limit_are_read_with_or_without_a_content_length(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        at_limit = blank_login(MAX_BODY_BYTES)
        assert client.post("/api/auth/login", content=at_limit).status_code == 422  # read and validated
        assert client.post("/api/auth/login", content=streamed(at_limit)).status_code == 422
        over = client.post("/api/auth/login", content=streamed(blank_login(MAX_BODY_BYTES + 1)))
    assert over.status_code == 413
    assert len(over.content) < 100


def test_validation_errors_say_where_and_why_but_not_what_was_sent(served: Served) -> None:
    username, password = "u" * 65, "a long secret " * 20  # over 64 and 200 characters
    with httpx.Client(base_url=served.url, timeout=10) as client:
        response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["body", field], "msg": f"String should have at most {n} characters", "type": "string_too_long"}
            for field, n in (("username", 64), ("password", 200))
        ]
    }
    assert username not in response.text and "secret" not in response.text
