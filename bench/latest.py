"""Benchmark of the latest readings (`Store.latest_readings`: the live board's snapshot at every connect, and the
resident page) against how many rows the look-back holds.

Usage: ``python -m bench.latest [--residents 200] [--hours 1 6] [--backend sqlite timescaledb] [--runs 5]``.

For each backend and each number of hours, a fresh store gets ``--residents`` residents of the bench world with
``--hours`` hours of what they send (bench.restart's data: vital signs every 5 s, status every minute); then the
latest readings of every site (an admin's board) and of one site (an operator's board, a resident's page) are read
``--runs`` times. Printed: the median milliseconds of each, and the ratio of the most hours to the fewest: a query that
probes each resident's newest rows costs the same whatever the hours stored (up to the 6-hour look-back), one that
aggregates the rows grows with them.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from bench.alerts import world
from bench.report import print_ratios
from bench.restart import history, store_of

DAY_S = 86_400


def measure(backend: str, n: int, hours: float, runs: int) -> dict[str, float]:
    """Median seconds of the latest readings of every site and of one, over ``hours`` of stored data."""
    w = world(n)
    end = math.floor(time.time() / 60) * 60.0
    with store_of(backend) as store:
        store.upsert_sites(w.sites)
        store.upsert_residents(w.residents)
        store.upsert_devices(w.devices)
        for batch in history(n, hours * 3600 / DAY_S, 0.0, end):
            store.write_batch(batch)
        one_site = w.sites[n // 2].site_id

        def median_s(read: Callable[[], object]) -> float:
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                read()
                times.append(time.perf_counter() - started)
            return statistics.median(times)

        return {
            "every site (admin's board)": median_s(store.latest_readings),
            "one site (resident page)": median_s(lambda: store.latest_readings(one_site)),
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 6.0])
    parser.add_argument("--backend", nargs="+", choices=("sqlite", "timescaledb"), default=["sqlite", "timescaledb"])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    for backend in args.backend:
        runs = {hours: measure(backend, args.residents, hours, args.runs) for hours in args.hours}
        stored = " and ".join(f"{h:g}" for h in runs)
        print(f"\n{backend}, {args.residents} residents, {stored} hours stored (median ms):")
        print_ratios(runs, 28, lambda _, seconds: f"{seconds * 1000:>9.2f}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
