"""Benchmark of the vectorised alert core (alerts.engine) against the straightforward per-reading implementation of the
same rules (alerts.reference), in one run.

Usage: ``python -m bench.alerts [--residents 10000 100000] [--seconds 130] [--batch-rows 5000]
[--reference-seconds 130 8]``.

The workload is what ingest commits for ``N`` residents living alone at home, each with a wearable (vital signs
every 5 s, a 25 Hz accelerometer block every second, status every minute) and room sensors (motion, door, bed,
bathroom, environment, smoke): about 2.25 rows per resident per second, cut into batches of ``--batch-rows`` rows
(ingest's default, 5,000) in arrival order, so a batch spans many residents. The clock ticks once per simulated
second. Residents learned a week of baselines and activity before the run (seeded as the restart rebuild does), and
incidents are planted (hypoxia with a full NEWS2 set, falls, SOS, smoke, low batteries, doors opened at night).
The hypoxic residents have a clinician's SpO2 limit of 84 % for the time in bed (a COPD resident's, lower asleep),
and half of them are in bed (their bed sensor says occupied at the start): their 85 % does not raise spo2_low, the
others' does, so both implementations judge readings against in-bed limits.

Both implementations get the same batches and ticks. The reference is run on the first ``--reference-seconds``
seconds (all of them for 10,000 residents) and both must raise and clear exactly the same alerts there; the ratio
compares their time per batch over those batches. Printed: time per batch (median, p95, max), cost per row and per
accelerometer sample, tick time, memory per resident, the ratio, and the alerts raised.
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from alerts.engine import AlertEngine
from alerts.reference import ReferenceEngine
from alerts.rules import default_rules
from alerts.rules.baseline import DAY_S, DAYS, METRICS
from alerts.rules.behaviour import NoActivityRule, NotUpRule
from carewatch.model import (
    AccelRow,
    Batch,
    Device,
    DeviceKind,
    EventRow,
    ReadingRow,
    Resident,
    Site,
    SiteKind,
)
from carewatch.storage.base import Threshold, ThresholdContext

START = 1_764_468_000.0  # 2025-11-30 02:00 UTC: night in Europe, morning in Asia
ZONES = (("UTC", 0.0), ("Europe/Berlin", 3600.0), ("Asia/Shanghai", 8 * 3600.0), ("America/New_York", -5 * 3600.0))
RATE_HZ = 25.0
VITALS = {"hr": (72.0, 3.0), "spo2": (97.0, 0.7), "rr": (16.0, 1.0), "sbp": (125.0, 4.0), "dbp": (78.0, 3.0),
          "temp": (36.7, 0.1)}  # fmt: skip
ROOM_SENSORS = (DeviceKind.MOTION, DeviceKind.DOOR, DeviceKind.BED, DeviceKind.BATHROOM, DeviceKind.ENVIRONMENT,
                DeviceKind.SMOKE)  # fmt: skip


Timed = tuple[float, str, tuple[object, ...]]  # (time, "r" | "e" | "a", row): a row in arrival order


@dataclass(frozen=True, slots=True)
class World:
    sites: list[Site]
    residents: list[Resident]
    devices: list[Device]


def world(n: int) -> World:
    sites = [Site(f"h{i}", f"Home {i}", SiteKind.HOME, ZONES[i % len(ZONES)][0]) for i in range(n)]
    residents = [Resident(f"r{i}", f"h{i}", f"Resident {i}") for i in range(n)]
    devices = [Device(f"w{i}", f"h{i}", DeviceKind.WEARABLE, f"r{i}") for i in range(n)]
    devices += [Device(f"{k.value}{i}", f"h{i}", k, None) for k in ROOM_SENSORS for i in range(n)]
    return World(sites, residents, devices)


class Workload:
    """Rows of simulated seconds for ``n`` residents, generated with numpy and handed out as row tuples."""

    def __init__(self, n: int, seed: int = 1) -> None:
        self.n = n
        rng = self.rng = np.random.default_rng(seed)
        self.ids = np.array([f"r{i}" for i in range(n)], dtype=object)
        self.wearable = np.array([f"w{i}" for i in range(n)], dtype=object)
        self.site = np.array([f"h{i}" for i in range(n)], dtype=object)
        self.room = {k: np.array([f"{k.value}{i}" for i in range(n)], dtype=object) for k in ROOM_SENSORS}
        self.phase = rng.uniform(0, 1, n)  # fraction of a second at which each resident's devices send
        self.vitals_slot = rng.integers(0, 5, n)  # vitals every 5 s, in this second of the five
        self.minute_slot = rng.integers(0, 60, n)  # status and motion once a minute, in this second
        self.offset = np.array([ZONES[i % len(ZONES)][1] for i in range(n)])
        pick = rng.permutation(n)
        k = max(1, n // 1000)
        self.hypoxic = pick[: 10 * k]  # 1 %: SpO2 85 %, RR 26, pulse 135 throughout (spo2_low at 60 s, NEWS2 by 300 s)
        self.falling = pick[10 * k : 11 * k]  # 0.1 %: a fall at 3.5 s
        self.sos = pick[11 * k : 12 * k]  # SOS at 1 s
        self.smoke = pick[12 * k : 12 * k + max(1, k // 2)]  # smoke at 3 s
        self.door = pick[13 * k : 14 * k]  # a door opened at 2 s (night where it is night)
        self.in_bed = self.hypoxic[::2]  # in bed from the start (their bed sensor at 0.5 s)
        early = pick[14 * k :]
        self.battery = early[self.minute_slot[early] < 5][:k]  # a low battery in their first status message
        self.seq = 0

    def second(self, s: int) -> list[tuple[str, tuple[object, ...]]]:
        """All rows of second ``s`` after START, sorted by time, as ("r"|"e"|"a", row)."""
        t = START + s
        rows: list[Timed] = []
        rows += self._vitals(s, t)
        rows += self._status(s, t)
        rows += self._events(s, t)
        rows += self._accel(s, t)
        rows.sort(key=lambda r: r[0])
        return [(kind, row) for _, kind, row in rows]

    def _vitals(self, s: int, t: float) -> list[Timed]:
        who = np.flatnonzero(self.vitals_slot == s % 5)
        ts = t + self.phase[who]
        out: list[Timed] = []
        ill = np.isin(who, self.hypoxic)
        for metric, (mean, sd) in VITALS.items():  # six metrics, not readings
            value = np.round(mean + self.rng.normal(0, sd, who.shape[0]), 1)
            if metric in ("spo2", "rr", "hr"):
                value = np.where(ill, {"spo2": 85.0, "rr": 26.0, "hr": 135.0}[metric], value)
            out += [
                (a, "r", ReadingRow(a, b, c, d, metric, v, 0, False))
                for a, b, c, d, v in zip(
                    ts.tolist(), self.site[who], self.wearable[who], self.ids[who], value.tolist(), strict=True
                )
            ]
        return out

    def _status(self, s: int, t: float) -> list[Timed]:
        who = np.flatnonzero(self.minute_slot == s % 60)
        ts = (t + self.phase[who]).tolist()
        battery = np.where(np.isin(who, self.battery), 10.0, 80.0).tolist()
        site, dev, ids = self.site[who], self.wearable[who], self.ids[who]
        out: list[Timed] = [
            (a, "r", ReadingRow(a, b, c, d, "worn", 1.0, 0, False))
            for a, b, c, d in zip(ts, site, dev, ids, strict=True)
        ]
        out += [(a, "r", ReadingRow(a, b, c, d, "battery", v, 0, False))
                for a, b, c, d, v in zip(ts, site, dev, ids, battery, strict=True)]  # fmt: skip
        env = self.room[DeviceKind.ENVIRONMENT][who]
        out += [
            (a, "r", ReadingRow(a, b, c, None, "room_temp", 21.0, 0, False))
            for a, b, c in zip(ts, site, env, strict=True)
        ]
        return out

    def _events(self, s: int, t: float) -> list[Timed]:
        who = np.flatnonzero(self.minute_slot == (s + 30) % 60)
        who = who[~np.isin(who, self.in_bed)]  # asleep: the living room's motion sensor would say they are up
        ts = (t + self.phase[who]).tolist()
        motion = self.room[DeviceKind.MOTION][who]
        out: list[Timed] = [
            (a, "e", EventRow(a, b, c, None, "motion", 1.0, 0))
            for a, b, c in zip(ts, self.site[who], motion, strict=True)
        ]
        for group, at, device, kind in (
            (self.sos, 1, self.wearable, "sos"), (self.smoke, 3, self.room[DeviceKind.SMOKE], "smoke"),
            (self.door, 2, self.room[DeviceKind.DOOR], "door"), (self.in_bed, 0, self.room[DeviceKind.BED], "bed"),
        ):  # fmt: skip
            if s == at:
                owner = self.ids[group] if kind == "sos" else [None] * group.shape[0]
                out += [(t + 0.5, "e", EventRow(t + 0.5, b, c, d, kind, 1.0, 0))
                        for b, c, d in zip(self.site[group], device[group], owner, strict=True)]  # fmt: skip
        return out

    def _accel(self, s: int, t: float) -> list[Timed]:
        per = int(RATE_HZ)
        xyz = np.empty((self.n, per, 3), np.float32)
        xyz[:] = (0.0, -1.0, 0.0)
        xyz += self.rng.normal(0, 0.01, xyz.shape).astype(np.float32)
        if s >= 3:  # the fallers: upright, a 4.5 g impact at 3.5 s, then lying still
            xyz[self.falling] = (0.0, 0.0, -1.0) if s > 3 else (0.0, -1.0, 0.0)
            xyz[self.falling] += self.rng.normal(0, 0.01, xyz[self.falling].shape).astype(np.float32)
            if s == 3:
                xyz[self.falling, 12] = (0.5, -3.0, -3.3)
                xyz[self.falling, 13:] = (0.0, 0.0, -1.0)
        ts = (t + self.phase).tolist()
        return [
            (a, "a", AccelRow(a, b, c, d, s, RATE_HZ, x))
            for a, b, c, d, x in zip(ts, self.site, self.wearable, self.ids, xyz, strict=True)
        ]

    def batches(self, seconds: int, rows_per_batch: int, flush_at: int = 0) -> Iterator[tuple[Batch, int]]:
        """Batches of ``rows_per_batch`` rows in arrival order, each with the second it ends in; whatever is pending
        at the end of second ``flush_at - 1`` (and of the last second) is a batch of its own."""
        pending: list[tuple[str, tuple[object, ...]]] = []
        for s in range(seconds):
            pending += self.second(s)
            while len(pending) >= rows_per_batch or (s in (seconds - 1, flush_at - 1) and pending):
                chunk, pending = pending[:rows_per_batch], pending[rows_per_batch:]
                yield _batch(chunk), s


def _batch(rows: list[tuple[str, tuple[object, ...]]]) -> Batch:
    batch = Batch()
    for kind, row in rows:  # building the input, not timed
        getattr(batch, {"r": "readings", "e": "events", "a": "accel"}[kind]).append(row)
    return batch


@dataclass(frozen=True, slots=True)
class Learned:
    """A week of each resident's past, as the restart rebuild reads it: day aggregates of the vital signs
    (resident, column, day, (readings, sum, sum of squares)) and hourly activity (resident, first, last)."""

    resident: np.ndarray
    column: np.ndarray
    day: np.ndarray
    numbers: np.ndarray
    active: np.ndarray
    first: np.ndarray
    last: np.ndarray


def learned(n: int, offset: np.ndarray, rng: np.random.Generator) -> Learned:
    today = math.floor(START / DAY_S)
    days = np.arange(today - DAYS, today)
    res, col, day = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(len(METRICS)), days, indexing="ij"))
    mean = np.array([VITALS[m][0] for m in METRICS])[col]
    sd = np.array([VITALS[m][1] for m in METRICS])[col]
    count = np.full(res.shape[0], 17_280.0)  # a reading every 5 s
    numbers = np.column_stack([count, count * mean, count * (mean * mean + sd * sd)])
    # Activity every other hour from 08:00 to 20:00 local on the last eight days, up to now.
    hours = np.arange(8, 21, 2)
    a_res, a_day, a_hour = (
        x.ravel() for x in np.meshgrid(np.arange(n), np.arange(today - 7, today + 1), hours, indexing="ij")
    )
    first = a_day * DAY_S + a_hour * 3600.0 - offset[a_res] + rng.uniform(0, 600, a_res.shape[0])
    keep = first < START - 120
    a_res, first = a_res[keep], first[keep]
    order = np.lexsort((first, a_res))
    return Learned(res, col, day, numbers, a_res[order], first[order], first[order] + 60)


def seed(engine: AlertEngine, past: Learned) -> None:
    engine.seed_day_sums(past.resident, past.column, past.day, past.numbers)
    for rule in engine.rules:
        if isinstance(rule, NoActivityRule):
            rule.seed(past.active, past.first, past.last)
        if isinstance(rule, NotUpRule):
            rule.seed(*_up_signs(past))


def seed_reference(engine: ReferenceEngine, past: Learned) -> None:
    engine.seed_baselines(past.resident.tolist(), past.column.tolist(), past.day.tolist(), past.numbers.tolist())
    engine.seed_activity(past.active.tolist(), past.first.tolist(), past.last.tolist())
    engine.seed_up(*(x.tolist() for x in _up_signs(past)))


def _up_signs(past: Learned) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The learned activity's first and last instants as up signs (no bed samples)."""
    resident = np.concatenate([past.active, past.active])
    return resident, np.concatenate([past.first, past.last]), np.zeros(resident.shape[0], bool)


