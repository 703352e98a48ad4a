"""The restart benchmark (bench/restart.py), small: the rebuild's phases against the history held, the take-up of a
clean stop's saved state beside it, and the saved state alone."""

from __future__ import annotations

import re

import pytest

from bench.restart import main


def test_the_rebuild_and_the_take_up_are_timed_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--residents", "3", "--days", "0.02", "0.05", "--accel-hours", "0.05", "--backend", "sqlite"]
    assert main([*args, "--partitions", "2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  one worker / 1 of 2\s+[\d,.]+x\s+[\d,.]+x$", out, re.M), out
    phases = dict(re.findall(r"^  (\S[^\n]*?)\s{2,}([\d,.]+)\s+[\d,.]+\s+x[\d.]+$", out, re.M))
    assert {"replay_batch", "restart total", "clean stop: save s", "start: take up s", "saved state MiB",
            "crash: recovery s"} <= set(phases)  # fmt: skip
    assert float(phases["saved state MiB"]) > 0, out
    assert re.search(r"^  rebuild / take up\s+[\d,.]+x\s+[\d,.]+x$", out, re.M), out
    assert re.search(r"^  rebuild / recovery\s+[\d,.]+x\s+[\d,.]+x$", out, re.M), out


def test_the_saved_state_alone(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--state-only", "50", "--state-seconds", "3"]) == 0
    out = capsys.readouterr().out
    size = re.search(r"^50 residents: .*bytes per resident ([\d,.]+), clean stop: save s [\d.]+, start: take up s", out)
    assert size is not None and 5_000 < float(size[1].replace(",", "")) < 100_000, out
