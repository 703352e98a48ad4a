"""The CPU benchmark of the alert core by part (bench/alerts_cpu.py), on a small population: with two batch sizes it
prints each size's parts and what a further row costs each part."""

from __future__ import annotations

import re

import pytest

from bench.alerts_cpu import main


def test_two_batch_sizes_print_what_a_further_row_costs_each_part(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--residents", "300", "--seconds", "40", "--warm-up", "2", "--batch-rows", "2000", "5000"]) == 0
    out = capsys.readouterr().out
    assert "batches of 2,000 rows" in out and "batches of 5,000 rows" in out, out
    head, further = out.split("a further row (2,000 -> 5,000 rows per batch), CPU by part:\n")
    parts = set(re.findall(r"^  ([^:\n]+?)\s+\d+\.\d+ ms$", head, re.M))  # each size's parts and their sum
    costs = set(re.findall(r"^  ([^:\n]+?)\s+-?\d+\.\d+ us$", further, re.M))
    assert {"rows to arrays", "derived signals", "rule ThresholdRule", "sum of the parts"} <= parts, out
    assert costs == parts, out