def limits(n: int) -> list[Threshold]:
    """The hypoxic residents' SpO2 limit for the time in bed (the module docstring)."""
    return [Threshold(f"r{i}", "spo2", 84.0, None, "COPD: lower asleep", START, "bench", ThresholdContext.IN_BED)
            for i in Workload(n).hypoxic.tolist()]  # fmt: skip


def engine_for(w: World) -> AlertEngine:
    e = AlertEngine(default_rules())
    e.population.refresh_offsets(START)
    e.add_residents(w.residents, w.sites, w.devices)
    e.apply_thresholds(limits(len(w.residents)))
    return e


def reference_for(w: World) -> ReferenceEngine:
    e = ReferenceEngine()
    e.population.refresh_offsets(START)
    e.add_residents(w.residents, w.sites, w.devices)
    e.apply_thresholds(limits(len(w.residents)))
    return e


Found = tuple[list[tuple[str, str, float]], list[tuple[str, str, float]]]


@dataclass
class Run:
    batch_s: list[float]
    tick_s: list[float]
    rows: int
    samples: int
    found: list[tuple[Found, bool]]  # per batch and per tick, in order; True for a tick


def run_vectorised(engine: AlertEngine, batches: Iterator[tuple[Batch, int]]) -> Run:
    """Every batch through the engine, the clock ticking at each simulated second's end."""
    out = Run([], [], 0, 0, [])
    second = 0
    for batch, s in batches:
        while s > second:  # the clock ticks once per simulated second
            out.found.append((_tick(engine, START + second + 1, out.tick_s), True))
            second += 1
        started = time.perf_counter()
        drafts, cleared = engine.process(batch)
        out.batch_s.append(time.perf_counter() - started)
        out.found.append((found_of(drafts, cleared), False))
        out.rows += len(batch)
        out.samples += sum(len(a.xyz) for a in batch.accel)
    out.found.append((_tick(engine, START + second + 1, out.tick_s), True))
    return out


