"""Where the ratio of `bench.alerts` comes from: the vectorised engine and the straightforward per-reading version on
one stream of the workload at a time, in thread CPU time, and the engine's fixed cost per batch.

Usage: ``python -m bench.alerts_streams [--residents 10000] [--warm-up 20] [--timed 20] [--large-batch 20000]``.

For each stream (the vital-sign and device-status readings, the accelerometer blocks, the events, and all three as
`bench.alerts` feeds them) a fresh engine and a fresh per-reading version, seeded with the same learned week, both
take the first ``--warm-up`` batches of 5,000 rows whole, then the stream's rows of the next ``--timed`` batches;
both must raise and clear the same alerts. Then all streams again in batches of ``--large-batch`` rows (the same
simulated seconds cut larger): the difference between the two sizes is what a row costs each implementation once
the cost per batch is paid, and their quotient the ratio no batch size can exceed (the bound).
"""

from __future__ import annotations

import argparse
import gc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

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
    engine_s, engine_found = _timed(lambda b: found_of(*engine.process(b)), timed)
    reference_s, reference_found = _timed(reference.process, timed)
    gc.unfreeze()
    rows = sum(len(b.readings) + len(b.accel) + len(b.events) for b in timed) / len(timed)
    return StreamCost(
        rows, engine_s * 1e3 / len(timed), reference_s * 1e3 / len(timed), engine_found == reference_found
    )


def _timed(process: Callable[[Batch], Found], batches: list[Batch]) -> tuple[float, Found]:
    raised: list[tuple[str, str, float]] = []
    cleared: list[tuple[str, str, float]] = []
    spent = 0.0
    for batch in batches:
        started = time.thread_time()
        r, c = process(batch)
        spent += time.thread_time() - started
        raised += r
        cleared += c
    return spent, (sorted(raised), sorted(cleared))


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
    print(f"  {'stream':32s} {'batch':>6s} {'rows':>6s} {'engine':>9s} {'per-reading':>12s} {'ratio':>6s}"
          "  same alerts")  # fmt: skip
    costs: dict[tuple[str, int], StreamCost] = {}
    for size in (small, large):
        batches = [b for b, _ in Workload(n).batches(seconds, size)]
        warm, timed = batches[: args.warm_up * small // size], batches[args.warm_up * small // size :]
        timed = timed[: args.timed * small // size]
        for name, keep in STREAMS.items() if size == small else [(ALL, STREAMS[ALL])]:
            cost = costs[name, size] = measure(n, warm, [keep(b) for b in timed])
            print(f"  {name:32s} {size:6d} {cost.rows:6.0f} {cost.engine_ms:6.2f} ms {cost.reference_ms:9.1f} ms"
                  f" {cost.reference_ms / cost.engine_ms:5.0f}x  {'yes' if cost.same_alerts else 'NO'}")  # fmt: skip
    a, b = costs[ALL, small], costs[ALL, large]
    engine_us = (b.engine_ms - a.engine_ms) * 1e3 / (b.rows - a.rows)
    reference_us = (b.reference_ms - a.reference_ms) * 1e3 / (b.rows - a.rows)
    print(f"  a further row costs the engine {engine_us:.2f} us and the per-reading version {reference_us:.1f} us:"
          f" no batch size gives more than {reference_us / engine_us:.0f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
