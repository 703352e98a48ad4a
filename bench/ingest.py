"""Ingest benchmarks on real services (Mosquitto, TimescaleDB), each comparing two things in one run.

    python -m bench.ingest write        # our batch write (COPY -> staging -> INSERT ON CONFLICT) vs executemany
    python -m bench.ingest load -r 2500 -r 5000 -r 10000 --seconds 30
                                         # the standard load model through `carewatch serve`, vs a bare subscriber
    python -m bench.ingest batched -r 4000 --seconds 30
                                         # 50-sample accelerometer blocks: readings/s committed, vs a bare subscriber
    python -m bench.ingest load -r 10000 --workers 2
                                         # two workers, one per partition of the sites (docs/deploy.md)

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
import threading
import time
from dataclasses import dataclass
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

PROBE_DEVICE = "probe"  # a wearable of its own whose messages carry their send time
PROBE_EVERY_S = 0.2
POLL_EVERY_S = 0.02  # how often the database is asked for new probe rows: the latency's resolution
SUSTAINED_DRAIN_S = 2.0  # a load is sustained when its last reading is stored within this of the last publish
SITES = 100  # care homes of 100 residents at 10,000; workers split them 48/52 (crc32 partitions)


def manifest(residents: int, sites: int = SITES) -> dict[str, Any]:
    site_ids = [f"bench-{s}" for s in range(sites)]
    return {
        "sites": [{"site_id": s, "name": s, "kind": "care_institution"} for s in site_ids],
        "residents": [
            *({"resident_id": f"r{i}", "site_id": site_ids[i % sites], "name": f"R{i}"} for i in range(residents)),
            {"resident_id": "r-probe", "site_id": site_ids[0], "name": "Probe"},
        ],
        "devices": [
            *({"device_id": f"w{i}", "site_id": site_ids[i % sites], "kind": "wearable", "resident_id": f"r{i}"}
              for i in range(residents)),
            *({"device_id": f"m{i}", "site_id": site_ids[i % sites], "kind": "motion", "resident_id": f"r{i}"}
              for i in range(residents)),
            {"device_id": PROBE_DEVICE, "site_id": site_ids[0], "kind": "wearable", "resident_id": "r-probe"},
        ],
    }  # fmt: skip


@dataclass(frozen=True, slots=True)
class LoadModel:
    """What every resident sends each second: an accelerometer block of ``samples`` samples (at ``samples`` Hz),
    and, unless ``batched``, a vitals message every 5 s and a home-sensor event every 20 s."""

    name: str
    samples: int = 25
    batched: bool = False

    def messages(self, residents: int, second: int, base: float) -> list[tuple[str, bytes]]:
        rng = np.random.default_rng(second)
        upright = np.array([0.0, -1.0, 0.0])
        accel = np.round(rng.normal(0, 0.02, (self.samples, 3)) + upright, 3).T.tolist()
        out = []
        for i in range(residents):
            site = f"bench-{i % SITES}"
            ts = base + second + (i % 1000) / 1000
            out.append((f"carewatch/v1/{site}/w{i}/motion", json.dumps(
                {"ts": ts, "seq": second, "rate_hz": self.samples, "unit": "g", "x": accel[0], "y": accel[1],
                 "z": accel[2]}).encode()))  # fmt: skip
            if self.batched:
                continue
            if (i + second) % 5 == 0:
                out.append((f"carewatch/v1/{site}/w{i}/vitals", vitals(ts, second)))
            if (i + second) % 20 == 0:
                out.append((f"carewatch/v1/{site}/m{i}/event", json.dumps(
                    {"ts": ts, "seq": second, "events": [{"kind": "motion", "value": 1}]}).encode()))  # fmt: skip
        return out

    def expected_rows(self, residents: int, seconds: int) -> int:
        """Rows stored: one per accelerometer block, vitals reading and event."""
        if self.batched:
            return residents * seconds
        vitals = sum(1 for i in range(residents) for s in range(seconds) if (i + s) % 5 == 0)
        events = sum(1 for i in range(residents) for s in range(seconds) if (i + s) % 20 == 0)
        return residents * seconds + 4 * vitals + events

    def readings(self, residents: int, seconds: int) -> int:
        """Readings in those rows, counting every accelerometer sample (shared/MQTT.md counts the same way)."""
        return self.expected_rows(residents, seconds) + (self.samples - 1) * residents * seconds


STANDARD = LoadModel("standard load model")
BATCHED = LoadModel("batched payloads: a 50-sample accelerometer block per resident per second", 50, batched=True)


def vitals(ts: float, seq: int) -> bytes:
    readings = [
        {"metric": "hr", "value": 72, "unit": "bpm"},
        {"metric": "spo2", "value": 97, "unit": "%"},
        {"metric": "rr", "value": 16, "unit": "/min"},
        {"metric": "temp", "value": 36.6, "unit": "Cel"},
    ]
    return json.dumps({"ts": ts, "seq": seq, "readings": readings}).encode()


def publish_paced(port: int, model: LoadModel, residents: int, seconds: int, base: float) -> tuple[int, float]:
    """Publish `seconds` of load in real time; returns (messages, achieved seconds)."""
    publisher = Publisher("127.0.0.1", port, f"bench-publisher-{time.monotonic_ns()}", max_in_flight=5000)
    started = time.monotonic()
    sent = 0
    for second in range(seconds):
        for topic, payload in model.messages(residents, second, base):
            publisher.publish(topic, payload)
            sent += 1
        ahead = started + second + 1 - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    publisher.close()
    return sent, time.monotonic() - started


def bare_subscriber_rate(port: int, model: LoadModel, residents: int, seconds: int) -> float:
    """Messages/s a paho subscriber that only counts receives, at QoS 1, under the same publisher."""
    received = [0]
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare")
    client.on_message = lambda *_: received.__setitem__(0, received[0] + 1)
    client.on_connect = lambda c, *_: c.subscribe("carewatch/v1/+/+/+", qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    time.sleep(0.5)
    sent, _ = publish_paced(port, model, residents, seconds, time.time())
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    started = time.monotonic()
    while received[0] < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    client.disconnect()
    client.loop_stop()
    return received[0] / (seconds + time.monotonic() - started)


class LatencyProbe:
    """Publish -> commit latency: a probe wearable publishes a vitals message stamped with its send time every
    PROBE_EVERY_S, and a poller notes when each appears in the database (resolution POLL_EVERY_S)."""

    def __init__(self, port: int, url: str) -> None:
        self._port, self._url = port, url
        self._stop = threading.Event()
        self.latencies_s: list[float] = []
        self.sent = 0
        self._threads = [threading.Thread(target=self._publish), threading.Thread(target=self._poll)]

    def __enter__(self) -> LatencyProbe:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _publish(self) -> None:
        publisher = Publisher("127.0.0.1", self._port, f"bench-probe-{time.monotonic_ns()}", max_in_flight=100)
        while not self._stop.wait(PROBE_EVERY_S):
            publisher.publish(f"carewatch/v1/bench-0/{PROBE_DEVICE}/vitals", vitals(time.time(), self.sent))
            self.sent += 1
        publisher.close()

    def _poll(self) -> None:
        seen = 0.0
        with psycopg.connect(self._url, autocommit=True) as conn:
            while not self._stop.wait(POLL_EVERY_S):
                rows = conn.execute(
                    "SELECT DISTINCT extract(epoch FROM time)::float8 FROM readings WHERE device_id = %s"
                    " AND time > to_timestamp(%s)", (PROBE_DEVICE, seen),
                ).fetchall()  # fmt: skip
                now = time.time()
                for (sent_at,) in rows:
                    self.latencies_s.append(now - sent_at)
                    seen = max(seen, sent_at)


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_s: float  # user + system
    peak_rss_bytes: int


def usage(pid: int) -> Usage:
    """A process's CPU time and peak resident memory, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    return Usage(cpu_s, peak_kib * 1024)


