"""Test support: real service processes (Mosquitto, PostgreSQL + TimescaleDB) on free loopback ports in temporary
directories, and small helpers. Fixtures live in conftest.py."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psycopg
import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
SERVICE_START_TIMEOUT_S = 30.0
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"  # screenshots of the browser tests


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

GUARDED_USER, GUARDED_PASSWORD = "carewatch", "guarded-password-0123"  # the one user of `guarded_mosquitto`
MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
{access}
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
    users: dict[str, str] | None = None  # username -> password; None: anonymous clients welcome

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        conf = self.directory / "mosquitto.conf"
        conf.write_text(MOSQUITTO_CONF.format(port=self.port, dir=self.directory, access=self._access()))
        if os.geteuid() == 0:  # mosquitto drops root privileges to its own user
            shutil.chown(self.directory, "mosquitto")
        with (self.directory / "stderr.log").open("ab") as stderr:
            self.process = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=stderr)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def _access(self) -> str:
        if self.users is None:
            return "allow_anonymous true"
        passwords = self.directory / "passwd"
        passwords.unlink(missing_ok=True)
        for user, password in self.users.items():
            create = [] if passwords.exists() else ["-c"]
            subprocess.run(["mosquitto_passwd", "-b", *create, str(passwords), user, password], check=True)
        if os.geteuid() == 0:
            shutil.chown(passwords, "mosquitto")
        return f"allow_anonymous false\npassword_file {passwords}"


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
                    f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.directory}'\n"
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


# carewatch serve ------------------------------------------------------------------------------------------------

SERVE_READY_TIMEOUT_S = 30.0
SERVE_STOP_TIMEOUT_S = 20.0  # serve's own stop is bounded (below): beyond this it hangs
SERVE_OWN_STOP_S = (
    "12"  # CAREWATCH_STOP_TIMEOUT_SECONDS unless the test sets it (the default, 30 s, is for deployments)
)
SERVE_OUTPUT_LINES = 2_000
SERVE_DRAIN_TIMEOUT_S = 5.0


@dataclass
class ServeProcess:
    """`carewatch serve` as its own process, against the test's Mosquitto and database."""

    env: dict[str, str]
    cwd: Path
    process: subprocess.Popen[str] | None = None
    output: deque[str] = field(default_factory=lambda: deque(maxlen=SERVE_OUTPUT_LINES))  # its last lines of log
    _drainer: threading.Thread | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "carewatch", "serve"], cwd=self.cwd,
            env={"CAREWATCH_STOP_TIMEOUT_SECONDS": SERVE_OWN_STOP_S, **self.env},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        deadline = time.monotonic() + SERVE_READY_TIMEOUT_S
        lines = []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            lines.append(line)
            if "carewatch serving" in line:
                self.output.extend(lines)
                # keep the pipe from filling, and its last lines
                drain_args = (self.process.stdout, self.output)
                self._drainer = threading.Thread(target=self._drain, args=drain_args, daemon=True)
                self._drainer.start()
                return
            if not line:
                break
        self.stop()
        raise AssertionError("carewatch serve did not start:\n" + "".join(lines))

    @staticmethod
    def _drain(stdout: IO[str], output: deque[str]) -> None:
        with contextlib.suppress(ValueError, OSError):  # closed when the process is stopped
            for line in stdout:
                output.append(line)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(SERVE_STOP_TIMEOUT_S)
        self._close()

    def _close(self) -> None:
        if self._drainer is not None:  # the process is gone: its last lines are read up to the end of the pipe
            self._drainer.join(SERVE_DRAIN_TIMEOUT_S)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
