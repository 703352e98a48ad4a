"""Benchmark of the restart: how long the alert core's rebuild (alerts.rebuild) reads and replays, against how much
history the store holds.

Usage: ``python -m bench.restart [--residents 20] [--days 1 7] [--accel-hours 26] [--backend sqlite timescaledb]
[--partitions 1] [--saved-minutes 5]``,
or ``python -m bench.restart --state-only 10000 100000`` for the saved state alone (below).

For each backend and each history length, a fresh store gets ``--residents`` residents of the bench world
(bench.alerts: a wearable and six room sensors each) and ``--days`` days of what they send: vital signs every 5 s,
status and room temperature every minute, a motion event every 10 minutes, the bed and front door a few times a
day, and accelerometer blocks (25 Hz, one a second) for the last ``--accel-hours``. The roll-up job is brought up
to date (as the running platform keeps it), then a new engine is rebuilt from the store at the end of the data.

Printed per run: the time of each store query the rebuild makes (summed over its calls) and the rest (the engine's
replay), the rows written, and the ratio of the longest history's times to the shortest's: a restart that reads
only recent data costs the same whatever the history, one that scans the history grows with it. Then the other ways
to restart (alerts.checkpoint): after a crash, the state the running process saved ``--saved-minutes`` before it
(an engine rebuilt then, the store filled only up to then) taken up and brought up to date from the rows stored
since (alerts.rebuild.recover); after a clean stop, the rebuilt engine saved with its stamp, taken up by a new start
and resumed; and the ratio of the rebuild's time to each. With ``--partitions P``, also the rebuild of one worker of
P (partition 0's residents, reading its sites' rows only), and the single worker's time over it. TimescaleDB runs
in a PostgreSQL server the bench starts on a free loopback port (bench.services).

``--state-only``: the saved state at district scale, where filling a store is out of reach here: the bench world's
engine seeded and run for ``--state-seconds`` of its workload, then saved and taken up (its size, the two times).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from alerts import checkpoint
from alerts.engine import AlertEngine
from alerts.rebuild import rebuild, recover, resume
from alerts.rules import default_rules
from bench.alerts import VITALS, Workload, World, engine_for, learned, seed, world
from bench.report import print_ratios
from carewatch.model import AccelRow, Batch, DeviceKind, EventRow, ReadingRow
from carewatch.storage.base import Store
from ingest.partition import partition_of

DAY_S = 86_400
WRITE_ROWS = 100_000  # rows per written batch while filling
VITALS_S, STATUS_S, MOTION_S = 5, 60, 600
DAILY_EVENTS = {DeviceKind.BED: (7.5, 22.5), DeviceKind.DOOR: (10.0, 11.0, 15.0, 16.0)}  # local hours of changes


class TimedStore:
    """The store, with the time spent in each of its methods summed by name."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.spent: dict[str, float] = defaultdict(float)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                self.spent[name] += time.perf_counter() - started

        return timed


def history(n: int, days: float, accel_hours: float, end: float) -> Iterator[Batch]:
    """``days`` of the bench world's data up to ``end``, in batches of about ``WRITE_ROWS`` rows, oldest first."""
    rng = np.random.default_rng(1)
    start = end - days * DAY_S
    per_s = len(VITALS) / VITALS_S + 3 / STATUS_S  # readings per resident and second
    step = max(float(STATUS_S), WRITE_ROWS / (n * per_s))  # seconds per batch: about WRITE_ROWS readings
    for at in np.arange(start, end, step).tolist():
        until = min(at + step, end)
        batch = Batch(readings=_readings(n, at, until, rng), events=_events(n, at, until))
        batch.accel = _accel(n, max(at, end - accel_hours * 3600.0), until, rng)
        yield batch


