"""Support for tests/dashboard (whose conftest.py holds the fixtures): a dashboard served for real (uvicorn on a
free loopback port, its own event loop and hub) over a SQLite store with two sites, three residents, one user per
role and two live alerts. Tests talk to it with httpx and websockets."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from support import free_port

from alerts.lifecycle import Lifecycle
from alerts.notify.broadcast import BroadcastNotifier
from carewatch.model import (
    AlertDraft,
    Batch,
    Contact,
    ContactLink,
    ContactRole,
    ReadingRow,
    Resident,
    Severity,
    Site,
    SiteKind,
)
from carewatch.storage.base import EscalationStage, Role, Store, User
from dashboard.app import DashboardContext, create_app
from dashboard.auth import AuthConfig, hash_password
from dashboard.hub import Hub

PASSWORD = "correct horse battery"
USERS = {
    "admin": User("admin", "Admin", Role.ADMIN),
    "operator": User("operator", "Operator of s1", Role.OPERATOR, site_ids=("s1",)),
    "operator2": User("operator2", "Second operator of s1", Role.OPERATOR, site_ids=("s1",)),
    "clinician": User("clinician", "Clinician of s1", Role.CLINICIAN, site_ids=("s1",)),
    "family": User("family", "Daughter of r1", Role.FAMILY, resident_ids=("r1",)),
}
START_TIMEOUT_S = 15.0
TIMEOUT_MS = 15_000  # a page's wait for what it shows (the browser tests)


def seed(store: Store) -> dict[str, int]:
    """The registry, users, some readings, and live alerts on r1 (s1) and r3 (s2): rule name -> alert id."""
    store.upsert_sites(
        [Site("s1", "Sunrise station", SiteKind.COMMUNITY_STATION), Site("s2", "Li home", SiteKind.HOME)]
    )
    store.upsert_residents(
        [
            Resident("r1", "s1", "Wang Fang", "101"),
            Resident("r2", "s1", "Zhao Lei", "102"),
            Resident("r3", "s2", "Li Wei"),
        ]
    )
    store.upsert_contacts([Contact("c1", "Wang Min", ContactRole.FAMILY)], [ContactLink("r1", "c1", "daughter")])
    password_hash = hash_password(PASSWORD)
    for user in USERS.values():
        store.save_user(user, password_hash)
    now = time.time()
    store.write_batch(
        Batch(
            readings=[
                ReadingRow(now - 60 * i, site, "w-" + rid, rid, metric, value, i, False)
                for i in range(30)
                for rid, site in (("r1", "s1"), ("r2", "s1"), ("r3", "s2"))
                for metric, value in (("hr", 70.0 + i % 3), ("spo2", 96.0))
            ]
        )
    )
    alerts = {}
    for rid, site in (("r1", "s1"), ("r3", "s2")):
        draft = AlertDraft(rid, site, "spo2_low", Severity.URGENT, now - 30, "SpO2 low", "SpO2 88 % for 60 s", {})
        alert = store.raise_alert(draft)
        assert alert is not None
        alerts[rid] = alert.alert_id
    return alerts


SETTLING_IN_STEP_S = 600.0  # a reading of each vital every 10 minutes


def settling_in_week(store: Store, resident_id: str, site_id: str, end: float, days: int = 7) -> None:
    """A COPD resident's first days, at rest (no steps), through the store's write path: a reading of each vital
    every 10 minutes up to ``end``. SpO2 86-88 % on scale 1 (under spo2_low's 90), respiration 22-25/min (a quarter
    of it past rr_high's 24), both scoring NEWS2 3 habitually; pulse, systolic pressure and temperature ordinary."""
    count, device = int(days * 86_400 / SETTLING_IN_STEP_S), "w-" + resident_id
    rows = [
        ReadingRow(end - SETTLING_IN_STEP_S * i, site_id, device, resident_id, metric, value, 10_000 + i, False)
        for i in range(count)
        for metric, value in (
            ("spo2", 86.0 + i % 3), ("rr", 22.0 + i % 4), ("hr", 78.0 + i % 5), ("sbp", 128.0 + i % 7), ("temp", 36.8),
        )
    ]  # fmt: skip
    store.write_batch(Batch(readings=rows))


def late_low_spo2(store: Store, resident_id: str, site_id: str, end: float) -> None:
    """Readings arriving late for ``settling_in_week``'s period (a device uploading its backlog): SpO2 80 % between
    the readings of a quarter of its 10-minute steps, which changes what the review of that week suggests."""
    device = "w-" + resident_id
    rows = [
        ReadingRow(end - SETTLING_IN_STEP_S * (i + 0.5), site_id, device, resident_id, "spo2", 80.0, 50_000 + i, False)
        for i in range(0, 1000, 4)
    ]
    store.write_batch(Batch(readings=rows))


@dataclass
class Served:
    url: str
    app: FastAPI
    store: Store
    hub: Hub
    loop: asyncio.AbstractEventLoop
    alerts: dict[str, int]
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        return httpx.post(f"{self.url}/api/auth/login", json={"username": username, "password": password})

    def token(self, username: str) -> str:
        if username not in self.tokens:
            response = self.login(username)
            assert response.status_code == 200, response.text
            self.tokens[username] = response.json()["token"]
        return self.tokens[username]

    def client(self, username: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(username)}"} if username else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def on_loop(self, function: Callable[[], object]) -> None:
        """Run a function on the server's event loop (where the hub lives) and wait for it."""
        done = threading.Event()

        def run() -> None:
            function()
            done.set()

        self.loop.call_soon_threadsafe(run)
        assert done.wait(5)


def live_alert(served: Served, resident_id: str, rule: str, title: str) -> int:
    """A new live urgent alert of one of s1's residents, opened a minute ago (a rule of its own per test: one live
    alert per resident and rule)."""
    draft = AlertDraft(resident_id, "s1", rule, Severity.URGENT, time.time() - 60, title, f"{title} (test)", {})
    alert = served.store.raise_alert(draft)
    assert alert is not None
    return alert.alert_id


def escalated_alert(served: Served, stages: int = 1) -> int:
    """A live alert of r2 whose first ``stages`` escalation stages fired (as the escalator claims them)."""
    now = time.time()
    alert = served.store.raise_alert(
        AlertDraft("r2", "s1", "hr_high", Severity.URGENT, now - 600, "HR high", "HR 130 for 60 s", {})
    )
    assert alert is not None
    planned = [EscalationStage(alert.alert_id, n, "operators", now - 600 + 60 * n) for n in (1, 2, 3)]
    served.store.plan_escalation(alert.alert_id, planned)
    for stage in planned[:stages]:
        assert served.store.claim_escalation(alert.alert_id, stage.stage, now)
    return alert.alert_id


def clinical_alert(served: Served) -> int:
    """A live SpO2 alert of r2 (s1) with the readings behind it, as the clinic receives one in FHIR."""
    now = time.time()
    readings = [[now - 60 + 5 * i, 88.0 - i * 0.5] for i in range(5)]
    evidence = {"metric": "spo2", "window": [now - 60, now], "readings": readings}
    draft = AlertDraft("r2", "s1", "spo2_low", Severity.URGENT, now, "SpO2 low", "SpO2 below 90 % for 60 s", evidence)
    alert = served.store.raise_alert(draft)
    assert alert is not None
    return alert.alert_id


@contextmanager
def serve(store: Store, auth: AuthConfig) -> Iterator[tuple[str, FastAPI, Hub, asyncio.AbstractEventLoop]]:
    ready = threading.Event()
    state: dict[str, object] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        hub = Hub(loop)
        hub.start()
        lifecycle = Lifecycle(store, [BroadcastNotifier(hub.broadcast_threadsafe)])
        app = create_app(DashboardContext(store, lifecycle, hub, CollectorRegistry(), auth))
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", ws="websockets-sansio"
            )
        )
        state.update(server=server, app=app, hub=hub, loop=loop, url=f"http://127.0.0.1:{port}")
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        ready.set()
        await task
        await hub.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="dashboard-under-test", daemon=True)
    thread.start()
    assert ready.wait(START_TIMEOUT_S), "the dashboard did not start"
    try:
        yield str(state["url"]), state["app"], state["hub"], state["loop"]  # type: ignore[misc]
    finally:
        state["server"].should_exit = True  # type: ignore[attr-defined]
        thread.join(10)


def logged_in(browser: Any, served: Served, username: str, lang: str = "en", timezone: str | None = None) -> Any:
    """A new browser context logged in as ``username`` (in the browser's ``timezone``, if given); the page's script
    errors are collected in ``page.errors``."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale=lang, timezone_id=timezone)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    page.goto(served.url + "/")
    page.wait_for_url("**/login?next=/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page


def newest_change(page: Any, changes: str, text: str) -> str:
    """The newest entry of the change list ``changes`` (an element id) once it contains ``text``: the page fetches
    the list after the limits it belongs to, so it may still show the previous entries for a moment."""
    page.wait_for_function(
        "([id, text]) => { const li = document.querySelectorAll(`#${id} li`);"
        " return li.length > 0 && li[li.length - 1].textContent.includes(text); }",
        arg=[changes, text],
        timeout=TIMEOUT_MS,
    )
    page.click(f"#{changes} summary")
    newest: str = page.locator(f"#{changes} li").last.inner_text()
    return newest
