"""Property-based tests of the whole API from its OpenAPI document (schemathesis), logged in as an admin against a
served dashboard on each backend: whatever the generated request, no 5xx. Bounded: a few examples per operation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from dashboard_support import Served, seed, serve
from hypothesis import HealthCheck, given, settings

from carewatch.storage.base import Store
from dashboard.auth import AuthConfig

MAX_EXAMPLES = 10  # per operation: about 35 operations, some 10 s per backend on an idle machine


@pytest.fixture
def api(store: Store) -> Iterator[Served]:
    """The dashboard over each backend in turn (SQLite, then a real TimescaleDB)."""
    alerts = seed(store)
    with serve(store, AuthConfig(secret_key=b"test-secret")) as (url, app, hub, loop):
        yield Served(url, app, store, hub, loop, alerts)


def test_no_server_errors(api: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    headers = {"Authorization": f"Bearer {api.token('admin')}"}
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/auth/logout":
            continue  # it would end the session the other operations run in

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_5xx(case: Any) -> None:
            response = case.call(headers=headers, timeout=10)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
            )

        no_5xx()
        tested.append(f"{operation.method.upper()} {operation.path}")
    assert len(tested) > 20, tested