def _readings(n: int, at: float, until: float, rng: np.random.Generator) -> list[ReadingRow]:
    rows: list[ReadingRow] = []
    ticks = np.arange(math.ceil(at / VITALS_S) * VITALS_S, until, VITALS_S)
    for metric, (mean, sd) in VITALS.items():
        value = np.round(mean + rng.normal(0, sd, (ticks.shape[0], n)), 1)
        rows += _rows(ticks, n, lambda i: f"w{i}", lambda i: f"r{i}", metric, value)
    minutes = np.arange(math.ceil(at / STATUS_S) * STATUS_S, until, STATUS_S)
    ones = np.ones((minutes.shape[0], n))
    rows += _rows(minutes, n, lambda i: f"w{i}", lambda i: f"r{i}", "worn", ones)
    rows += _rows(minutes, n, lambda i: f"w{i}", lambda i: f"r{i}", "battery", ones * 80.0)
    rows += _rows(minutes, n, lambda i: f"environment{i}", lambda i: None, "room_temp", ones * 21.0)
    return rows


def _rows(
    ticks: np.ndarray, n: int, device: Callable[[int], str], resident: Callable[[int], str | None], metric: str,
    value: np.ndarray,
) -> list[ReadingRow]:  # fmt: skip
    devices, residents = [device(i) for i in range(n)], [resident(i) for i in range(n)]
    return [
        ReadingRow(t + i / n, f"h{i}", devices[i], residents[i], metric, v, 0, False)
        for t, values in zip(ticks.tolist(), value.tolist(), strict=True)
        for i, v in enumerate(values)
    ]


