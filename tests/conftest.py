"""Shared fixtures. Services (Mosquitto, PostgreSQL + TimescaleDB) are real processes that the fixtures start on free
loopback ports in temporary directories, and stop after. Where a service is not installed the tests that need it
skip, except in CI (CI=true), where that is a failure: scripts/install-services installs them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from carewatch.storage.base import Store

IN_CI = os.environ.get("CI", "").lower() == "true"
SERVICE_START_TIMEOUT_S = 30.0
SHARED = Path(__file__).resolve().parents[2] / "shared"


def missing_service(what: str) -> None:
    message = f"{what} is not installed: run scripts/install-services"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def service_directory(name: str) -> Iterator[Path]:
    """A private directory under /tmp: pytest's own temporary tree is closed to the service users (postgres)."""
    directory = Path(tempfile.mkdtemp(prefix=f"carewatch-{name}-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def wait_for_port(port: int, timeout: float = SERVICE_START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


# Mosquitto ----------------------------------------------------------------------------------------------------------

MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {dir}/
autosave_interval 1
# carewatch acknowledges after each committed batch: let thousands be in flight, and hold a long backlog while the
# database is down (the defaults, 20 in flight and 1000 queued, stall or drop).
max_inflight_messages 0
max_queued_messages 0
max_queued_bytes 0
message_size_limit 1048576
log_dest file {dir}/mosquitto.log
"""


@dataclass
class Mosquitto:
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        conf = self.directory / "mosquitto.conf"
        conf.write_text(MOSQUITTO_CONF.format(port=self.port, dir=self.directory))
        if os.geteuid() == 0:  # mosquitto drops root privileges to its own user
            shutil.chown(self.directory, "mosquitto")
        self.process = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.PIPE)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        missing_service("mosquitto")
    os.environ["PATH"] += ":/usr/sbin"
    with service_directory("mosquitto") as directory:
        broker = Mosquitto(free_port(), directory)
        broker.start()
        yield broker
        broker.stop()


# PostgreSQL + TimescaleDB -------------------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """The newest PostgreSQL whose library directory holds timescaledb."""
    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True):
        if list((bindir.parent / "lib").glob("timescaledb*.so")):
            return bindir
    return None


@dataclass
class Postgres:
    bindir: Path
    directory: Path
    port: int

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> None:
        data = self.directory / "data"
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        if not data.exists():
            self._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")
            with (data / "postgresql.conf").open("a") as conf:
                conf.write(
                    f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.directory}'\n"
                    "shared_preload_libraries = 'timescaledb'\ntimescaledb.telemetry_level = off\nfsync = off\n"
                    "max_connections = 200\n"
                )
        self._run("pg_ctl", "-D", str(data), "-l", str(self.directory / "postgres.log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")

    def create_database(self) -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bindir = postgres_bindir()
    if bindir is None:
        missing_service("PostgreSQL with TimescaleDB")
        raise AssertionError  # unreachable: missing_service skips or fails
    with service_directory("postgres") as directory:
        server = Postgres(bindir, directory, free_port())
        server.start()
        yield server
        server.stop()


@pytest.fixture
def pg_url(postgres: Postgres) -> str:
    """A fresh, empty database on the session's cluster."""
    return postgres.create_database()


# Stores -------------------------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "timescaledb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each storage backend in turn, schema applied, empty."""
    backend: Store
    if request.param == "sqlite":
        from carewatch.storage.sqlite import SqliteStore

        backend = SqliteStore(tmp_path / "carewatch.db")
    else:
        from carewatch.storage.timescale import TimescaleStore

        backend = TimescaleStore(request.getfixturevalue("pg_url"))
    backend.init_schema()
    yield backend
    backend.close()
