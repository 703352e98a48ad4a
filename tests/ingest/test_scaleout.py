"""Scale-out on a real Mosquitto and TimescaleDB: two `carewatch serve` workers, each owning the sites of its
partition, share the load. Every reading is stored exactly once, and each worker received only its own sites."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support import Mosquitto, ServeProcess, free_port

from carewatch.registry import apply_manifest
from carewatch.storage.timescale import TimescaleStore
from ingest.partition import partition_of
from simulators.publisher import Publisher

pytestmark = pytest.mark.services

SITES = [f"site-{i}" for i in range(8)]
DEVICES_PER_SITE = 5
MESSAGES_PER_DEVICE = 60
WORKERS = 2
DRAIN_TIMEOUT_S = 60.0


def manifest() -> dict[str, Any]:
    devices = [(site, f"{site}-w{d}") for site in SITES for d in range(DEVICES_PER_SITE)]
    return {
        "sites": [{"site_id": s, "name": s, "kind": "care_institution"} for s in SITES],
        "residents": [{"resident_id": f"r-{dev}", "site_id": site, "name": dev} for site, dev in devices],
        "devices": [
            {"device_id": dev, "site_id": site, "kind": "wearable", "resident_id": f"r-{dev}"} for site, dev in devices
        ],
    }


@pytest.fixture
def workers(mosquitto: Mosquitto, pg_url: str, tmp_path: Path) -> Iterator[list[tuple[ServeProcess, int]]]:
    store = TimescaleStore(pg_url)
    store.init_schema()
    apply_manifest(store, manifest())
    store.close()
    started = []
    try:
        for k in range(WORKERS):
            port = free_port()
            env = {
                **os.environ, "CAREWATCH_MQTT_URL": mosquitto.url, "CAREWATCH_DATABASE_URL": pg_url,
                "CAREWATCH_SECRET_KEY": "scaleout-secret-0123456789", "CAREWATCH_HTTP_PORT": str(port),
                "CAREWATCH_MQTT_CLIENT_ID": f"worker-{k}-{tmp_path.name}", "CAREWATCH_PARTITIONS": str(WORKERS),
                "CAREWATCH_PARTITION": str(k), "CAREWATCH_MQTT_SHARE_GROUP": f"g-{tmp_path.name}",
            }  # fmt: skip
            worker = ServeProcess(env, tmp_path)
            worker.start()
            started.append((worker, port))
        yield started
    finally:
        for worker, _ in started:
            worker.stop()


def received(port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    match = re.search(r"^carewatch_ingest_messages_received_total (\S+)$", text, re.MULTILINE)
    assert match, text[:500]
    return float(match.group(1))


def test_two_workers_split_sites_and_store_everything_once(
    workers: list[tuple[ServeProcess, int]], mosquitto: Mosquitto, pg_url: str
) -> None:
    publisher = Publisher("127.0.0.1", mosquitto.port, "scaleout-publisher")
    base = time.time() - 600
    for seq in range(MESSAGES_PER_DEVICE):
        for site in SITES:
            for d in range(DEVICES_PER_SITE):
                body = {"ts": base + seq, "seq": seq, "readings": [{"metric": "hr", "value": 70, "unit": "bpm"}]}
                publisher.publish(f"carewatch/v1/{site}/{site}-w{d}/vitals", json.dumps(body).encode())
    publisher.close()
    expected = len(SITES) * DEVICES_PER_SITE * MESSAGES_PER_DEVICE
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    with psycopg.connect(pg_url) as conn:
        while True:
            total, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT (device_id, time)) FROM readings"
            ).fetchone()  # type: ignore[misc]
            if total >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert (total, distinct) == (expected, expected)
    for k, (_, port) in enumerate(workers):
        own_sites = sum(1 for s in SITES if partition_of(s, WORKERS) == k)
        assert own_sites > 0, "the site names should spread over both partitions"
        assert received(port) == own_sites * DEVICES_PER_SITE * MESSAGES_PER_DEVICE