@dataclass(frozen=True, slots=True)
class LoadResult:
    messages: int
    publish_s: float
    expected: int
    stored: int
    drain_s: float
    cpu_s: float
    peak_rss_bytes: int
    latencies_s: list[float]
    alerts: dict[str, int]


def stored_rows(conn: psycopg.Connection[Any]) -> int:
    """Rows of the load (the probe's excluded)."""
    counts = [
        conn.execute(f"SELECT count(*) FROM {t} WHERE device_id <> %s", (PROBE_DEVICE,)).fetchone()
        for t in ("readings", "events", "accel")
    ]
    return sum(c[0] for c in counts if c is not None)


def start_workers(broker_port: int, url: str, workers: int, tag: str) -> list[tuple[subprocess.Popen[bytes], Path]]:
    """``workers`` carewatch serve processes, one per partition (docs/deploy.md, "Several workers"), started."""
    started = []
    for k in range(workers):
        env = {**os.environ, "CAREWATCH_MQTT_URL": f"mqtt://127.0.0.1:{broker_port}", "CAREWATCH_DATABASE_URL": url,
               "CAREWATCH_SECRET_KEY": SECRET, "CAREWATCH_HTTP_PORT": str(free_port()),
               "CAREWATCH_MQTT_CLIENT_ID": f"bench-ingest-{tag}-{k}", "CAREWATCH_PARTITIONS": str(workers),
               "CAREWATCH_PARTITION": str(k)}  # fmt: skip
        log = Path(tempfile.mkdtemp(prefix="carewatch-bench-")) / "serve.log"
        env["CAREWATCH_DATA_DIR"] = str(log.parent / "data")  # the alert state its stop saves
        with log.open("w") as out:  # a file, not a pipe: reading a pipe here would take CPU from the publisher
            proc = subprocess.Popen([sys.executable, "-m", "carewatch", "serve"], env=env, stdout=out,
                                    stderr=subprocess.STDOUT)  # fmt: skip
        started.append((proc, log))
    deadline = time.monotonic() + 30
    for proc, log in started:
        while "carewatch serving" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_workers(started)
                raise SystemExit("carewatch serve did not start:\n" + log.read_text())
            time.sleep(0.1)
    return started