def _tick(engine: AlertEngine, now: float, times: list[float]) -> Found:
    started = time.perf_counter()
    drafts, cleared = engine.tick(now)
    times.append(time.perf_counter() - started)
    return found_of(drafts, cleared)


def found_of(drafts: Sequence[object], cleared: Sequence[object]) -> Found:
    return (
        [(d.resident_id, d.rule, d.opened_at) for d in drafts],  # type: ignore[attr-defined]
        [(c.resident_id, c.rule, c.at) for c in cleared],  # type: ignore[attr-defined]
    )


def run_reference(engine: ReferenceEngine, batches: Iterator[tuple[Batch, int]]) -> tuple[list[float], Found, int]:
    """The same batches and ticks through the straightforward implementation: times per batch, all alerts, and
    the number of simulated seconds."""
    times: list[float] = []
    raised: list[tuple[str, str, float]] = []
    cleared: list[tuple[str, str, float]] = []
    second = 0
    for batch, s in batches:
        while s > second:
            r, c = engine.tick(START + second + 1)
            raised, cleared = raised + r, cleared + c
            second += 1
        started = time.perf_counter()
        r, c = engine.process(batch)
        times.append(time.perf_counter() - started)
        raised, cleared = raised + r, cleared + c
    r, c = engine.tick(START + second + 1)
    return times, (sorted(raised + r), sorted(cleared + c)), second + 1


