"""After a take-up of the saved alert state, the time-driven rules wait for the broker's backlog (ingest/catch_up.py):
until a committed batch holds a row stamped at or after the start, or for at most a while."""

from __future__ import annotations

import numpy as np

from carewatch.model import AccelRow, Batch, EventRow, ReadingRow
from ingest.catch_up import CatchUp

START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def reading(ts: float) -> ReadingRow:
    return ReadingRow(ts, "s1", "w1", "r1", "hr", 70.0, 1, False)


def test_the_rules_wait_until_a_row_from_after_the_start_is_committed() -> None:
    clock = Clock()
    catch_up = CatchUp(START, clock, max_wait_s=300.0)
    assert catch_up.waiting()
    catch_up.committed(Batch(readings=[reading(START - 600), reading(START - 1)]))  # the backlog
    catch_up.committed(Batch(events=[EventRow(START - 0.5, "s1", "door1", None, "door", 1.0, 1)]))
    clock.now = 299.0
    assert catch_up.waiting()
    catch_up.committed(Batch(accel=[AccelRow(START, "s1", "w1", "r1", 1, 25.0, np.zeros((25, 3), np.float32))]))
    assert not catch_up.waiting()


def test_without_any_newer_row_the_rules_run_again_after_the_longest_wait() -> None:
    clock = Clock()
    catch_up = CatchUp(START, clock, max_wait_s=300.0)
    catch_up.committed(Batch())
    clock.now = 299.9
    assert catch_up.waiting()
    clock.now = 300.0
    assert not catch_up.waiting()
    catch_up.committed(Batch(readings=[reading(START - 60)]))
    assert not catch_up.waiting()  # done is done