def stop_workers(started: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    for proc, _ in started:
        proc.terminate()
    for proc, log in started:
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        print(f"  (carewatch serve wrote {len(log.read_text().splitlines())} log lines: {log})")


def total_usage(started: list[tuple[subprocess.Popen[bytes], Path]]) -> Usage:
    each = [usage(proc.pid) for proc, _ in started]
    return Usage(sum(u.cpu_s for u in each), sum(u.peak_rss_bytes for u in each))


def carewatch_run(
    broker_port: int, url: str, model: LoadModel, residents: int, seconds: int, workers: int
) -> LoadResult:
    store = TimescaleStore(url)
    store.init_schema()
    apply_manifest(store, manifest(residents))
    store.close()
    started = start_workers(broker_port, url, workers, f"{residents}")
    try:
        before = total_usage(started)
        expected = model.expected_rows(residents, seconds)
        with LatencyProbe(broker_port, url) as probe:
            base = time.time()  # live: the readings are stamped as they are sent (device-offline rules watch this)
            sent, took = publish_paced(broker_port, model, residents, seconds, base)
            published_at = time.monotonic()
            with psycopg.connect(url, autocommit=True) as conn:
                while (stored := stored_rows(conn)) < expected and time.monotonic() - published_at < DRAIN_TIMEOUT_S:
                    time.sleep(0.2)
            drain_s = time.monotonic() - published_at
        after = total_usage(started)
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT rule, count(*) FROM alerts GROUP BY rule ORDER BY 2 DESC").fetchall()
            alerts: dict[str, int] = dict(rows)
    finally:
        stop_workers(started)
    return LoadResult(sent, took, expected, stored, drain_s, after.cpu_s - before.cpu_s, after.peak_rss_bytes,
                      probe.latencies_s, alerts)  # fmt: skip


def bench_load(model: LoadModel, residents: list[int], seconds: int, workers: int) -> None:
    with mosquitto() as broker, postgres() as server:
        print(f"{model.name}, {seconds} s of load, real time (publisher, broker, {workers} carewatch worker(s),"
              f" PostgreSQL on {os.cpu_count()} cores)")  # fmt: skip
        sustained = []
        for count in residents:
            bare = bare_subscriber_rate(broker.port, model, count, min(seconds, 10))
            result = carewatch_run(broker.port, server.create_database(), model, count, seconds, workers)
            report(model, count, seconds, bare, result)
            if result.stored == result.expected and result.drain_s <= SUSTAINED_DRAIN_S:
                sustained.append(count)
        print(f"\nlargest load sustained (none lost, stored within {SUSTAINED_DRAIN_S:.0f} s of the last publish): "
              + (f"{max(sustained):,} residents" if sustained else "none of those tried"))  # fmt: skip


def report(model: LoadModel, residents: int, seconds: int, bare: float, result: LoadResult) -> None:
    offered = result.messages / seconds
    wall = result.publish_s + result.drain_s
    achieved = result.messages / wall
    lost = "none lost" if result.stored == result.expected else "LOST"
    print(
        f"\n{residents:6} residents: offered {offered:8,.0f} msg/s ({result.expected / seconds:,.0f} rows/s,"
        f" {model.readings(residents, seconds) / seconds:,.0f} readings/s), the publisher managed"
        f" {result.messages / result.publish_s:,.0f} msg/s"
    )
    print(f"  stored {result.stored:,}/{result.expected:,} rows ({lost}), drained {result.drain_s:.1f} s after the last"
          f" publish; committed {model.readings(residents, seconds) * result.stored / result.expected / wall:,.0f}"
          " readings/s")  # fmt: skip
    print(f"  carewatch end to end {achieved:8,.0f} msg/s; bare paho subscriber {bare:8,.0f} msg/s;"
          f" ratio {achieved / bare:.2f}")  # fmt: skip
    if result.latencies_s:
        ms = np.array(result.latencies_s) * 1000
        p50, p99 = np.percentile(ms, [50, 99])
        print(f"  publish -> commit latency ({ms.size} probe messages, +-{POLL_EVERY_S * 1000:.0f} ms): p50"
              f" {p50:,.0f} ms, p99 {p99:,.0f} ms, max {ms.max():,.0f} ms")  # fmt: skip
    print(f"  carewatch serve (all workers): CPU {result.cpu_s / wall * 100:.0f} % of one core over the run, peak"
          f" RSS {result.peak_rss_bytes / 2**20:,.0f} MiB")  # fmt: skip
    print(f"  alerts raised (the load is of healthy residents): {result.alerts or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("write")
    for name in ("load", "batched"):
        load = sub.add_parser(name)
        load.add_argument("-r", "--residents", type=int, action="append", help="resident counts (repeat)")
        load.add_argument("--seconds", type=int, default=30)
        load.add_argument("--workers", type=int, default=1, help="carewatch serve processes, one per partition")
    args = parser.parse_args()
    if args.what == "write":
        bench_write()
    else:
        model = STANDARD if args.what == "load" else BATCHED
        default = [2500] if args.what == "load" else [4000]
        bench_load(model, args.residents or default, args.seconds, args.workers)


if __name__ == "__main__":
    main()