def bench(n: int, seconds: int, rows_per_batch: int, reference_seconds: int) -> None:
    """One population: the straightforward implementation on the first seconds (if any), then the vectorised engine
    on all of them; the workload is regenerated from its seed for each, so no batch is held in memory."""
    rng = np.random.default_rng(7)
    w = world(n)
    started = time.perf_counter()
    engine = engine_for(w)
    past = learned(n, engine.population.utc_offset, rng)
    seed(engine, past)
    setup_s = time.perf_counter() - started
    keep = min(seconds, reference_seconds)
    reference: tuple[list[float], Found, int] | None = None
    if keep > 0:
        straightforward = reference_for(w)
        seed_reference(straightforward, past)
        gc.collect()
        gc.freeze()  # long-lived set-up objects out of the collector's way, for both runs
        reference = run_reference(straightforward, Workload(n).batches(keep, rows_per_batch))
        del straightforward
    gc.collect()
    gc.freeze()
    run = run_vectorised(engine, Workload(n).batches(seconds, rows_per_batch, flush_at=keep))
    ms = np.array(run.batch_s) * 1000
    memory = engine.nbytes()
    total = sum(memory.values())
    per_resident_s = seconds * n
    print(f"\n{n:,} residents, {seconds} s simulated, batches of {rows_per_batch:,} rows "
          f"({run.rows / per_resident_s:.2f} rows and {run.samples / per_resident_s:.1f} accelerometer samples "
          "per resident per s)")  # fmt: skip
    print(f"  set-up (registry + a week of learned state): {setup_s:.1f} s")
    print(f"  vectorised: {len(ms)} batches, per batch median {np.median(ms):.1f} ms, p95 "
          f"{np.percentile(ms, 95):.1f} ms, max {ms.max():.1f} ms; per row {ms.sum() * 1000 / run.rows:.2f} us, "
          f"per row or sample {ms.sum() * 1e6 / (run.rows + run.samples):.0f} ns")  # fmt: skip
    ticks = np.array(run.tick_s) * 1000
    print(f"  tick (once per simulated second): median {np.median(ticks):.1f} ms, max {ticks.max():.1f} ms")
    top = sorted(memory.items(), key=lambda kv: -kv[1])[:4]
    print(
        f"  memory: {total / n:,.0f} bytes per resident ({total / 2**20:,.0f} MiB of state arrays; largest: "
        + ", ".join(f"{k} {v / n:,.0f}" for k, v in top)
        + ")"
    )
    raised = sorted(x for f, _ in run.found for x in f[0])
    counts: dict[str, int] = {}
    for _, rule, _ in raised:
        counts[rule] = counts.get(rule, 0) + 1
    print(f"  alerts raised: {len(raised)} (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")")
    if reference is None:
        return
    ref_s, ref_found, ref_seconds = reference
    prefix = _prefix(run, len(ref_s), ref_seconds)
    vec_s = float(np.sum(run.batch_s[: len(ref_s)]))
    same = prefix == ref_found
    print(f"  straightforward per-reading Python, first {keep} s ({len(ref_s)} batches): per batch "
          f"{np.median(ref_s) * 1000:.0f} ms median, total {sum(ref_s):.1f} s; vectorised on the same batches "
          f"{vec_s:.2f} s: ratio {sum(ref_s) / vec_s:.0f}x")  # fmt: skip
    print(f"  same alerts: {'yes' if same else 'NO'} ({len(ref_found[0])} raised, {len(ref_found[1])} cleared)")
    if not same:
        print("    only vectorised:", sorted(set(prefix[0]) - set(ref_found[0]))[:5])
        print("    only straightforward:", sorted(set(ref_found[0]) - set(prefix[0]))[:5])
        raise SystemExit(1)


