"""The platform applies the clinicians' NEWS2 escalations at start and picks up those set or removed later (through
the API, by another worker) on its registry refresh, as it does their thresholds; a device registered while it runs
(another process, the API) is known within seconds and its first message stored, not dead-lettered; ingest resumes
each wearable's stored worn state; the running process and a clean stop save the alert core's state, and the next
start takes it up as it was when it is current, brings it up to date when rows were stored since (a crash), or
rebuilds. Embedded broker; SQLite, and TimescaleDB for the saved state and the registration."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Literal

import pytest
from pydantic import SecretStr

from alerts import checkpoint
from alerts.rules.early_warning import News2Rule
from carewatch.config import Settings, mqtt_endpoint
from carewatch.model import Batch, EventRow, ReadingRow
from carewatch.registry import apply_manifest
from carewatch.runtime import Endpoints, Platform
from carewatch.storage import open_store
from carewatch.storage.base import News2Escalation
from simulators.publisher import Publisher

SITE = "rt-site"
MANIFEST = {
    "sites": [{"site_id": SITE, "name": "Runtime station", "kind": "community_station"}],
    "residents": [{"resident_id": r, "site_id": SITE, "name": f"Resident {r}"} for r in ("r1", "r2")],
    "devices": [
        {"device_id": d, "site_id": SITE, "kind": "wearable", "resident_id": "r1"} for d in ("watch", "pendant")
    ],
}
WAIT_S = 30.0


def levels(platform: Platform, resident_id: str) -> tuple[int, int, bool]:
    """The NEWS2 levels the engine alerts at for one resident: (urgent from, emergency from, single 3 alerts)."""
    [escalations] = {rule.scorer.escalations for rule in platform.engine.rules if isinstance(rule, News2Rule)}
    p = platform.engine.index.position(resident_id)
    return int(escalations.urgent_from[p]), int(escalations.emergency_from[p]), bool(escalations.red_score[p])


async def refreshed(platform: Platform, resident_id: str, expected: tuple[int, int, bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while levels(platform, resident_id) != expected:
        assert time.monotonic() < deadline, f"{resident_id} still at {levels(platform, resident_id)}"
        await asyncio.sleep(0.05)


async def start_change_stop(settings: Settings) -> None:
    platform = Platform(settings)
    platform.store.init_schema()
    apply_manifest(platform.store, MANIFEST)
    platform.store.set_news2_escalation(News2Escalation("r1", 7, 9, False, "COPD, baseline 5", "dr:li", time.time()))
    await platform.start()
    try:
        assert levels(platform, "r1") == (7, 9, False) and levels(platform, "r2") == (5, 7, True)
        platform.store.set_news2_escalation(News2Escalation("r2", 6, 8, True, "COPD, baseline 4", "dr:li", time.time()))
        platform.store.delete_news2_escalation("r1", "dr:li", time.time())
        await refreshed(platform, "r2", (6, 8, True))
        await refreshed(platform, "r1", (5, 7, True))
    finally:
        await platform.stop()


def test_news2_escalations_are_applied_at_start_and_refreshed(tmp_path: Path) -> None:
    asyncio.run(start_change_stop(Settings(data_dir=tmp_path, http_port=0, registry_refresh_seconds=0.2)))


def send_pulses(mqtt_url: str, ts: float, devices: tuple[str, ...] = ("watch", "pendant")) -> None:
    host, port, username, password = mqtt_endpoint(mqtt_url)
    publisher = Publisher(host, port, f"rt-publisher-{time.monotonic_ns()}", username, password)
    body = {"ts": ts, "seq": 2, "readings": [{"metric": "hr", "value": 72, "unit": "bpm"}]}
    for device in devices:
        publisher.publish(f"carewatch/v1/{SITE}/{device}/vitals", json.dumps(body).encode())
    publisher.close()


async def restart_and_send_pulses(settings: Settings) -> dict[str, bool]:
    """Stored before a restart: r1's pendant said it is worn, then their watch that it is off the body (on its
    charger). After the restart each sends a pulse: device -> whether it was stored as an artefact."""
    now = time.time()
    platform = Platform(settings)
    platform.store.init_schema()
    apply_manifest(platform.store, MANIFEST)
    stored = [
        ReadingRow(now - 60, SITE, "pendant", "r1", "worn", 1.0, 1, False),
        ReadingRow(now - 30, SITE, "watch", "r1", "worn", 0.0, 1, False),
    ]
    platform.store.write_batch(Batch(readings=stored))
    endpoints = await platform.start()
    try:
        await asyncio.to_thread(send_pulses, endpoints.mqtt_url, now)  # off the loop: it runs the embedded broker
        deadline = time.monotonic() + WAIT_S
        while platform.store.count("readings") < len(stored) + 2:
            assert time.monotonic() < deadline, "the pulses were not stored"
            await asyncio.sleep(0.05)
        return {r.device_id: r.artefact for r in platform.store.replay_batch(now, now + 1, ["hr"]).readings}
    finally:
        await platform.stop()


def test_a_restart_resumes_each_wearables_worn_state(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, http_port=0)
    assert asyncio.run(restart_and_send_pulses(settings)) == {"watch": True, "pendant": False}


async def start_after_a_crash(settings: Settings, fell_at: float) -> list[tuple[str, str, float]]:
    """The process before committed a fall r1's watch reported, then died before alerting it. The live alerts once
    the start has settled: (resident, rule, opened at)."""
    platform = Platform(settings)
    platform.store.init_schema()
    apply_manifest(platform.store, MANIFEST)
    platform.store.write_batch(Batch(events=[EventRow(fell_at, SITE, "watch", "r1", "fall", 1.0, 1)]))
    await platform.start()
    try:
        assert platform.engine_start == "rebuilt"
        deadline = time.monotonic() + WAIT_S
        while not (alerts := platform.store.alerts(live_only=True)):
            assert time.monotonic() < deadline, "nothing alerted after the start"
            await asyncio.sleep(0.05)
        return [(a.resident_id, a.rule, a.opened_at) for a in alerts]
    finally:
        await platform.stop()


def test_a_fall_committed_but_not_alerted_before_a_crash_is_alerted_after_the_start(tmp_path: Path) -> None:
    fell_at = round(time.time() - 20, 3)
    live = asyncio.run(start_after_a_crash(Settings(data_dir=tmp_path, http_port=0), fell_at))
    assert live == [("r1", "fall", pytest.approx(fell_at, abs=1e-3))]


async def holds_ticks(settings: Settings) -> bool:
    platform = Platform(settings)
    await platform.start()
    try:
        return platform.catch_up is not None and platform.catch_up.waiting()
    finally:
        await platform.stop()


@pytest.mark.parametrize("clock", ["wall", "data"])
def test_the_first_ticks_wait_for_the_backlog_on_the_wall_clock_only(tmp_path: Path, clock: str) -> None:
    """On the wall clock a device whose queued messages are not read yet would look silent since the stop; on the
    data clock the ticks' now is the newest committed row, so they never run ahead of the backlog."""
    assert asyncio.run(holds_ticks(Settings(data_dir=tmp_path, http_port=0, clock=clock))) == (clock == "wall")


