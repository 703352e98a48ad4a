"""The registry benchmark (bench/registry.py), small: a full reread and a generation read timed side by side."""

from __future__ import annotations

import re

import pytest

from bench.registry import main


def test_a_reread_and_a_generation_read_are_timed_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--residents", "20", "--backends", "sqlite", "--rereads", "2", "--polls", "5"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"^sqlite, 20 residents \(20 sites, 140 devices; .* a reread costs ([\d,]+) generation reads$",
                      out, re.M)  # fmt: skip
    assert found is not None and int(found[1].replace(",", "")) >= 1, out
    with pytest.raises(SystemExit):
        main(["--polls", "0"])
