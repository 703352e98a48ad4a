"""The live board under load, in headless Chromium: time to first render, frame times under live updates, messages
and bytes per second per client; 2,000 residents against 200 in the same run (the ratio is the figure to watch).

    .venv/bin/python -m bench.board [--residents 2000 --baseline 200 --seconds 10]

A dashboard is served for real (uvicorn, SQLite, the hub); a driver thread hands the hub fresh vitals for every
resident five times a second (the hub coalesces them into one message a second, with NEWS2) and opens or
acknowledges an alert several times a second. Not a test: it prints figures (docs/performance.md records them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry

from alerts.lifecycle import Lifecycle
from alerts.notify.broadcast import BroadcastNotifier
from carewatch.model import AlertDraft, Batch, ReadingRow, Resident, Severity, Site, SiteKind
from carewatch.storage.base import Role, User
from carewatch.storage.sqlite import SqliteStore
from dashboard.access import Scope
from dashboard.app import DashboardContext, create_app
from dashboard.auth import AuthConfig, hash_password
from dashboard.hub import Hub
from dashboard.routes.live import snapshot, visible_residents

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "bench password 123"
SITES = 10
LIVE_ALERTS = 60  # open alerts at the start, spread over the board
UPDATES_PER_S = 5  # vitals hand-overs per second (the hub flushes once a second)
ALERT_CHANGES_PER_S = 4.0  # default of --alert-changes

FRAME_PROBE = """
(scroll) => new Promise((resolve) => {
  const frames = []; const longTasks = [];
  new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push(e.duration); })
    .observe({ type: "longtask", buffered: false });
  const start = performance.now(); const before = { ...window.carewatchStats };
  let last = start;
  function tick(now) {
    frames.push(now - last); last = now;
    if (scroll) window.scrollBy(0, 40);  // an operator scrolling down the board: new rows are built every few frames
    if (now - start < SECONDS * 1000) requestAnimationFrame(tick);
    else resolve({ frames, longTasks, seconds: (now - start) / 1000,
                   messages: window.carewatchStats.messages - before.messages,
                   flushes: window.carewatchStats.flushes - before.flushes,
                   flushMs: window.carewatchStats.flushMs - before.flushMs,
                   flushMaxMs: window.carewatchStats.flushMaxMs,
                   bytes: window.carewatchStats.bytes - before.bytes });
  }
  requestAnimationFrame(tick);
})
"""


def populate(store: SqliteStore, residents: int) -> list[Resident]:
    store.upsert_sites([Site(f"s{i}", f"Station {i}", SiteKind.COMMUNITY_STATION) for i in range(SITES)])
    people = [Resident(f"r{i:05d}", f"s{i % SITES}", f"Resident {i:05d}", str(100 + i % 400)) for i in range(residents)]
    store.upsert_residents(people)
    now = time.time()
    rows = [
        ReadingRow(now - 5, r.site_id, f"w-{r.resident_id}", r.resident_id, metric, value, 1, False)
        for r in people
        for metric, value in (("hr", 72.0), ("spo2", 97.0), ("rr", 16.0), ("sbp", 125.0), ("temp", 36.8))
    ]
    store.write_batch(Batch(readings=rows))
    for r in people[:LIVE_ALERTS]:
        store.raise_alert(
            AlertDraft(r.resident_id, r.site_id, "spo2_low", Severity.URGENT, now, "SpO2 low", "bench", {})
        )
    store.save_user(User("admin", "Bench admin", Role.ADMIN), hash_password(PASSWORD))
    return people


@contextlib.contextmanager
def served(store: SqliteStore) -> Iterator[tuple[str, Hub, Lifecycle, asyncio.AbstractEventLoop]]:
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        hub = Hub(loop)
        hub.start()
        lifecycle = Lifecycle(store, [BroadcastNotifier(hub.broadcast_threadsafe)])
        app = create_app(DashboardContext(store, lifecycle, hub, CollectorRegistry(), AuthConfig()))
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", ws="websockets-sansio"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        state.update(server=server, hub=hub, lifecycle=lifecycle, loop=loop, url=f"http://127.0.0.1:{port}")
        ready.set()
        await task
        await hub.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    ready.wait(30)
    try:
        yield state["url"], state["hub"], state["lifecycle"], state["loop"]
    finally:
        state["server"].should_exit = True
        thread.join(10)


def drive(
    hub: Hub, lifecycle: Lifecycle, store: SqliteStore, people: list[Resident], alert_changes: float,
    stop: threading.Event,
) -> None:  # fmt: skip
    rng = random.Random(1)
    live = {a.alert_id for a in store.alerts(live_only=True, limit=10_000)}
    next_alert = time.monotonic()
    while not stop.is_set():
        now = time.time()
        hub.vitals_threadsafe(
            {
                r.resident_id: {"hr": [now, 60.0 + rng.random() * 40], "spo2": [now, 90.0 + rng.random() * 9]}
                for r in people
            }
        )
        while alert_changes and time.monotonic() >= next_alert:
            next_alert += 1 / alert_changes
            who = rng.choice(people)
            if live and rng.random() < 0.5:
                lifecycle.acknowledge(live.pop(), "bench", now)  # an operator acknowledges one
            else:
                draft = AlertDraft(who.resident_id, who.site_id, f"bench_{rng.randrange(1000)}", Severity.WARNING, now,
                                   "Bench alert", "bench", {})  # fmt: skip
                raised = store.raise_alert(draft)
                if raised is None:
                    continue
                live.add(raised.alert_id)
                lifecycle.notify(raised)
        stop.wait(1 / UPDATES_PER_S)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def measure(residents: int, seconds: float, alert_changes: float) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as directory:
        store = SqliteStore(Path(directory) / "bench.db")
        store.init_schema()
        people = populate(store, residents)
        started = time.perf_counter()
        everyone, _ = visible_residents(store, Scope(None, None))
        message, _ = snapshot(store, everyone, True)
        snapshot_ms = (time.perf_counter() - started) * 1000
        snapshot_kb = len(json.dumps(message)) / 1024
        with served(store) as (url, hub, lifecycle, _loop), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            page = context.new_page()
            page.goto(url + "/login")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            started = time.perf_counter()
            page.click("button[type=submit]")
            page.wait_for_selector(f"#tiles[data-count='{residents}'] .tile", timeout=60_000)
            first_render_wall_ms = (time.perf_counter() - started) * 1000
            marks = page.evaluate(
                "() => ({ mark: performance.getEntriesByName('carewatch:board-rendered')[0].startTime,"
                " build: window.carewatchStats.buildMs })"
            )
            stop = threading.Event()
            driver = threading.Thread(
                target=drive, args=(hub, lifecycle, store, people, alert_changes, stop), daemon=True
            )
            driver.start()
            page.wait_for_timeout(1500)  # let the first flushes arrive
            probe = page.evaluate(FRAME_PROBE.replace("SECONDS", str(seconds)), False)
            scrolling = page.evaluate(FRAME_PROBE.replace("SECONDS", str(min(seconds, 5))), True)
            scrolled = page.evaluate("() => window.scrollY")
            stop.set()
            driver.join(5)
            browser.close()
        store.close()
    frames = probe["frames"][1:]
    return {
        "residents": residents,
        "snapshot_build_ms": snapshot_ms,
        "snapshot_kb": snapshot_kb,
        "first_render_ms_since_navigation": marks["mark"],
        "tile_build_ms": marks["build"],
        "login_to_board_ms_wall": first_render_wall_ms,
        "frame_p50_ms": statistics.median(frames),
        "frame_p95_ms": percentile(frames, 0.95),
        "frame_max_ms": max(frames),
        "frames_over_50ms": sum(f > 50 for f in frames),
        "long_tasks": len(probe["longTasks"]),
        "long_task_max_ms": max(probe["longTasks"], default=0.0),
        "script_ms_per_update": probe["flushMs"] / max(probe["flushes"], 1),
        "script_ms_max_update": probe["flushMaxMs"],
        "scrolling_frame_p95_ms": percentile(scrolling["frames"][1:], 0.95),
        "scrolling_frame_max_ms": max(scrolling["frames"][1:]),
        "scrolled_px": float(scrolled),
        "messages_per_s": probe["messages"] / probe["seconds"],
        "kb_per_s": probe["bytes"] / probe["seconds"] / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=2000)
    parser.add_argument("--baseline", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--alert-changes", type=float, default=ALERT_CHANGES_PER_S, help="alerts opened or acked /s")
    args = parser.parse_args()
    results = [measure(n, args.seconds, args.alert_changes) for n in (args.baseline, args.residents)]
    width = max(len(k) for k in results[0])
    print(f"{'':{width}}  {args.baseline:>10}  {args.residents:>10}  {'ratio':>7}")
    for key in results[0]:
        if key == "residents":
            continue
        a, b = results[0][key], results[1][key]
        ratio = f"{b / a:7.2f}" if a else "      -"
        print(f"{key:{width}}  {a:10.1f}  {b:10.1f}  {ratio}")
    print(
        f"load: vitals for every resident handed to the hub {UPDATES_PER_S}/s (flushed 1/s), "
        f"{args.alert_changes:g} alert changes/s, measured over {args.seconds:.0f} s per board"
    )


if __name__ == "__main__":
    main()
