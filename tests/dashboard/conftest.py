"""Fixtures of the dashboard tests; the helpers are in tests/dashboard_support.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_support import Served, seed, serve

from carewatch.storage.sqlite import SqliteStore
from dashboard.auth import AuthConfig


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    store = SqliteStore(Path(tmp_path_factory.mktemp("dashboard")) / "carewatch.db")
    store.init_schema()
    alerts = seed(store)
    with serve(store, AuthConfig(secret_key=b"test-secret", login_max_failures=3)) as (url, app, hub, loop):
        yield Served(url, app, store, hub, loop, alerts)
    store.close()
