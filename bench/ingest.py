"""Ingest benchmarks on real services (Mosquitto, TimescaleDB), each comparing two things in one run.

    python -m bench.ingest write        # our batch write (COPY -> staging -> INSERT ON CONFLICT) vs executemany
    python -m bench.ingest load -r 2500 -r 5000 -r 10000 --seconds 30
                                         # the standard load model through `carewatch serve`, vs a bare subscriber

The standard load model (shared/MQTT.md), per resident: a vitals message every 5 s (4 readings), an accelerometer
message every second (25 samples at 25 Hz), a home-sensor event every 20 s. Publisher, broker, carewatch and
PostgreSQL share this machine's cores, as they would on a one-machine deployment.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from bench.services import free_port, mosquitto, postgres
from carewatch.model import Batch, ReadingRow
from carewatch.registry import apply_manifest
from carewatch.storage.timescale import TimescaleStore
from simulators.publisher import Publisher

BATCH_ROWS = 10_000
WRITE_BATCHES = 20
DRAIN_TIMEOUT_S = 120.0
SECRET = "bench-secret-0123456789abcdef"


# write: the storage strategies ---------------------------------------------------------------------------------


def bench_write() -> None:
    with postgres() as server:
        url = server.create_database()
        store = TimescaleStore(url)
        store.init_schema()
        apply_manifest(store, manifest(1000))
        base = time.time() - 86_400
        batches = [
            [ReadingRow(base + b * 10 + i * 1e-4, "bench-0", f"w{i % 1000}", f"r{i % 1000}", "hr", 70.0, b, False)
             for i in range(BATCH_ROWS)]
            for b in range(WRITE_BATCHES)
        ]  # fmt: skip
        ours = timed(lambda rows: store.write_batch(Batch(readings=rows)), batches)
        store.close()
        with psycopg.connect(url) as conn:
            conn.execute("TRUNCATE readings")
            conn.commit()

            def executemany(rows: list[ReadingRow]) -> None:
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO readings (time, site_id, device_id, resident_id, metric, value, seq, artefact)"
                        " VALUES (to_timestamp(%s), %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        rows,
                    )
                conn.commit()

            theirs = timed(executemany, batches)
    print(f"batch write, {WRITE_BATCHES} x {BATCH_ROWS} rows, dedupe on (device, metric, time):")
    print(f"  COPY -> staging -> INSERT ON CONFLICT   {ours:10,.0f} rows/s")
    print(f"  executemany INSERT ON CONFLICT          {theirs:10,.0f} rows/s")
    print(f"  ratio                                   {ours / theirs:10.1f} x")


def timed(write: Any, batches: list[list[ReadingRow]]) -> float:
    started = time.perf_counter()
    for rows in batches:
        write(rows)
    return WRITE_BATCHES * BATCH_ROWS / (time.perf_counter() - started)


# load: the standard load model end to end ----------------------------------------------------------------------


def manifest(residents: int, sites: int = 10) -> dict[str, Any]:
    site_ids = [f"bench-{s}" for s in range(sites)]
    return {
        "sites": [{"site_id": s, "name": s, "kind": "care_institution"} for s in site_ids],
        "residents": [
            {"resident_id": f"r{i}", "site_id": site_ids[i % sites], "name": f"R{i}"} for i in range(residents)
        ],
        "devices": [
            *({"device_id": f"w{i}", "site_id": site_ids[i % sites], "kind": "wearable", "resident_id": f"r{i}"}
              for i in range(residents)),
            *({"device_id": f"m{i}", "site_id": site_ids[i % sites], "kind": "motion", "resident_id": f"r{i}"}
              for i in range(residents)),
        ],
    }  # fmt: skip


def load_messages(residents: int, second: int, base: float) -> list[tuple[str, bytes]]:
    """One second of the standard load model."""
    rng = np.random.default_rng(second)
    out = []
    upright = np.array([0.0, -1.0, 0.0])
    accel = np.round(rng.normal(0, 0.02, (25, 3)) + upright, 3).T.tolist()
    for i in range(residents):
        site = f"bench-{i % 10}"
        ts = base + second + (i % 1000) / 1000
        out.append((f"carewatch/v1/{site}/w{i}/motion", json.dumps(
            {"ts": ts, "seq": second, "rate_hz": 25, "unit": "g", "x": accel[0], "y": accel[1], "z": accel[2]}
        ).encode()))  # fmt: skip
        if (i + second) % 5 == 0:
            readings = [
                {"metric": "hr", "value": 72, "unit": "bpm"},
                {"metric": "spo2", "value": 97, "unit": "%"},
                {"metric": "rr", "value": 16, "unit": "/min"},
                {"metric": "temp", "value": 36.6, "unit": "Cel"},
            ]
            out.append((f"carewatch/v1/{site}/w{i}/vitals",
                        json.dumps({"ts": ts, "seq": second, "readings": readings}).encode()))  # fmt: skip
        if (i + second) % 20 == 0:
            out.append((f"carewatch/v1/{site}/m{i}/event", json.dumps(
                {"ts": ts, "seq": second, "events": [{"kind": "motion", "value": 1}]}).encode()))  # fmt: skip
    return out


def publish_paced(port: int, residents: int, seconds: int, base: float) -> tuple[int, float]:
    """Publish `seconds` of load in real time; returns (messages, achieved seconds)."""
    publisher = Publisher("127.0.0.1", port, f"bench-publisher-{time.monotonic_ns()}", max_in_flight=5000)
    started = time.monotonic()
    sent = 0
    for second in range(seconds):
        for topic, payload in load_messages(residents, second, base):
            publisher.publish(topic, payload)
            sent += 1
        ahead = started + second + 1 - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    publisher.close()
    return sent, time.monotonic() - started


def bare_subscriber_rate(port: int, residents: int, seconds: int) -> float:
    """Messages/s a paho subscriber that only counts receives, at QoS 1, under the same publisher."""
    received = [0]
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare")
    client.on_message = lambda *_: received.__setitem__(0, received[0] + 1)
    client.on_connect = lambda c, *_: c.subscribe("carewatch/v1/+/+/+", qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    time.sleep(0.5)
    sent, _ = publish_paced(port, residents, seconds, time.time())
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    started = time.monotonic()
    while received[0] < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    client.disconnect()
    client.loop_stop()
    return received[0] / (seconds + time.monotonic() - started)


def carewatch_run(broker_port: int, url: str, residents: int, seconds: int) -> dict[str, Any]:
    store = TimescaleStore(url)
    store.init_schema()
    apply_manifest(store, manifest(residents))
    store.close()
    env = {**os.environ, "CAREWATCH_MQTT_URL": f"mqtt://127.0.0.1:{broker_port}", "CAREWATCH_DATABASE_URL": url,
           "CAREWATCH_SECRET_KEY": SECRET, "CAREWATCH_HTTP_PORT": str(free_port()),
           "CAREWATCH_MQTT_CLIENT_ID": f"bench-ingest-{residents}"}  # fmt: skip
    log = Path(tempfile.mkdtemp(prefix="carewatch-bench-")) / "serve.log"
    with log.open("w") as out:  # a file, not a pipe: reading a pipe here would take CPU from the publisher
        proc = subprocess.Popen([sys.executable, "-m", "carewatch", "serve"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 30
    while "carewatch serving" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("carewatch serve did not start:\n" + log.read_text())
        time.sleep(0.1)
    try:
        base = time.time()  # live: the readings are stamped as they are sent (device-offline rules watch this)
        sent, took = publish_paced(broker_port, residents, seconds, base)
        published_at = time.monotonic()
        expected = expected_rows(residents, seconds)
        lags = []
        with psycopg.connect(url) as conn:
            while time.monotonic() - published_at < DRAIN_TIMEOUT_S:
                stored = sum(
                    conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                    for t in ("readings", "events", "accel")
                )
                if stored >= expected:
                    break
                time.sleep(0.2)
            lags.append(time.monotonic() - published_at)
        with psycopg.connect(url) as conn:
            alerts = dict(conn.execute("SELECT rule, count(*) FROM alerts GROUP BY rule ORDER BY 2 DESC").fetchall())
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print(f"  (carewatch serve wrote {len(log.read_text().splitlines())} log lines: {log})")
    return {"messages": sent, "publish_s": took, "expected": expected, "stored": stored, "drain_s": lags[-1],
            "alerts": alerts}  # fmt: skip


def expected_rows(residents: int, seconds: int) -> int:
    vitals = sum(1 for i in range(residents) for s in range(seconds) if (i + s) % 5 == 0)
    events = sum(1 for i in range(residents) for s in range(seconds) if (i + s) % 20 == 0)
    return residents * seconds + 4 * vitals + events


def bench_load(residents: list[int], seconds: int) -> None:
    with mosquitto() as broker, postgres() as server:
        print(f"standard load model, {seconds} s of load, real time (publisher, broker, carewatch, PostgreSQL on"
              f" {os.cpu_count()} cores)")  # fmt: skip
        for count in residents:
            bare = bare_subscriber_rate(broker.port, count, min(seconds, 10))
            result = carewatch_run(broker.port, server.create_database(), count, seconds)
            offered = result["messages"] / seconds
            achieved = result["messages"] / (result["publish_s"] + result["drain_s"])
            published = result["messages"] / result["publish_s"]
            print(
                f"\n{count:6} residents: offered {offered:8,.0f} msg/s ({result['expected'] / seconds:,.0f} rows/s),"
                f" the publisher managed {published:,.0f} msg/s"
            )
            print(
                f"  stored {result['stored']:,}/{result['expected']:,} rows"
                f" ({'none lost' if result['stored'] == result['expected'] else 'LOST'}),"
                f" drained {result['drain_s']:.1f} s after the last publish"
            )
            print(
                f"  carewatch end to end {achieved:8,.0f} msg/s; bare paho subscriber {bare:8,.0f} msg/s;"
                f" ratio {achieved / bare:.2f}"
            )
            print(f"  alerts raised (the load is of healthy residents): {result['alerts'] or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("write")
    load = sub.add_parser("load")
    load.add_argument("-r", "--residents", type=int, action="append", help="resident counts (repeat)")
    load.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    if args.what == "write":
        bench_write()
    else:
        bench_load(args.residents or [2500], args.seconds)


if __name__ == "__main__":
    main()
