"""Where the ratio of `bench.alerts` comes from: the vectorised engine and the straightforward per-reading version on
one stream of the workload at a time, in thread CPU time, and the engine's fixed cost per batch.

Usage: ``python -m bench.alerts_streams [--residents 10000] [--warm-up 20] [--timed 20] [--large-batch 20000]``.

For each stream (the vital-sign and device-status readings, the accelerometer blocks, the events, and all three as
`bench.alerts` feeds them) a fresh engine and a fresh per-reading version, seeded with the same learned week, both
take the first ``--warm-up`` batches of 5,000 rows whole, then the stream's rows of the next ``--timed`` batches;
both must raise and clear the same alerts. Then all streams again in batches of ``--large-batch`` rows (the same
simulated seconds cut larger): the difference between the two sizes is what a row costs each implementation once
the cost per batch is paid, and their quotient the ratio no batch size can exceed (the bound). The engine's time is
also split into its two steps: turning the batch's row tuples into arrays (`AlertEngine.frame`) and the rest
(`AlertEngine.evaluate`: derived signals and rules); the second bound is the ratio with rows arriving as arrays.
"""

from __future__ import annotations

import argparse
import gc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from alerts.engine import AlertEngine
from bench.alerts import Found, Workload, engine_for, found_of, learned, reference_for, seed, seed_reference, world
from carewatch.model import Batch

ALL = "all (as bench.alerts)"
STREAMS: dict[str, Callable[[Batch], Batch]] = {
    "readings (vital signs, status)": lambda b: Batch(readings=b.readings),
    "accelerometer blocks": lambda b: Batch(accel=b.accel),
    "events (room sensors, SOS)": lambda b: Batch(events=b.events),
    ALL: lambda b: b,
}


@dataclass(frozen=True, slots=True)
class StreamCost:
    rows: float  # per timed batch
    engine_ms: float  # CPU per batch, mean
    to_arrays_ms: float  # of engine_ms: the rows turned into arrays (AlertEngine.frame)
    reference_ms: float
    same_alerts: bool


def measure(n: int, warm: list[Batch], timed: list[Batch]) -> StreamCost:
    """Both implementations, seeded alike, take ``warm`` whole; then ``timed``, each timed."""
    w = world(n)
    engine, reference = engine_for(w), reference_for(w)
    past = learned(n, engine.population.utc_offset, np.random.default_rng(7))
    seed(engine, past)
    seed_reference(reference, past)
    for batch in warm:
        engine.process(batch)
        reference.process(batch)
    gc.collect()
    gc.freeze()
    (engine_s, to_arrays_s), engine_found = _timed(_engine_steps(engine), timed)
    (reference_s,), reference_found = _timed(lambda b: ((), reference.process(b)), timed)
    gc.unfreeze()
    rows = sum(len(b.readings) + len(b.accel) + len(b.events) for b in timed) / len(timed)
    ms = 1e3 / len(timed)
    return StreamCost(rows, engine_s * ms, to_arrays_s * ms, reference_s * ms, engine_found == reference_found)


Marks = tuple[float, ...]  # thread CPU times taken inside a call, after its start


def _engine_steps(engine: AlertEngine) -> Callable[[Batch], tuple[Marks, Found]]:
    """`AlertEngine.process` in its two steps, marking the time between them."""

    def process(batch: Batch) -> tuple[Marks, Found]:
        frame = engine.frame(batch)
        converted = time.thread_time()
        return (converted,), found_of(*engine.evaluate(frame))

    return process


def _timed(process: Callable[[Batch], tuple[Marks, Found]], batches: list[Batch]) -> tuple[tuple[float, ...], Found]:
    """CPU time of ``process`` over ``batches``: the whole call, then from its start to each of its marks."""
    raised: list[tuple[str, str, float]] = []
    cleared: list[tuple[str, str, float]] = []
    spans: list[list[float]] = []  # per batch: the whole call, then its start to each mark
    for batch in batches:
        started = time.thread_time()
        marks, (r, c) = process(batch)
        ended = time.thread_time()
        spans.append([ended - started, *(mark - started for mark in marks)])
        raised += r
        cleared += c
    return tuple(np.sum(spans, axis=0).tolist()), (sorted(raised), sorted(cleared))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts_streams", description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--warm-up", type=int, default=20, help="whole batches both take before timing")
    parser.add_argument("--timed", type=int, default=20, help="batches of 5,000 rows timed per stream")
    parser.add_argument("--large-batch", type=int, default=20_000, help="rows per batch of the second size")
    args = parser.parse_args(argv)
    n, small, large = args.residents, 5_000, args.large_batch
    rows = (args.warm_up + args.timed) * small
    seconds = math.ceil(rows / (2.2 * n)) + 1  # the workload has about 2.3 rows per resident per second
    print(f"{n:,} residents: {args.warm_up * small:,} rows to warm up, the next {args.timed * small:,} timed; thread"
          " CPU time per batch (mean)")  # fmt: skip
    print(f"  {'stream':32s} {'batch':>6s} {'rows':>6s} {'engine':>9s} {'to arrays':>10s} {'per-reading':>12s}"
          f" {'ratio':>6s}  same alerts")  # fmt: skip
    costs: dict[tuple[str, int], StreamCost] = {}
    for size in (small, large):
        batches = [b for b, _ in Workload(n).batches(seconds, size)]
        warm, timed = batches[: args.warm_up * small // size], batches[args.warm_up * small // size :]
        timed = timed[: args.timed * small // size]
        for name, keep in STREAMS.items() if size == small else [(ALL, STREAMS[ALL])]:
            cost = costs[name, size] = measure(n, warm, [keep(b) for b in timed])
            print(f"  {name:32s} {size:6d} {cost.rows:6.0f} {cost.engine_ms:6.2f} ms {cost.to_arrays_ms:7.2f} ms"
                  f" {cost.reference_ms:9.1f} ms {cost.reference_ms / cost.engine_ms:5.0f}x"
                  f"  {'yes' if cost.same_alerts else 'NO'}")  # fmt: skip
    a, b = costs[ALL, small], costs[ALL, large]
    per_row = 1e3 / (b.rows - a.rows)
    engine_us, reference_us = (b.engine_ms - a.engine_ms) * per_row, (b.reference_ms - a.reference_ms) * per_row
    to_arrays_us = (b.to_arrays_ms - a.to_arrays_ms) * per_row
    print(f"  a further row costs the engine {engine_us:.2f} us ({to_arrays_us:.2f} of them turning it into arrays)"
          f" and the per-reading version {reference_us:.1f} us: no batch size gives more than"
          f" {reference_us / engine_us:.0f}x, nor more than {reference_us / (engine_us - to_arrays_us):.0f}x with"
          " rows arriving as arrays")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