def _prefix(run: Run, batches: int, seconds: int) -> Found:
    """The vectorised run's alerts over its first ``batches`` batches and ``seconds`` ticks: what the
    straightforward run saw (both workloads cut a batch at the end of its last second)."""
    raised, cleared = [], []
    seen_batches = ticks = 0
    for found, is_tick in run.found:
        if is_tick:
            if ticks >= seconds:
                break
            ticks += 1
        else:
            if seen_batches >= batches:
                continue
            seen_batches += 1
        raised += found[0]
        cleared += found[1]
    return sorted(raised), sorted(cleared)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seconds", type=int, default=130, help="simulated seconds (NEWS2 alerts within 300 s)")
    parser.add_argument("--batch-rows", type=int, default=5_000, help="rows per committed batch (ingest's default)")
    parser.add_argument("--reference-seconds", type=int, nargs="+", default=[130, 8],
                        help="seconds the straightforward implementation runs on, per population size")  # fmt: skip
    args = parser.parse_args(argv)
    print(f"bench/alerts: numpy {np.__version__}, python {sys.version.split()[0]}")
    for k, n in enumerate(args.residents):
        reference = args.reference_seconds[min(k, len(args.reference_seconds) - 1)]
        bench(n, args.seconds, args.batch_rows, reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())