async def stop_start_and_store(settings: Settings, key: str) -> list[str]:
    """Starts, each after a clean stop: the first on an empty store; the second as it was left; the third after a row
    was stored meanwhile (by a standby worker, say); the fourth with another secret key. How each start after the
    first readied the alert core's state."""
    path = settings.alert_state_path
    platform = Platform(settings)
    platform.store.init_schema()
    apply_manifest(platform.store, MANIFEST)
    endpoints = await platform.start()
    assert platform.engine_start == "rebuilt"
    await asyncio.to_thread(send_pulses, endpoints.mqtt_url, time.time())
    deadline = time.monotonic() + WAIT_S
    while platform.store.count("readings") < 2:
        assert time.monotonic() < deadline, "the pulses were not stored"
        await asyncio.sleep(0.05)
    await platform.stop()
    assert path.exists()
    starts: list[str] = []
    for before in ("nothing", "a row stored", "another key"):
        if before == "a row stored":
            store = open_store(settings)
            store.write_batch(Batch(readings=[ReadingRow(time.time(), SITE, "watch", "r1", "hr", 70.0, 9, False)]))
            store.close()
        if before == "another key":
            settings = settings.model_copy(update={"secret_key": SecretStr(key)})
        platform = Platform(settings)
        endpoints = await platform.start()
        starts.append(platform.engine_start)
        for gauge in ("resumed", "recovered"):
            value = platform.metrics_registry.get_sample_value(f"carewatch_alert_core_{gauge}")
            assert value == (platform.engine_start == gauge), gauge
        if platform.catch_up is not None:  # the time-driven rules wait for a row from after the start
            assert platform.catch_up.waiting()
            await asyncio.to_thread(send_pulses, endpoints.mqtt_url, time.time())
            deadline = time.monotonic() + WAIT_S
            while platform.catch_up.waiting():
                assert time.monotonic() < deadline, "still catching up after the pulses"
                await asyncio.sleep(0.05)
        await platform.stop()
    return starts


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("timescaledb", marks=pytest.mark.services)])
def test_a_clean_stop_saves_the_alert_state_and_the_next_start_takes_it_up_if_current(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    database_url = request.getfixturevalue("pg_url") if backend == "timescaledb" else None
    settings = Settings(
        data_dir=tmp_path, database_url=database_url, http_port=0, secret_key=SecretStr("the deployment's own key")
    )
    assert asyncio.run(stop_start_and_store(settings, "a new key of the deployment's own")) == [
        "resumed",  # taken up as it was
        "recovered",  # a row stored since: replayed
        "rebuilt",  # signed with the old key: refused
    ]
    assert settings.alert_state_path.exists()  # the last stop saved it again


async def start_and_stop(settings: Settings) -> bool:
    """Whether the start took up a saved alert state."""
    platform = Platform(settings)
    await platform.start()
    await platform.stop()
    return platform.engine_start != "rebuilt"


def test_with_the_demos_known_secret_key_no_alert_state_is_saved_or_read(tmp_path: Path) -> None:
    """Anyone can sign with it: a stop saves nothing, and a start leaves a file found in the data directory unread."""
    demo = Settings(data_dir=tmp_path, http_port=0)
    asyncio.run(start_and_stop(demo))
    assert not demo.alert_state_path.exists()
    asyncio.run(start_and_stop(demo.model_copy(update={"secret_key": SecretStr("the deployment's own key")})))
    saved = demo.alert_state_path.read_bytes()
    assert asyncio.run(start_and_stop(demo)) is False
    assert demo.alert_state_path.read_bytes() == saved


async def started_with_pulses(settings: Settings) -> tuple[Platform, Endpoints]:
    """A platform started on the manifest, once its alert core has had a pulse of each of r1's wearables."""
    platform = Platform(settings)
    platform.store.init_schema()
    apply_manifest(platform.store, MANIFEST)
    endpoints = await platform.start()
    await asyncio.to_thread(send_pulses, endpoints.mqtt_url, time.time())
    deadline = time.monotonic() + WAIT_S
    while len(platform.engine.devices_seen()) < 2:
        assert time.monotonic() < deadline, "the pulses were not evaluated"
        await asyncio.sleep(0.05)
    return platform, endpoints


async def run_while_another_worker_stores(settings: Settings) -> tuple[str, bool]:
    """A row of this worker's watch stored by someone else while it runs (after its own pulses). How the next start
    readies the alert core's state, and whether it had the row then."""
    platform, _ = await started_with_pulses(settings)
    row = ReadingRow(time.time(), SITE, "watch", "r1", "hr", 70.0, 1, False)
    await asyncio.to_thread(platform.store.write_batch, Batch(readings=[row]))
    await platform.stop()
    platform = Platform(settings)
    await platform.start()
    try:
        return platform.engine_start, platform.engine.devices_seen().get("watch", 0.0) >= row.ts
    finally:
        await platform.stop()


def test_a_stop_whose_engine_missed_stored_rows_saves_a_state_the_next_start_brings_up_to_date(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, http_port=0, secret_key=SecretStr("the deployment's own key"))
    assert asyncio.run(run_while_another_worker_stores(settings)) == ("recovered", True)


async def run_save_and_crash(settings: Settings, fell_at: float) -> tuple[str, list[tuple[str, str, float]]]:
    """The process saves its alert state while running; after the save it commits a fall r1's watch reported and
    dies before alerting it (its stop's save is thrown away: the one taken up is the one saved while running). How
    the next start readies the state, and the live alerts once it has settled."""
    path = settings.alert_state_path
    platform, _ = await started_with_pulses(settings)
    await asyncio.sleep(settings.alert_state_interval_seconds * 3)  # a save since
    saved_while_running = path.read_bytes()
    fall = Batch(events=[EventRow(fell_at, SITE, "watch", "r1", "fall", 1.0, 3)])
    await asyncio.to_thread(platform.store.write_batch, fall)
    await platform.stop()
    path.write_bytes(saved_while_running)
    platform = Platform(settings)
    await platform.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while not (alerts := platform.store.alerts(live_only=True)):
            assert time.monotonic() < deadline, "nothing alerted after the start"
            await asyncio.sleep(0.05)
        return platform.engine_start, [(a.resident_id, a.rule, a.opened_at) for a in alerts]
    finally:
        await platform.stop()


def test_after_a_crash_the_state_saved_while_running_is_brought_up_to_date(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, http_port=0, secret_key=SecretStr("the deployment's own key"),
        alert_state_interval_seconds=0.2,
    )  # fmt: skip
    fell_at = round(time.time(), 3)
    start, alerts = asyncio.run(run_save_and_crash(settings, fell_at))
    assert (start, alerts) == ("recovered", [("r1", "fall", pytest.approx(fell_at, abs=1e-3))])


async def run_with_a_full_disk(settings: Settings) -> int:
    """Every save while running fails; pulses keep coming. The readings stored."""
    platform, endpoints = await started_with_pulses(settings)
    try:
        await asyncio.sleep(settings.alert_state_interval_seconds * 3)  # saves tried and failed meanwhile
        await asyncio.to_thread(send_pulses, endpoints.mqtt_url, time.time() + 1)
        deadline = time.monotonic() + WAIT_S
        while platform.store.count("readings") < 4:
            assert time.monotonic() < deadline, "ingest stopped after the failed saves"
            await asyncio.sleep(0.05)
        return platform.store.count("readings")
    finally:
        await platform.stop()


def test_a_save_that_fails_while_running_is_logged_and_ingest_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def disk_full(*args: object, **kwargs: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save", disk_full)
    settings = Settings(
        data_dir=tmp_path, http_port=0, secret_key=SecretStr("the deployment's own key"),
        alert_state_interval_seconds=0.1,
    )  # fmt: skip
    with caplog.at_level(logging.ERROR, "carewatch.runtime"):
        assert asyncio.run(run_with_a_full_disk(settings)) == 4
    assert "could not save the alert core's state" in caplog.text and "No space left" in caplog.text


NEW_WATCH = {"device_id": "new-watch", "site_id": SITE, "kind": "wearable", "resident_id": "r2"}
SEEN_WITHIN_S = 5.0  # a registry change reaches the running platform this soon (it was up to 30 s: a timed reread)


def stored_from(platform: Platform, device_id: str) -> int:
    return len(platform.store.replay_batch(0, time.time() + 60, ["hr"], devices=[device_id]).readings)


async def register_while_running_and_send(settings: Settings) -> tuple[int, int]:
    """A device registered while the platform runs, by another process (`carewatch registry load`, the API), sends
    its first message as soon as the platform knows it: (readings stored from it, dead letters)."""
    platform, endpoints = await started_with_pulses(settings)
    other = open_store(settings)
    try:
        await asyncio.to_thread(apply_manifest, other, {"devices": [NEW_WATCH]})
        deadline = time.monotonic() + SEEN_WITHIN_S
        while "new-watch" not in platform.registry.devices:
            assert time.monotonic() < deadline, (
                f"the new device was not known {SEEN_WITHIN_S:g} s after it was registered"
            )
            await asyncio.sleep(0.05)
        await asyncio.to_thread(send_pulses, endpoints.mqtt_url, time.time(), ("new-watch",))
        deadline = time.monotonic() + WAIT_S
        while not (stored := stored_from(platform, "new-watch")) and not platform.store.dead_letters():
            assert time.monotonic() < deadline, "its first message was neither stored nor dead-lettered"
            await asyncio.sleep(0.05)
        return stored, len(platform.store.dead_letters())
    finally:
        other.close()
        await platform.stop()


@pytest.mark.parametrize(("backend", "clock"), [("sqlite", "wall"), ("timescaledb", "wall"), ("sqlite", "data")])
def test_a_device_registered_while_running_is_known_within_seconds(
    tmp_path: Path, backend: str, clock: Literal["wall", "data"], request: pytest.FixtureRequest
) -> None:
    """Also on the data clock, whose ticks wait for data time to move: the registry follows the wall clock."""
    database = {"database_url": request.getfixturevalue("pg_url")} if backend == "timescaledb" else {}
    key = SecretStr("the deployment's own key")
    settings = Settings(data_dir=tmp_path, http_port=0, secret_key=key, clock=clock, **database)
    assert asyncio.run(register_while_running_and_send(settings)) == (1, 0)
