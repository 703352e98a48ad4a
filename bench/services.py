"""Real services for benchmarks: the same Mosquitto and PostgreSQL + TimescaleDB launchers the tests use."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support import Mosquitto, Postgres, free_port, postgres_bindir, service_directory

__all__ = ["Mosquitto", "Postgres", "free_port", "mosquitto", "postgres"]


@contextmanager
def mosquitto() -> Iterator[Mosquitto]:
    with service_directory("bench-mosquitto") as directory:
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
    with service_directory("bench-postgres") as directory:
        server = Postgres(bindir, directory, free_port())
        server.start()
        try:
            yield server
        finally:
            server.stop()
