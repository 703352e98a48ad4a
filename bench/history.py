"""History at scale on a real TimescaleDB: generate months of readings with binary COPY, run the roll-up job, then
time the dashboard's and the API's history queries (p50/p99 over random residents) and compare raw vs roll-up.

    python -m bench.history                           # 2,000 residents x 30 days, hr + spo2 every 300 s
    python -m bench.history --residents 200 --days 3  # a quick run

The rows are encoded straight into PostgreSQL's binary COPY format with numpy (fixed-width ids), so the server, not
Python, is the limit. Every query goes through the store, as the dashboard calls it.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg

from bench.services import postgres
from carewatch.model import Resident, Site, SiteKind
from carewatch.storage.copy_binary import SIGNATURE, TRAILER
from carewatch.storage.timescale import TimescaleStore

PG_EPOCH_US = 946_684_800 * 1_000_000  # 2000-01-01, the origin of binary timestamptz
METRICS = {"hr": (72.0, 8.0), "spo2": (96.0, 1.5)}  # mean, spread
ALERTS_PER_RESIDENT_DAY = 1.0  # a busy care home: one alert per resident a day


def reading_dtype(metric: str) -> np.dtype[Any]:
    def field(name: str, kind: str) -> list[tuple[str, str]]:
        return [(f"{name}_len", ">i4"), (name, kind)]

    return np.dtype(
        [("nfields", ">i2"), *field("time", ">i8"), *field("site", "S4"), *field("device", "S7"),
         *field("resident", "S5"), *field("metric", f"S{len(metric)}"), *field("value", ">f8"),
         *field("seq", ">i8"), *field("artefact", "u1")]
    )  # fmt: skip


def encode(metric: str, times: np.ndarray, residents: range, sites: int, rng: np.random.Generator) -> bytes:
    """Rows of one metric for every resident at every time (time-major, as ingest writes), in binary COPY format."""
    dtype = reading_dtype(metric)
    n = len(times) * len(residents)
    rows = np.zeros(n, dtype=dtype)
    rows["nfields"] = 8
    lengths = {"time": 8, "site": 4, "device": 7, "resident": 5, "metric": len(metric), "value": 8, "seq": 8}
    for name, length in lengths.items():
        rows[f"{name}_len"] = length
    rows["artefact_len"] = 1
    index = np.tile(np.arange(residents.start, residents.stop), len(times))
    ts = np.repeat(times, len(residents))
    rows["time"] = (ts * 1_000_000).astype(np.int64) - PG_EPOCH_US
    ids = np.char.zfill(index.astype("U4"), 4)
    rows["resident"] = np.char.add("r", ids).astype("S5")
    rows["device"] = np.char.add("w-r", ids).astype("S7")
    rows["site"] = np.char.add("s", np.char.zfill((index % sites).astype("U3"), 3)).astype("S4")
    rows["metric"] = metric.encode()
    mean, spread = METRICS[metric]
    daily = np.sin(2 * np.pi * (ts % 86400) / 86400)
    rows["value"] = np.round(mean + spread * (0.5 * daily + rng.standard_normal(n) * 0.5), 1)
    rows["seq"] = ts.astype(np.int64)
    return rows.tobytes()


def generate(url: str, args: argparse.Namespace, end: float) -> tuple[int, float]:
    """Every resident's metrics each ``interval`` s and the dense residents' each ``dense_interval`` s, a day per
    COPY and commit, then the alerts."""
    residents, sites, days = args.residents, args.sites, args.days
    groups = [(range(residents), args.interval), (range(residents, residents + args.dense), args.dense_interval)]
    rng = np.random.default_rng(8)
    start = end - days * 86400
    total = 0
    began = time.perf_counter()
    with psycopg.connect(url) as conn:
        for day in range(days):
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY readings (time, site_id, device_id, resident_id, metric, value, seq, artefact)"
                    " FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.write(SIGNATURE)
                for group, step in groups:
                    if not group:
                        continue
                    times = np.arange(start + day * 86400, start + (day + 1) * 86400, step, dtype=np.float64)
                    for metric in METRICS:
                        copy.write(encode(metric, times, group, sites, rng))
                        total += len(times) * len(group)
                copy.write(TRAILER)
            conn.commit()
            if day == 0 or (day + 1) % 5 == 0:
                rate = total / (time.perf_counter() - began)
                print(f"  day {day + 1}/{days}: {total:,} rows, {rate:,.0f} rows/s", flush=True)
        alerts = generate_alerts(conn, residents, sites, start, end)
        conn.execute("ANALYZE")
        conn.commit()
    return total + alerts, time.perf_counter() - began


def generate_alerts(conn: psycopg.Connection[Any], residents: int, sites: int, start: float, end: float) -> int:
    rng = random.Random(8)
    n = int(residents * (end - start) / 86400 * ALERTS_PER_RESIDENT_DAY)
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY alerts (resident_id, site_id, rule, severity, state, opened_at, raised_at, updated_at, title,"
            " explanation, evidence, resolved_at, resolved_by) FROM STDIN"
        ) as copy,
    ):
        for _ in range(n):
            r = rng.randrange(residents)
            opened = rng.uniform(start, end - 3600)
            at = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(opened))
            resolved = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(opened + 600))
            copy.write_row(
                (f"r{r:04d}", f"s{r % sites:03d}", "spo2_low", "urgent", "resolved", at, at, resolved, "SpO2 low", "",
                 "{}", resolved, "system")
            )  # fmt: skip
    conn.commit()
    return n


SLOW_MS = 100.0  # the goal: every query under this at p99


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def timed(call: Callable[[], object], runs: int) -> tuple[float, float, float, float, int]:
    """p50, p95, p99, max (ms) and how many runs took over SLOW_MS."""
    call()  # warm the pool connection and the caches
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    ordered = sorted(samples)
    slow = sum(1 for sample in ordered if sample > SLOW_MS)
    return statistics.median(ordered), percentile(ordered, 0.95), percentile(ordered, 0.99), ordered[-1], slow


def explain(url: str, window_s: int, bucket_s: int, resident: str, end: float) -> None:
    sql = (
        f"SELECT time_bucket(make_interval(secs => {bucket_s}), time, to_timestamp(0)) AS bucket, count(*),"
        " min(value), max(value), avg(value) FROM readings WHERE resident_id = %s AND metric = 'hr'"
        " AND time >= to_timestamp(%s) AND time < to_timestamp(%s) AND NOT artefact GROUP BY bucket ORDER BY bucket"
    )
    with psycopg.connect(url) as conn:
        chunks = conn.execute("SELECT count(*) FROM show_chunks('readings')").fetchone()
        plan = [r[0] for r in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", (resident, end - window_s, end))]
    scans = [i for i, line in enumerate(plan) if " Scan on _hyper_" in line and "Index Scan on" not in line]
    scanned = {plan[i].split(" on ")[1].split()[0] for i in scans}
    total = chunks[0] if chunks else 0
    print(f"\nEXPLAIN (ANALYZE, BUFFERS), raw {window_s // 3600} h chart: {len(scanned)} of {total} chunks scanned")
    shown = scans[1] if len(scans) > 1 else len(plan)  # the plan down to the first chunk's scan, then a summary
    for line in plan[:shown]:
        print("  " + line)
    if len(scans) > 1:
        print(f"  ... {len(scans) - 1} more chunk scans like the one above")
        for line in plan:
            if line.lstrip().startswith(("Planning Time", "Execution Time")):
                print("  " + line.strip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=2000)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--interval", type=int, default=900, help="seconds between two readings of a metric")
    parser.add_argument("--dense", type=int, default=5, help="more residents, with the standard load's density")
    parser.add_argument("--dense-interval", type=int, default=5, help="their seconds between two readings")
    parser.add_argument("--runs", type=int, default=100, help="timed runs per query")
    parser.add_argument(
        "--raw-runs", type=int, default=20, help="timed runs of the 30-day raw comparisons (never run by the product)"
    )
    args = parser.parse_args(argv)
    end = math.floor(time.time() / args.interval) * args.interval
    with postgres() as server:
        url = server.create_database()
        store = TimescaleStore(url)
        store.init_schema()
        store.upsert_sites([Site(f"s{s:03d}", f"Site {s}", SiteKind.CARE_INSTITUTION) for s in range(args.sites)])
        store.upsert_residents(
            [
                Resident(f"r{r:04d}", f"s{r % args.sites:03d}", f"Resident {r}")
                for r in range(args.residents + args.dense)
            ]
        )
        per_metric = args.days * 86400 // args.interval
        print(
            f"volume: {args.residents:,} residents x {args.days} days x {len(METRICS)} metrics every {args.interval} s"
            f" = {args.residents * per_metric * len(METRICS):,} readings ({per_metric:,} per resident and metric),"
            f" {int(args.residents * args.days * ALERTS_PER_RESIDENT_DAY):,} alerts, {args.sites} sites;"
            f" plus {args.dense} dense residents every {args.dense_interval} s"
            f" ({args.days * 86400 // args.dense_interval:,} readings per resident and metric)"
        )
        rows, seconds = generate(url, args, end)
        print(f"generated {rows:,} rows with COPY in {seconds:.0f} s ({rows / seconds:,.0f} rows/s)")
        began = time.perf_counter()
        written = store.refresh_rollups(time.time())
        seconds = time.perf_counter() - began
        print(f"roll-up job, first pass ({args.days} days): {seconds:.1f} s, buckets written {written}")
        began = time.perf_counter()
        store.refresh_rollups(time.time())
        print(f"roll-up job, steady-state pass (late margin only): {(time.perf_counter() - began) * 1000:.0f} ms")
        began = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:  # what autovacuum has long done on a running system
            conn.execute("VACUUM ANALYZE")
        print(f"VACUUM ANALYZE (steady state before timing): {time.perf_counter() - began:.0f} s")
        with psycopg.connect(url) as conn:
            sizes = conn.execute(
                "SELECT h, pg_size_pretty(hypertable_size(h)) FROM unnest(ARRAY['readings', 'readings_1m',"
                " 'readings_1h']::regclass[]) h"
            ).fetchall()
        print("sizes: " + ", ".join(f"{h} {size}" for h, size in sizes))

        rng = random.Random(1)

        def resident() -> str:
            return f"r{rng.randrange(args.residents):04d}"

        def dense() -> str:
            return f"r{args.residents + rng.randrange(args.dense):04d}"

        def site() -> str:
            return f"s{rng.randrange(args.sites):03d}"

        now = float(end)
        history, bucketed = store.history, store.readings_bucketed
        day, month = 86400, 30 * 86400
        queries: list[tuple[str, Callable[[], object]]] = [
            ("1 h chart (raw, 1-min buckets)", lambda: history(resident(), "hr", now - 3600, now, 60)),
            ("24 h chart (1-min roll-up, 10-min buckets)", lambda: history(resident(), "hr", now - day, now, 600)),
            ("7 d chart (1-h roll-up, 1-h buckets)", lambda: history(resident(), "hr", now - 7 * day, now, 3600)),
            ("30 d chart (1-h roll-up, 6-h buckets)", lambda: history(resident(), "hr", now - month, now, 21600)),
            ("24 h chart from raw readings", lambda: bucketed(resident(), "hr", now - day, now, 600)),
            ("30 d chart from raw readings", lambda: bucketed(resident(), "hr", now - month, now, 21600)),
            ("dense: 1 h chart (raw)", lambda: history(dense(), "hr", now - 3600, now, 60)),
            ("dense: 24 h chart (1-min roll-up)", lambda: history(dense(), "hr", now - day, now, 600)),
            ("dense: 7 d chart (1-h roll-up)", lambda: history(dense(), "hr", now - 7 * day, now, 3600)),
            ("dense: 30 d chart (1-h roll-up)", lambda: history(dense(), "hr", now - month, now, 21600)),
            ("dense: 24 h chart from raw readings", lambda: bucketed(dense(), "hr", now - day, now, 600)),
            ("dense: 30 d chart from raw readings", lambda: bucketed(dense(), "hr", now - month, now, 21600)),
            ("a site's alert counts per day, 30 d", lambda: store.alert_counts(site(), now - month, now, day)),
            ("latest vitals of every resident of a site", lambda: store.latest_readings(site())),
        ]  # fmt: skip
        title = f"query ({args.runs} runs; raw 30 d: {args.raw_runs}; random residents/sites)"
        print(f"\n{title:<52}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'>100ms':>8}")
        results = {}
        for name, call in queries:
            runs = args.raw_runs if name.endswith("30 d chart from raw readings") else args.runs
            p50, p95, p99, top, slow = results[name] = timed(call, runs)
            print(f"{name:<52}{p50:>9.2f}{p95:>9.2f}{p99:>9.2f}{top:>9.2f}{slow:>8}", flush=True)
        print()
        for label, raw, rolled in (
            ("30 d chart", "30 d chart from raw readings", "30 d chart (1-h roll-up, 6-h buckets)"),
            ("24 h chart", "24 h chart from raw readings", "24 h chart (1-min roll-up, 10-min buckets)"),
            ("dense 30 d chart", "dense: 30 d chart from raw readings", "dense: 30 d chart (1-h roll-up)"),
            ("dense 24 h chart", "dense: 24 h chart from raw readings", "dense: 24 h chart (1-min roll-up)"),
        ):
            a50, _, a99, _, _ = results[raw]
            b50, _, b99, _, _ = results[rolled]
            print(f"ratio raw / roll-up, {label}: p50 {a50 / b50:.1f}x, p99 {a99 / b99:.1f}x")
        explain(url, 3600, 60, dense(), now)
        explain(url, 86400, 600, dense(), now)
        store.close()


if __name__ == "__main__":
    main()
