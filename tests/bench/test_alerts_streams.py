"""The by-stream benchmark of the alert core (bench/alerts_streams.py), on a small population: it runs, both
implementations raise the same alerts on every stream and at both batch sizes, and it prints both bounds (rows as
they come, rows arriving as arrays)."""

from __future__ import annotations

import re

import pytest

from bench.alerts_streams import STREAMS, main


def test_every_stream_agrees_and_the_bound_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--residents", "300", "--warm-up", "1", "--timed", "2", "--large-batch", "10000"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip().split("  ")[0] in STREAMS]
    assert len(lines) == len(STREAMS) + 1  # every stream at 5,000 rows, all of them again at 10,000
    assert all(line.endswith("yes") for line in lines), out
    assert re.search(r"no batch size gives more than \d+x, nor more than \d+x with rows arriving as arrays", out), out
    to_arrays = [float(line.split()[-6]) for line in lines]  # ms of the engine's time spent turning rows into arrays
    engine = [float(line.split()[-8]) for line in lines]
    assert all(0 < part < whole for part, whole in zip(to_arrays, engine, strict=True)), out