def _events(n: int, at: float, until: float) -> list[EventRow]:
    rows = [
        EventRow(t + i / n, f"h{i}", f"motion{i}", None, "motion", 1.0, 0)
        for t in np.arange(math.ceil(at / MOTION_S) * MOTION_S, until, MOTION_S).tolist()
        for i in range(n)
    ]
    for kind, hours in DAILY_EVENTS.items():
        day = math.floor(at / DAY_S) * DAY_S
        for k, hour in enumerate(sorted(hours) * 2):  # today's and tomorrow's changes
            t = day + (k // len(hours)) * DAY_S + hour * 3600.0
            if at <= t < until:
                rows += [EventRow(t + i, f"h{i}", f"{kind.value}{i}", None, kind.value, k % 2 * 1.0, 0)
                         for i in range(n)]  # fmt: skip
    return rows


def _accel(n: int, at: float, until: float, rng: np.random.Generator) -> list[AccelRow]:
    seconds = np.arange(math.ceil(at), until, 1.0).tolist()
    still = np.zeros((25, 3), np.float32)
    still[:, 1] = -1.0
    return [
        AccelRow(t + i / n, f"h{i}", f"w{i}", f"r{i}", 0, 25.0, still + rng.normal(0, 0.01, (25, 3)).astype(np.float32))
        for t in seconds
        for i in range(n)
    ]


@contextmanager
def store_of(backend: str) -> Iterator[Store]:
    with ExitStack() as stack:
        if backend == "sqlite":
            from carewatch.storage.sqlite import SqliteStore

            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-restart-"))
            store: Store = SqliteStore(Path(directory) / "restart.db")
        else:
            from bench.services import postgres
            from carewatch.storage.timescale import TimescaleStore

            store = TimescaleStore(stack.enter_context(postgres()).create_database())
        store.init_schema()
        stack.callback(store.close)
        yield store


def measure(
    backend: str, n: int, days: float, accel_hours: float, partitions: int = 1, saved_s: float = 300.0
) -> dict[str, float]:
    """Fill a fresh store, roll it up, rebuild an engine from it: seconds per phase (and the rows written); the
    recovery from a state saved ``saved_s`` before the end; with ``partitions`` > 1 also the rebuild of partition
    0's worker alone (its residents' sites, ingest.partition)."""
    end = math.floor(time.time() / 60) * 60.0
    w = world(n)
    with store_of(backend) as store:
        store.upsert_sites(w.sites)
        store.upsert_residents(w.residents)
        store.upsert_devices(w.devices)
        started, rows = time.perf_counter(), 0
        for batch in history(n, days - saved_s / DAY_S, accel_hours, end - saved_s):
            store.write_batch(batch)
            rows += len(batch)
        filled = time.perf_counter() - started
        store.refresh_rollups(end - saved_s)
        state = saved_while_running(store, w, end - saved_s)
        for batch in history(n, saved_s / DAY_S, accel_hours, end):
            store.write_batch(batch)
            rows += len(batch)
        started = time.perf_counter()
        store.refresh_rollups(end)
        rolled = time.perf_counter() - started
        engine = engine_of(w, end)
        timed = TimedStore(store)
        started = time.perf_counter()
        rebuild(engine, timed, end)  # type: ignore[arg-type]
        total = time.perf_counter() - started
        engine_s = total - sum(timed.spent.values())
        clean = {**recovery(store, state, end), **clean_stop(store, engine, [d.device_id for d in w.devices], end)}
        if partitions > 1:
            clean[f"restart of 1 of {partitions} workers"] = partition_rebuild(store, w, end, partitions)
    return {"rows written": rows, "fill s": filled, "roll-up s": rolled, **timed.spent, "engine (rest)": engine_s,
            "restart total": total, **clean}  # fmt: skip


def engine_of(w: World, now: float, sites: set[str] | None = None) -> AlertEngine:
    """A new engine with the world's residents (of ``sites`` only, if given)."""
    engine = AlertEngine(default_rules())
    engine.population.refresh_offsets(now)
    mine = (lambda site: site in sites) if sites is not None else (lambda site: True)
    engine.add_residents(
        [r for r in w.residents if mine(r.site_id)], w.sites, [d for d in w.devices if mine(d.site_id)]
    )
    return engine


def saved_while_running(store: Store, w: World, at: float) -> bytes:
    """The state a running process saved at ``at`` (the store holding rows up to then): an engine rebuilt then."""
    engine = engine_of(w, at)
    rebuild(engine, store, at)
    with tempfile.TemporaryDirectory(prefix="bench-restart-state-") as directory:
        path = Path(directory) / "alert-state.bin"
        checkpoint.save(path, engine, checkpoint.stamp({}, [], 0, 1), b"bench")
        return path.read_bytes()


def recovery(store: Store, state: bytes, end: float) -> dict[str, float]:
    """After a crash at ``end``: the state saved while running taken up and brought up to date from the rows stored
    since."""
    with tempfile.TemporaryDirectory(prefix="bench-restart-state-") as directory:
        path = Path(directory) / "alert-state.bin"
        path.write_bytes(state)
        started = time.perf_counter()
        saved = checkpoint.load(path, checkpoint.stamp({}, [], 0, 1), b"bench")
        assert saved is not None and not saved.untouched
        taken_up = time.perf_counter()
        timed = TimedStore(store)
        assert recover(saved.engine, timed, end, saved.pending) is not None  # type: ignore[arg-type]
        done = time.perf_counter()
    reading = timed.spent["replay_batch"]
    return {"crash: take up s": taken_up - started, "crash: reading rows s": reading,
            "crash: the rest s": done - taken_up - reading, "crash: recovery s": done - started}  # fmt: skip


def partition_rebuild(store: Store, w: World, end: float, partitions: int) -> float:
    """Seconds to rebuild the engine of partition 0's worker (its sites' residents and devices) on the same store."""
    engine = engine_of(w, end, {s.site_id for s in w.sites if partition_of(s.site_id, partitions) == 0})
    started = time.perf_counter()
    rebuild(engine, store, end)
    return time.perf_counter() - started


def clean_stop(store: Store, engine: AlertEngine, devices: list[str], end: float) -> dict[str, float]:
    """The other way to restart: the state saved at a clean stop and taken up at the start (alerts.checkpoint), each
    with its stamp (the code's digest, the store's device times)."""

    def stamp() -> checkpoint.Stamp:
        return checkpoint.stamp(store.device_last_seen(0.0), devices, 0, 1, clean=True)

    with tempfile.TemporaryDirectory(prefix="bench-restart-state-") as directory:
        path = Path(directory) / "alert-state.bin"
        started = time.perf_counter()
        assert checkpoint.unseen(engine, store.device_last_seen(0.0), devices, end) == []  # as the stop checks
        size = checkpoint.save(path, engine, stamp(), b"bench")
        saved = time.perf_counter()
        taken_up = checkpoint.load(path, stamp(), b"bench")
        assert taken_up is not None and taken_up.untouched
        resume(taken_up.engine, store, end)
        done = time.perf_counter()
    return {"saved state MiB": size / 2**20, "clean stop: save s": saved - started, "start: take up s": done - saved}


def state_cost(n: int, seconds: int) -> dict[str, float]:
    """The saved state at district scale, without a store: the bench world's engine, seeded with a week of learned
    state as bench.alerts seeds it and run through ``seconds`` of its workload, saved and taken up (no resume)."""
    w = world(n)
    engine = engine_for(w)
    seed(engine, learned(n, Workload(n).offset, np.random.default_rng(7)))
    for batch, _ in Workload(n).batches(seconds, 5000):
        engine.process(batch)
    stamp = checkpoint.stamp({}, [], 0, 1, clean=True)  # no store: no devices
    with tempfile.TemporaryDirectory(prefix="bench-restart-state-") as directory:
        path = Path(directory) / "alert-state.bin"
        started = time.perf_counter()
        size = checkpoint.save(path, engine, stamp, b"bench")
        saved = time.perf_counter()
        assert checkpoint.load(path, stamp, b"bench") is not None
        done = time.perf_counter()
    state = sum(engine.nbytes().values())
    return {"state arrays MiB": state / 2**20, "saved state MiB": size / 2**20, "bytes per resident": size / n,
            "clean stop: save s": saved - started, "start: take up s": done - saved}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=20)
    parser.add_argument("--days", type=float, nargs="+", default=[1.0, 7.0])
    parser.add_argument("--accel-hours", type=float, default=26.0)
    parser.add_argument("--backend", nargs="+", choices=("sqlite", "timescaledb"), default=["sqlite", "timescaledb"])
    parser.add_argument("--partitions", type=int, default=1, help="also rebuild the worker of 1 of this many")
    parser.add_argument("--saved-minutes", type=float, default=5.0, help="the crash's state saved this long before")
    parser.add_argument(
        "--state-only",
        type=int,
        nargs="+",
        metavar="RESIDENTS",
        help="instead: the saved state's "
        "size and the times to save and take it up, for these numbers of residents (no store)",
    )
    parser.add_argument("--state-seconds", type=int, default=30, help="with --state-only: seconds of workload run")
    args = parser.parse_args(argv)
    if args.state_only:
        for n in args.state_only:
            figures = state_cost(n, args.state_seconds)
            print(f"{n:,} residents: " + ", ".join(f"{k} {v:,.2f}" for k, v in figures.items()))
            sys.stdout.flush()
        return 0
    for backend in args.backend:
        runs = {
            days: measure(backend, args.residents, days, args.accel_hours, args.partitions, args.saved_minutes * 60)
            for days in args.days
        }
        print(f"\n{backend}, {args.residents} residents, history of {' and '.join(f'{d:g}' for d in runs)} days:")
        print_ratios(runs, 24, lambda phase, value: f"{value:>14,.{0 if phase == 'rows written' else 3}f}")
        for name, phase in (("rebuild / recovery", "crash: recovery s"), ("rebuild / take up", "start: take up s")):
            speedup = "  ".join(f"{runs[d]['restart total'] / runs[d][phase]:>13,.1f}x" for d in runs)
            print(f"  {name:<24} {speedup}")
        if args.partitions > 1:
            worker = f"restart of 1 of {args.partitions} workers"
            shares = "  ".join(f"{runs[d]['restart total'] / runs[d][worker]:>13,.1f}x" for d in runs)
            print(f"  {'one worker / 1 of ' + str(args.partitions):<24} {shares}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
