"""The whole data path, end to end: an MQTT client publishes readings -> ingest -> storage -> alert core -> stored
alert -> websocket. Once on real services (Mosquitto, TimescaleDB), once on the embedded defaults (amqtt, SQLite)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from websockets.asyncio.client import connect

from carewatch.config import Settings
from carewatch.runtime import Platform
from carewatch.storage.base import Role, Store, User
from dashboard.auth import hash_password

SITE = "e2e-site"
RESIDENTS = ("r1", "r2", "r3")
WAIT_S = 30.0
# Two vital signs every 5 s for 2 minutes from each wearable (r3 has two), and the worn readings of r3's two.
READINGS = 2 * 24 * (len(RESIDENTS) + 1) + 2
OPERATOR_PASSWORD = "e2e operator password"
MANIFEST: dict[str, Any] = {
    "sites": [{"site_id": SITE, "name": "End-to-end station", "kind": "community_station"}],
    "residents": [{"resident_id": r, "site_id": SITE, "name": f"Resident {r}"} for r in RESIDENTS],
    "devices": [
        *({"device_id": f"w-{r}", "site_id": SITE, "kind": "wearable", "resident_id": r} for r in RESIDENTS),
        {"device_id": "p-r3", "site_id": SITE, "kind": "wearable", "resident_id": "r3"},  # r3's pendant
    ],
}
ALERTS = [("r1", "spo2_low", "open"), ("r3", "spo2_low", "open")]


def vitals_messages(now: float) -> list[tuple[str, bytes]]:
    """Two minutes of vitals every 5 s; r1's SpO2 drops to 85 % after 30 s and stays there. r3's watch said (last)
    that it is off the body: its vital signs are stored as artefacts; r3's pendant, worn, measures a pulse of 80
    and SpO2 85 %, which count."""
    messages = []
    for device, worn, at in (("p-r3", 1, now - 126), ("w-r3", 0, now - 125)):
        status = {"ts": at, "seq": 0, "readings": [{"metric": "worn", "value": worn, "unit": "1"}]}
        messages.append((f"carewatch/v1/{SITE}/{device}/status", json.dumps(status).encode()))
    for device, resident in (*((f"w-{r}", r) for r in RESIDENTS), ("p-r3", "r3")):
        for step in range(24):
            ts = now - 120 + 5 * step
            spo2 = 85 if (resident == "r1" and step >= 6) or device == "p-r3" else 97
            body = {
                "ts": ts,
                "seq": step,
                "readings": [
                    {"metric": "spo2", "value": spo2, "unit": "%"},
                    {"metric": "hr", "value": 80 if device == "p-r3" else 72, "unit": "bpm"},
                ],
            }
            messages.append((f"carewatch/v1/{SITE}/{device}/vitals", json.dumps(body).encode()))
    messages.append((f"carewatch/v1/{SITE}/stranger/vitals", b'{"ts": 1, "seq": 1, "readings": []}'))
    return messages


def publish(host: str, port: int, messages: list[tuple[str, bytes]]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="e2e-device")
    client.connect(host, port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


async def wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def log_in(platform: Platform, dashboard_url: str) -> str:
    """The websocket needs a session: an operator of the site logs in."""
    operator = User("e2e-operator", "End-to-end operator", Role.OPERATOR, site_ids=(SITE,))
    platform.store.save_user(operator, hash_password(OPERATOR_PASSWORD))
    response = httpx.post(
        dashboard_url + "api/auth/login", json={"username": operator.username, "password": OPERATOR_PASSWORD}
    )
    response.raise_for_status()
    return str(response.json()["token"])


async def run_path(settings: Settings) -> tuple[Platform, list[dict[str, Any]]]:
    platform = Platform(settings)
    endpoints = await platform.start()
    try:
        platform.register(MANIFEST)
        token = await asyncio.to_thread(log_in, platform, endpoints.dashboard_url)
        ws_url = endpoints.dashboard_url.replace("http://", "ws://") + f"ws?token={token}"
        async with connect(ws_url) as socket:
            snapshot = json.loads(await socket.recv())
            assert snapshot["type"] == "snapshot" and len(snapshot["residents"]) == len(RESIDENTS)
            host, port = endpoints.mqtt_url.removeprefix("mqtt://").split(":")
            await asyncio.to_thread(publish, host, int(port), vitals_messages(time.time()))
            await wait_until(lambda: platform.store.count("readings") == READINGS, "all readings")
            await wait_until(lambda: platform.store.count("dead_letters") == 1, "the dead letter")
            await asyncio.to_thread(check_history, platform.store)
            headers = {"Authorization": f"Bearer {token}"}
            system = await asyncio.to_thread(httpx.get, endpoints.dashboard_url + "api/system", headers=headers)
            assert system.json()["ingest"]["readings_sensor_off"] == 2 * 24  # r3's watch's pulse and SpO2
            assert system.json()["alert_core_resumed"] is False and system.json()["alert_core_start_seconds"] > 0
            received = []
            while len([m for m in received if m["type"] == "alert"]) < len(ALERTS):
                received.append(json.loads(await asyncio.wait_for(socket.recv(), WAIT_S)))
        return platform, [m["alert"] for m in received if m["type"] == "alert"]
    finally:
        await platform.stop()


def check_alerts(platform: Platform, pushed: list[dict[str, Any]]) -> None:
    assert sorted((a["resident_id"], a["rule"], a["state"]) for a in pushed) == ALERTS


def check_history(store: Store) -> None:
    """History leaves out the vital signs r3's watch sent off the body, and keeps their pendant's."""
    assert [value for _, value in store.readings("r3", "hr", 0.0, time.time() + 60)] == [80.0] * 24
    assert len(store.readings("r2", "hr", 0.0, time.time() + 60)) == 24
    assert store.latest_readings()["r3"].keys() == {"worn", "hr", "spo2"}


@pytest.mark.services
def test_real_mosquitto_and_timescaledb(mosquitto: Any, pg_url: str, tmp_path: Path) -> None:
    settings = Settings(
        mqtt_url=mosquitto.url, database_url=pg_url, data_dir=tmp_path, http_port=0,
        secret_key="e2e-secret-key-0123456789",
    )  # fmt: skip
    platform, pushed = asyncio.run(run_path(settings))
    check_alerts(platform, pushed)
    with psycopg.connect(pg_url) as conn:
        hypertables = {r[0] for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")}
        assert {"readings", "events", "accel"} <= hypertables
        assert conn.execute("SELECT count(*) FROM readings WHERE resident_id = 'r1' AND value = 85").fetchone() == (18,)
        flagged = "SELECT metric, count(*) FROM readings WHERE resident_id = 'r3' AND artefact GROUP BY 1 ORDER BY 1"
        assert conn.execute(flagged).fetchall() == [("hr", 24), ("spo2", 24)]
        alerts = conn.execute("SELECT resident_id, rule, state FROM alerts ORDER BY resident_id").fetchall()
        assert alerts == ALERTS
        reason = conn.execute("SELECT reason FROM dead_letters").fetchone()
        assert reason == ("unknown_device",)


def test_embedded_broker_and_sqlite(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, http_port=0)
    platform, pushed = asyncio.run(run_path(settings))
    check_alerts(platform, pushed)
    from carewatch.storage.sqlite import SqliteStore

    store = SqliteStore(settings.sqlite_path)
    try:
        assert sorted((a.resident_id, a.rule) for a in store.alerts()) == [("r1", "spo2_low"), ("r3", "spo2_low")]
        assert store.count("readings") == READINGS
    finally:
        store.close()
