"""Real services for benchmarks: the same Mosquitto and PostgreSQL + TimescaleDB launchers the tests use."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import Mosquitto, Postgres, free_port, postgres_bindir, service_directory

__all__ = ["Mosquitto", "Postgres", "free_port", "mosquitto", "postgres", "terminable"]


@contextmanager
def terminable() -> Iterator[None]:
    """SIGTERM ends the benchmark as Ctrl-C does, through every ``finally``: by default it kills the process on the
    spot, and the broker and database it started went on running, orphaned (a stopped evaluation left both)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def mosquitto() -> Iterator[Mosquitto]:
    with terminable(), service_directory("bench-mosquitto") as directory:
        broker = Mosquitto(free_port(), directory)
        broker.start()
        try:
            yield broker
        finally:
            broker.stop()


@contextmanager
def postgres() -> Iterator[Postgres]:
    bindir = postgres_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL with TimescaleDB is not installed: run scripts/install-services")
    with terminable(), service_directory("bench-postgres") as directory:
        server = Postgres(bindir, directory, free_port())
        server.start()
        try:
            yield server
        finally:
            server.stop()
