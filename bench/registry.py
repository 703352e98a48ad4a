"""Following the registry: a full reread of sites, residents and devices against a read of the registry's generation.

A running platform reads the generation (one row) every second and rereads the registry only when it moved
(carewatch/runtime.py, ``REGISTRY_POLL_S``). For each backend and size: the store is filled with the bench's world
(bench.alerts.world: one home and seven devices per resident), then a reread into an empty registry, ``--rereads``
rereads of the unchanged registry and ``--polls`` generation reads are timed (wall time), and the ratio of a reread
to a generation read is printed.

    python -m bench.registry                         # --residents 10000 --backends sqlite timescaledb
    python -m bench.registry --residents 100000
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from bench.alerts import world
from bench.restart import store_of
from carewatch.registry import Registry


def measure(backend: str, n: int, rereads: int, polls: int) -> dict[str, float]:
    """The world's sites and devices; seconds: filling the store, the first reread, the median unchanged reread, the
    median and max generation read."""
    w = world(n)
    with store_of(backend) as store:
        began = time.perf_counter()
        store.upsert_sites(w.sites)
        store.upsert_residents(w.residents)
        store.upsert_devices(w.devices)
        filled = time.perf_counter() - began
        registry = Registry()
        began = time.perf_counter()
        registry.refresh(store)
        first = time.perf_counter() - began
        again = []
        for _ in range(rereads):
            began = time.perf_counter()
            registry.refresh(store)
            again.append(time.perf_counter() - began)
        reads = []
        for _ in range(polls):
            began = time.perf_counter()
            store.registry_generation()
            reads.append(time.perf_counter() - began)
    return {
        "sites": len(w.sites), "devices": len(w.devices), "filled": filled, "first": first,
        "reread": statistics.median(again), "poll": statistics.median(reads), "poll_max": max(reads),
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, nargs="+", default=[10_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "timescaledb"], choices=["sqlite", "timescaledb"])
    parser.add_argument("--rereads", type=int, default=3, help="unchanged rereads timed (median)")
    parser.add_argument("--polls", type=int, default=200, help="generation reads timed (median, max)")
    args = parser.parse_args(argv)
    if min(args.residents) < 1 or not 1 <= args.rereads <= 100 or not 1 <= args.polls <= 10_000:
        parser.error("residents >= 1, rereads 1-100, polls 1-10,000")
    for n in args.residents:
        for backend in args.backends:
            m = measure(backend, n, args.rereads, args.polls)
            print(
                f"{backend}, {n:,} residents ({m['sites']:,.0f} sites, {m['devices']:,.0f} devices; filled in "
                f"{m['filled']:.1f} s): full reread {m['first']:.2f} s into an empty registry, {m['reread']:.2f} s "
                f"unchanged (median of {args.rereads}); generation read {m['poll'] * 1000:.3f} ms median, "
                f"{m['poll_max'] * 1000:.1f} ms max of {args.polls}: a reread costs {m['reread'] / m['poll']:,.0f} "
                "generation reads",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
