"""CPU time of the vectorised alert core per batch, in all and by part: turning rows into arrays, the derived signals,
and each kind of rule. Thread CPU time, not wall time, so that two versions run one after the other on a shared
machine can be compared (run it in both checkouts alternately, a few times each).

Usage: ``python -m bench.alerts_cpu [--residents 10000] [--seconds 40] [--warm-up 40] [--batch-rows 5000 ...]``: the
workload of `bench.alerts` (batches of 5,000 rows, or each size given), generated up front; the rows of the first
``--warm-up`` batches of 5,000 are not timed. With two batch sizes or more, also what a further row costs each part:
the difference of its CPU per batch between the smallest and the largest size, over the difference in rows.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from alerts.frame import build
from bench.alerts import Workload, engine_for, learned, seed, world

SIZE = 5_000  # rows per batch: ingest's default


def measure(n: int, seconds: int, warm_up: int, rows: int = SIZE) -> tuple[np.ndarray, dict[str, float], float]:
    """Per timed batch of ``rows`` rows: CPU ms of `AlertEngine.process` as it runs (b,); mean CPU ms by part, timed
    on the batches between part by part (the parts add a little timing overhead of their own); and the mean rows of
    those batches (the last may be short)."""
    engine = engine_for(world(n))
    seed(engine, learned(n, engine.population.utc_offset, np.random.default_rng(7)))
    batches = [b for b, _ in Workload(n).batches(seconds, rows)]
    if len(batches) < warm_up + 2:
        raise SystemExit(f"{len(batches)} batches: not --warm-up {warm_up} and two to time; simulate more --seconds")
    for batch in batches[:warm_up]:
        engine.process(batch)
    gc.collect()
    gc.freeze()
    timed = batches[warm_up:]
    whole = []
    parts: dict[str, float] = defaultdict(float)
    by_part = timed[1::2]  # every other batch in one call, as the engine runs; the others part by part
    clock = time.thread_time
    for i, batch in enumerate(timed):
        if i % 2 == 0:
            started = clock()
            engine.process(batch)
            whole.append(clock() - started)
            continue
        started = clock()
        frame = build(batch, engine.population)
        parts["rows to arrays"] += clock() - started
        started = clock()
        frame = engine.signals.derive(frame)
        parts["derived signals"] += clock() - started
        for rule in engine.rules:
            started = clock()
            rule.evaluate(frame)  # its findings are not turned into drafts here (rare; not the rules' cost)
            parts[f"rule {type(rule).__name__}"] += clock() - started
    rows_by_part = sum(len(b.readings) + len(b.events) + len(b.accel) for b in by_part) / len(by_part)
    return np.array(whole) * 1e3, {k: v * 1e3 / len(by_part) for k, v in parts.items()}, rows_by_part


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts_cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=40, help="simulated seconds of workload")
    parser.add_argument("--warm-up", type=int, default=40, help="batches of 5,000 rows run before timing")
    parser.add_argument("--batch-rows", type=int, nargs="+", default=[SIZE], help="rows per batch, one run per size")
    args = parser.parse_args(argv)
    by_size: dict[int, tuple[dict[str, float], float]] = {}
    for size in args.batch_rows:
        whole, parts, rows = measure(args.residents, args.seconds, args.warm_up * SIZE // size, size)
        by_size[size] = parts, rows
        print(f"{args.residents:,} residents, batches of {size:,} rows: {whole.shape[0]} timed whole, the ones between"
              " them by part")  # fmt: skip
        print(f"  AlertEngine.process: CPU per batch median {np.median(whole):.2f} ms, mean {whole.mean():.2f} ms")
        for name, ms in sorted(parts.items(), key=lambda kv: -kv[1]):
            print(f"  {name:32s} {ms:6.2f} ms")
        print(f"  {'sum of the parts':32s} {sum(parts.values()):6.2f} ms")
    if len(by_size) > 1:
        (small, small_rows), (large, large_rows) = by_size[min(by_size)], by_size[max(by_size)]
        extra = large_rows - small_rows
        print(f"a further row ({min(by_size):,} -> {max(by_size):,} rows per batch), CPU by part:")
        marginal = {name: (large[name] - small.get(name, 0.0)) * 1e3 / extra for name in large}
        for name, us in sorted(marginal.items(), key=lambda kv: -kv[1]):
            print(f"  {name:32s} {us:6.3f} us")
        print(f"  {'sum of the parts':32s} {sum(marginal.values()):6.3f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
