"""CPU time of the vectorised alert core per batch, in all and by part: turning rows into arrays, the derived signals,
and each kind of rule. Thread CPU time, not wall time, so that two versions run one after the other on a shared
machine can be compared (run it in both checkouts alternately, a few times each).

Usage: ``python -m bench.alerts_cpu [--residents 10000] [--seconds 40] [--warm-up 40]``: the workload of
`bench.alerts` (batches of 5,000 rows), generated up front; the first ``--warm-up`` batches are not timed.
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


def measure(n: int, seconds: int, warm_up: int) -> tuple[np.ndarray, dict[str, float]]:
    """Per timed batch: CPU ms of `AlertEngine.process` as it runs (b,); and mean CPU ms by part, timed on the same
    batches part by part (the parts add a little timing overhead of their own)."""
    engine = engine_for(world(n))
    seed(engine, learned(n, engine.population.utc_offset, np.random.default_rng(7)))
    batches = [b for b, _ in Workload(n).batches(seconds, 5_000)]
    if len(batches) <= warm_up:
        raise SystemExit(f"{len(batches)} batches: fewer than --warm-up {warm_up}; simulate more --seconds")
    for batch in batches[:warm_up]:
        engine.process(batch)
    gc.collect()
    gc.freeze()
    timed = batches[warm_up:]
    whole = []
    parts: dict[str, float] = defaultdict(float)
    clock = time.thread_time
    for i, batch in enumerate(timed):
        if i % 2 == 0:  # every other batch in one call, as the engine runs; the others part by part
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
    by_part = len(timed) // 2
    return np.array(whole) * 1e3, {k: v * 1e3 / by_part for k, v in parts.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts_cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=40, help="simulated seconds of workload")
    parser.add_argument("--warm-up", type=int, default=40, help="batches run before timing")
    args = parser.parse_args(argv)
    whole, parts = measure(args.residents, args.seconds, args.warm_up)
    print(f"{args.residents:,} residents, {whole.shape[0]} batches timed whole, the ones between them by part")
    print(f"  AlertEngine.process: CPU per batch median {np.median(whole):.2f} ms, mean {whole.mean():.2f} ms")
    for name, ms in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {name:32s} {ms:6.2f} ms")
    print(f"  {'sum of the parts':32s} {sum(parts.values()):6.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
