"""Fault tests on real services: the ingest process killed, PostgreSQL stopped, Mosquitto restarted, each under
load. Every published reading must end up stored exactly once: none lost, none twice."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support import Mosquitto, Postgres, ServeProcess, free_port

from carewatch.registry import apply_manifest
from carewatch.storage.timescale import TimescaleStore
from simulators.publisher import Publisher

pytestmark = pytest.mark.services

SITE = "fault-site"
DEVICES = 50
MESSAGES = 12_000  # x 2 readings; at RATE this is about 6 s of load
RATE = 2_000  # messages/s, paced: the faults land mid-stream
DRAIN_TIMEOUT_S = 90.0


def manifest() -> dict[str, Any]:
    return {
        "sites": [{"site_id": SITE, "name": "Fault test station", "kind": "care_institution"}],
        "residents": [{"resident_id": f"r{i}", "site_id": SITE, "name": f"R {i}"} for i in range(DEVICES)],
        "devices": [
            {"device_id": f"w{i}", "site_id": SITE, "kind": "wearable", "resident_id": f"r{i}"} for i in range(DEVICES)
        ],
    }


@pytest.fixture
def ingest(mosquitto: Mosquitto, pg_url: str, tmp_path: Path) -> Iterator[tuple[ServeProcess, str]]:
    store = TimescaleStore(pg_url)
    store.init_schema()
    apply_manifest(store, manifest())
    store.close()
    env = {
        **os.environ, "CAREWATCH_MQTT_URL": mosquitto.url, "CAREWATCH_DATABASE_URL": pg_url,
        "CAREWATCH_SECRET_KEY": "fault-test-secret-0123456789", "CAREWATCH_HTTP_PORT": str(free_port()),
        "CAREWATCH_MQTT_CLIENT_ID": f"ingest-{tmp_path.name}",
    }  # fmt: skip
    process = ServeProcess(env, tmp_path)
    process.start()
    yield process, pg_url
    process.stop()


def publish_load(mosquitto: Mosquitto, fault_at: int, fault: Callable[[], None]) -> None:
    """Publish MESSAGES vitals messages at RATE, calling `fault` once after `fault_at` of them."""
    publisher = Publisher("127.0.0.1", mosquitto.port, f"fault-publisher-{time.monotonic_ns()}")
    base = time.time() - 3600
    started = time.monotonic()
    for i in range(MESSAGES):
        device, seq = i % DEVICES, i // DEVICES
        ts = base + seq * 0.5
        body = {
            "ts": ts,
            "seq": seq,
            "readings": [
                {"metric": "hr", "value": 60 + seq % 30, "unit": "bpm"},
                {"metric": "spo2", "value": 97, "unit": "%"},
            ],
        }
        publisher.publish(f"carewatch/v1/{SITE}/w{device}/vitals", json.dumps(body).encode())
        if i == fault_at:
            fault()
        ahead = started + i / RATE - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    publisher.close()


def wait_for_all_readings(pg_url: str) -> tuple[int, int]:
    expected = 2 * MESSAGES
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while True:
        try:
            with psycopg.connect(pg_url, connect_timeout=2) as conn:
                total, distinct = conn.execute(
                    "SELECT count(*), count(DISTINCT (device_id, metric, time)) FROM readings"
                ).fetchone()  # type: ignore[misc]
        except psycopg.OperationalError:
            total = distinct = -1
        if total >= expected or time.monotonic() > deadline:
            return total, distinct
        time.sleep(0.25)


def test_ingest_killed_mid_stream_loses_nothing(ingest: tuple[ServeProcess, str], mosquitto: Mosquitto) -> None:
    process, pg_url = ingest

    def kill_and_restart() -> None:
        process.kill()
        threading.Timer(1.0, process.start).start()

    publish_load(mosquitto, MESSAGES // 3, kill_and_restart)
    assert wait_for_all_readings(pg_url) == (2 * MESSAGES, 2 * MESSAGES)


def test_database_stopped_for_10_s_loses_nothing(
    ingest: tuple[ServeProcess, str], mosquitto: Mosquitto, postgres: Postgres
) -> None:
    _, pg_url = ingest

    def stop_database() -> None:
        postgres.stop()
        threading.Timer(10.0, postgres.start).start()

    publish_load(mosquitto, MESSAGES // 3, stop_database)
    assert wait_for_all_readings(pg_url) == (2 * MESSAGES, 2 * MESSAGES)


def test_broker_restarted_under_load_loses_nothing(ingest: tuple[ServeProcess, str], mosquitto: Mosquitto) -> None:
    _, pg_url = ingest

    def restart_broker() -> None:
        mosquitto.stop()  # a clean stop: mosquitto saves its persistent sessions
        mosquitto.start()

    publish_load(mosquitto, MESSAGES // 3, restart_broker)
    assert wait_for_all_readings(pg_url) == (2 * MESSAGES, 2 * MESSAGES)
