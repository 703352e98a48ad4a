"""The benchmarks' services (bench/services.py): a benchmark stopped with SIGTERM stops what it started."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOLD = textwrap.dedent("""
    import time
    from bench.services import mosquitto
    with mosquitto() as broker:
        print(broker.port, flush=True)
        time.sleep(60)
""")


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_stops_the_broker_the_benchmark_started() -> None:
    """Killed by default on SIGTERM, a benchmark left its broker (and database) running, orphaned."""
    with subprocess.Popen([sys.executable, "-c", HOLD], cwd=ROOT, stdout=subprocess.PIPE, text=True) as bench:
        try:
            assert bench.stdout is not None
            port = int(bench.stdout.readline())
            assert listening(port)
            bench.send_signal(signal.SIGTERM)
            assert bench.wait(timeout=20) == 128 + signal.SIGTERM
            assert not listening(port)
        finally:
            bench.kill()
