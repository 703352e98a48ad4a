"""Stopping is bounded (carewatch.shutdown): a stop ends by its deadline whatever still runs, and says what it
abandoned. `carewatch serve` against real Mosquitto and TimescaleDB, with a scheduled job held up by the database."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from pathlib import Path

import psycopg
import pytest
from support import Mosquitto, ServeProcess, free_port

from carewatch.cli import EXIT_ABANDONED
from carewatch.shutdown import Shutdown
from carewatch.storage.timescale import CONNECTION_CHECK_MS, TimescaleStore

BLOCKED_TIMEOUT_S = 30.0
STOP_UNDER_WAY_TIMEOUT_S = 30.0  # from the first signal to serve's "stopping" line, however loaded the machine
SERVER_DOWN_S = 1.0  # the dashboard server, the stop's first step, is down by then (uvicorn polls every 0.1 s)
SECOND_SIGNAL_EXIT_S = 10.0  # well within the stop's own 60 s
ORPHAN_ENDED_WITHIN_S = 3 * CONNECTION_CHECK_MS / 1000
STUCK_S = 30.0  # a stuck step's hold, released by the test: far beyond the stop's timeout
WAITING_ON_ROLLUPS = "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'rollup_watermarks'::regclass"


def serve_env(mosquitto: Mosquitto, pg_url: str, tmp_path: Path, stop_timeout_s: float) -> dict[str, str]:
    """`carewatch serve` with a roll-up every half second (the job the tests hold up) and this stop timeout."""
    return {
        **os.environ, "CAREWATCH_MQTT_URL": mosquitto.url, "CAREWATCH_DATABASE_URL": pg_url,
        "CAREWATCH_SECRET_KEY": "shutdown-test-secret-0123456789", "CAREWATCH_HTTP_PORT": str(free_port()),
        "CAREWATCH_MQTT_CLIENT_ID": f"ingest-{tmp_path.name}", "CAREWATCH_ROLLUP_INTERVAL_SECONDS": "0.5",
        "CAREWATCH_STOP_TIMEOUT_SECONDS": str(stop_timeout_s),
    }  # fmt: skip


def wait_until_a_query_waits_on_the_lock(pg_url: str) -> None:
    deadline = time.monotonic() + BLOCKED_TIMEOUT_S
    with psycopg.connect(pg_url, autocommit=True) as conn:
        while conn.execute(WAITING_ON_ROLLUPS).fetchone() == (0,):
            assert time.monotonic() < deadline, "the roll-up job never reached the locked table"
            time.sleep(0.1)


def wait_until_no_query_waits_on_the_lock(pg_url: str) -> None:
    deadline = time.monotonic() + ORPHAN_ENDED_WITHIN_S
    with psycopg.connect(pg_url, autocommit=True) as conn:
        while conn.execute(WAITING_ON_ROLLUPS).fetchone() != (0,):
            assert time.monotonic() < deadline, "the exited process's query still waits on the lock"
            time.sleep(0.2)


def test_serve_stops_by_its_deadline_while_a_rollup_waits_on_the_database(
    mosquitto: Mosquitto, pg_url: str, tmp_path: Path
) -> None:
    """Under load the stop outlasted the test fixture's 20 s: it waited, without a limit, for a scheduled job (an
    escalation run routing many due stages, each a few slow round trips). A job held up by the database must not hold
    up the stop: it is abandoned at the deadline, logged, and the process exits without waiting for its thread."""
    store = TimescaleStore(pg_url)
    store.init_schema()
    store.close()
    serve = ServeProcess(serve_env(mosquitto, pg_url, tmp_path, stop_timeout_s=2.0), tmp_path)
    serve.start()
    lock = psycopg.connect(pg_url)  # an open transaction holding the table: the job's query waits for it
    try:
        lock.execute("LOCK TABLE rollup_watermarks IN ACCESS EXCLUSIVE MODE")
        wait_until_a_query_waits_on_the_lock(pg_url)
        serve.stop()  # waits SERVE_STOP_TIMEOUT_S at most: a stop that waits for the job fails here
        wait_until_no_query_waits_on_the_lock(pg_url)  # the server ends the exited process's query
    finally:
        lock.close()  # lets a hanging job, and so a hanging serve, finish
        serve.stop()
    log = "".join(serve.output)
    assert "the scheduled jobs still running at the stop's deadline" in log
    assert "exiting without waiting for the abandoned steps" in log
    assert serve.process is not None and serve.process.returncode == EXIT_ABANDONED


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_second_signal_during_the_stop_exits_at_once(
    mosquitto: Mosquitto, pg_url: str, tmp_path: Path, second: signal.Signals
) -> None:
    """A stop waiting (up to its 60-s deadline) on a job held up by the database; the operator presses Ctrl-C again,
    or the supervisor sends TERM again: the process ends then, says why, and exits as abandoned. The second signal
    comes once serve says the stop is under way and its dashboard server is down (uvicorn's own signal handling put
    back, when its server stopped, the handlers it had found: a second TERM then killed the process)."""
    store = TimescaleStore(pg_url)
    store.init_schema()
    store.close()
    serve = ServeProcess(serve_env(mosquitto, pg_url, tmp_path, stop_timeout_s=60.0), tmp_path)
    serve.start()
    assert serve.process is not None
    lock = psycopg.connect(pg_url)
    try:
        lock.execute("LOCK TABLE rollup_watermarks IN ACCESS EXCLUSIVE MODE")
        wait_until_a_query_waits_on_the_lock(pg_url)
        serve.process.send_signal(signal.SIGTERM)
        wait_for_line(serve, "stopping (SIGTERM)", STOP_UNDER_WAY_TIMEOUT_S)
        time.sleep(SERVER_DOWN_S)
        assert serve.process.poll() is None, "the stop did not wait for the held-up job"
        serve.process.send_signal(second)
        returncode = serve.process.wait(SECOND_SIGNAL_EXIT_S)  # raises if the second signal did not end it
    finally:
        lock.close()
        serve.stop()
    assert returncode == EXIT_ABANDONED
    assert f"{second.name} during the stop: exiting at once" in "".join(serve.output)


def wait_for_line(serve: ServeProcess, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not any(text in line for line in list(serve.output)):
        assert time.monotonic() < deadline, f"serve never logged {text!r}"
        time.sleep(0.05)


def test_steps_run_in_order_within_the_deadline_and_the_stuck_ones_are_named(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    done: list[str] = []

    async def stop() -> Shutdown:
        shutdown = Shutdown(0.5)
        await asyncio.to_thread(shutdown.run, "a quick step", lambda: done.append("quick"))
        await asyncio.to_thread(shutdown.run, "a step that gave up", lambda: False)
        await asyncio.to_thread(shutdown.run, "a stuck step", lambda: release.wait(STUCK_S))
        await shutdown.wait_async("a stuck coroutine", asyncio.sleep(STUCK_S))
        return shutdown

    try:
        with caplog.at_level(logging.ERROR, logger="carewatch.shutdown"):
            shutdown = asyncio.run(stop())
    finally:
        release.set()
    assert done == ["quick"]
    assert shutdown.abandoned == ["a step that gave up", "a stuck step", "a stuck coroutine"]
    assert not shutdown.complete
    assert "a stuck step still running at the stop's deadline" in caplog.text


def test_a_failing_step_is_logged_and_the_stop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    def fail() -> None:
        raise RuntimeError("the broker connection was already closed")

    shutdown = Shutdown(5.0)
    with caplog.at_level(logging.ERROR, logger="carewatch.shutdown"):
        shutdown.run("a failing step", fail)
        shutdown.run("the next step", lambda: None)
    assert shutdown.complete
    assert "stopping a failing step failed" in caplog.text
