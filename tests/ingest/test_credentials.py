"""A broker that refuses carewatch's credentials: `carewatch serve` stops and says so (exit 2), at the start or when
the broker starts refusing them later, rather than run on ingesting nothing; the password is never printed. A real
Mosquitto with a password file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import GUARDED_PASSWORD, GUARDED_USER, Mosquitto, ServeProcess, free_port

from carewatch.cli import EXIT_FAILED

pytestmark = pytest.mark.services

EXIT_TIMEOUT_S = 60.0


def serve_env(broker: Mosquitto, password: str, data_dir: Path) -> dict[str, str]:
    url = f"mqtt://{GUARDED_USER}:{password}@127.0.0.1:{broker.port}"
    return {
        **os.environ, "CAREWATCH_MQTT_URL": url, "CAREWATCH_DATA_DIR": str(data_dir),
        "CAREWATCH_HTTP_PORT": str(free_port()), "CAREWATCH_MQTT_CLIENT_ID": f"auth-{data_dir.name}",
    }  # fmt: skip


def test_wrong_credentials_stop_serve_at_the_start(guarded_mosquitto: Mosquitto, tmp_path: Path) -> None:
    wrong = "not-the-password-4567"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "carewatch", "serve"], env=serve_env(guarded_mosquitto, wrong, tmp_path), cwd=tmp_path,
        capture_output=True, text=True, timeout=EXIT_TIMEOUT_S,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == EXIT_FAILED, output
    assert "refused carewatch's credentials (Not authorized)" in output
    assert "carewatch serving" not in output and wrong not in output
    assert time.monotonic() - started < EXIT_TIMEOUT_S / 2  # not after the subscription's time-out


def test_credentials_refused_later_stop_serve(guarded_mosquitto: Mosquitto, tmp_path: Path) -> None:
    """Served with the right password; the broker restarts with another password for the user: the reconnect is
    refused and the process stops with the reason."""
    serve = ServeProcess(serve_env(guarded_mosquitto, GUARDED_PASSWORD, tmp_path), tmp_path)
    serve.start()
    try:
        assert GUARDED_PASSWORD not in "".join(serve.output) and f"{GUARDED_USER}:***@" in "".join(serve.output)
        guarded_mosquitto.stop()
        guarded_mosquitto.users = {GUARDED_USER: "a-new-password-8901"}
        guarded_mosquitto.start()
        assert serve.process is not None
        assert serve.process.wait(timeout=EXIT_TIMEOUT_S) == EXIT_FAILED
    finally:
        serve.stop()  # reads its last lines
    assert "refused carewatch's credentials (Not authorized)" in "".join(serve.output)
