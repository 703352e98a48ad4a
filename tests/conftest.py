"""Shared fixtures. Services (Mosquitto, PostgreSQL + TimescaleDB) are real processes that the fixtures start on free
loopback ports in temporary directories, and stop after. Where a service is not installed the tests that need it
skip, except in CI (CI=true), where that is a failure: scripts/install-services installs them."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import (
    ARTIFACTS,
    CHROMIUM,
    GUARDED_PASSWORD,
    GUARDED_USER,
    Mosquitto,
    Postgres,
    free_port,
    missing_service,
    postgres_bindir,
    service_directory,
)

from carewatch.storage.base import Store


def _mosquitto(name: str, users: dict[str, str] | None = None) -> Iterator[Mosquitto]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        missing_service("mosquitto")
    if "/usr/sbin" not in os.environ["PATH"].split(":"):
        os.environ["PATH"] += ":/usr/sbin"  # mosquitto, mosquitto_passwd
    with service_directory(name) as directory:
        broker = Mosquitto(free_port(), directory, users=users)
        broker.start()
        yield broker
        broker.stop()


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    yield from _mosquitto("mosquitto")


@pytest.fixture
def guarded_mosquitto() -> Iterator[Mosquitto]:
    """A Mosquitto of its own that admits one user, GUARDED_USER with GUARDED_PASSWORD, and nobody anonymous."""
    yield from _mosquitto("mosquitto-auth", {GUARDED_USER: GUARDED_PASSWORD})


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bindir = postgres_bindir()
    if bindir is None:
        missing_service("PostgreSQL with TimescaleDB")
        raise AssertionError  # unreachable: missing_service skips or fails
    with service_directory("postgres") as directory:
        server = Postgres(bindir, directory, free_port())
        server.start()
        yield server
        server.stop()


@pytest.fixture
def pg_url(postgres: Postgres) -> str:
    """A fresh, empty database on the session's cluster."""
    return postgres.create_database()


# Stores -------------------------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "timescaledb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each storage backend in turn, schema applied, empty."""
    backend: Store
    if request.param == "sqlite":
        from carewatch.storage.sqlite import SqliteStore

        backend = SqliteStore(tmp_path / "carewatch.db")
    else:
        from carewatch.storage.timescale import TimescaleStore

        backend = TimescaleStore(request.getfixturevalue("pg_url"))
    backend.init_schema()
    yield backend
    backend.close()


# Browser ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (no browser download). Module-scoped: Playwright's sync API
    holds an event loop on the main thread while it runs, which `asyncio.run` in other tests must not meet."""
    if not Path(CHROMIUM).exists():
        missing_service(CHROMIUM)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """A browser test that fails reports what its open pages showed: their URLs in the failure's text (so CI's log
    has them) and screenshots in test-artifacts/."""
    report: pytest.TestReport = yield
    browser = getattr(item, "funcargs", {}).get("browser")
    if report.when == "call" and report.failed and browser is not None:
        report.sections.append(("open pages at the failure", _pages_shown(browser, item.name)))
    return report


def _pages_shown(browser: Any, test: str) -> str:
    """Each open page's URL, with a screenshot of it; then the contexts are closed (the next test starts clean)."""
    from playwright.sync_api import Error

    stem = re.sub(r"\W+", "-", test)
    lines = []
    for c, context in enumerate(browser.contexts):
        for p, page in enumerate(context.pages):
            shot = ARTIFACTS / f"failed-{stem}-{c}-{p}.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                lines.append(f"context {c} page {p}: {page.url} (screenshot {shot})")
            except Error as error:
                lines.append(f"context {c} page {p}: {page.url} (no screenshot: {error})")
        context.close()
    return "\n".join(lines) or "no page open"
