"""The data clock (ingest/clock.py, CAREWATCH_CLOCK=data): validation bounds and the engine's ticks follow the data's
time in an accelerated run, and stay as strict as on the wall clock."""

from __future__ import annotations

import itertools
import json
import math
import threading
from functools import partial

from prometheus_client import CollectorRegistry

from carewatch.model import Batch, DeadLetter, Device, DeviceKind, EventRow, ReadingRow, Resident, WriteResult
from carewatch.registry import Registry
from ingest.batcher import AckToken, Batcher
from ingest.clock import DataClock
from ingest.decode import decode
from ingest.metrics import IngestMetrics
from ingest.validate import MAX_FUTURE_S, Accepted
from ingest.writer import Writer

WALL = 1_764_412_800.0  # the wall clock throughout: an accelerated run is hours ahead of it
TOPIC = "carewatch/v1/s1/w1/vitals"
REGISTRY = Registry(
    devices={"w1": Device("w1", "s1", DeviceKind.WEARABLE, resident_id="r1")},
    by_friendly_name={},
    residents={"r1": Resident("r1", "s1", "Ada")},
)


def vitals(ts: float) -> bytes:
    return json.dumps({"ts": ts, "seq": 1, "readings": [{"metric": "hr", "value": 72, "unit": "bpm"}]}).encode()


def reading(ts: float) -> ReadingRow:
    return ReadingRow(ts, "s1", "w1", "r1", "hr", 72.0, 1, False)


def test_an_accelerated_run_is_accepted_on_the_data_clock_and_rejected_on_the_wall_clock() -> None:
    wall_decode = partial(decode, registry=REGISTRY)
    data_decode = DataClock().decoding(wall_decode)
    hours = [WALL + 60.0 * k for k in range(0, 6 * 60)]  # six simulated hours sent within the same wall second
    on_data = [data_decode(TOPIC, vitals(ts), WALL) for ts in hours]
    on_wall = [wall_decode(TOPIC, vitals(ts), WALL) for ts in hours]
    assert all(isinstance(item, Accepted) for item in on_data)
    rejected = [item for item in on_wall if isinstance(item, DeadLetter)]
    assert len(rejected) == sum(ts > WALL + MAX_FUTURE_S for ts in hours) > 300
    assert {item.reason for item in rejected} == {"ts_out_of_range"}


def test_the_data_clock_keeps_the_bounds_around_the_newest_accepted_data() -> None:
    clock = DataClock()
    data_decode = clock.decoding(partial(decode, registry=REGISTRY))
    assert clock.reference(WALL) == WALL  # before any data: the wall clock
    assert isinstance(data_decode(TOPIC, vitals(WALL + 50.0), WALL), Accepted)
    assert clock.reference(WALL) == WALL + 50.0
    jump = data_decode(TOPIC, vitals(WALL + 50.0 + MAX_FUTURE_S + 1), WALL)  # a device clock far ahead
    assert isinstance(jump, DeadLetter) and jump.reason == "ts_out_of_range"
    assert clock.reference(WALL) == WALL + 50.0  # a rejected message does not move the clock
    assert isinstance(data_decode(TOPIC, vitals(WALL + 20.0), WALL), Accepted)  # late, within the past bound
    assert clock.reference(WALL) == WALL + 50.0  # never back


def test_now_is_the_newest_committed_data_time_and_never_goes_back() -> None:
    clock = DataClock()
    assert clock.now() == -math.inf
    clock.committed(Batch(readings=[reading(WALL + 50.0), reading(WALL + 10.0)]))
    assert clock.now() == WALL + 50.0
    clock.committed(Batch(events=[EventRow(WALL + 20.0, "s1", "door1", None, "door", 1.0, 3)]))
    assert clock.now() == WALL + 50.0
    clock.committed(Batch())
    assert clock.now() == WALL + 50.0
    assert DataClock(resume_at=WALL + 7.0).now() == WALL + 7.0  # a restart resumes at the newest stored time


class _Store:
    def write_batch(self, batch: Batch) -> WriteResult:
        return WriteResult(len(batch.readings), len(batch.events), len(batch.accel), 0, len(batch.dead_letters))


def test_the_writer_ticks_the_engine_at_data_time_on_the_data_clock() -> None:
    """Three simulated hours committed in one wall second: every tick the engine sees is a data time, one per
    committed second of data at most, and none before the first commit."""
    clock = DataClock()
    ticks: list[float] = []
    ticked = threading.Event()
    batcher = Batcher(100, 0.01, 1000)

    def on_tick(now: float) -> None:
        ticks.append(now)
        if now >= WALL + 3 * 3600:
            ticked.set()

    writer = Writer(
        _Store(),  # type: ignore[arg-type]
        batcher,
        lambda tokens: None,
        lambda batch, result: clock.committed(batch),
        IngestMetrics(CollectorRegistry()),
        on_tick,
        clock=clock.now,
    )
    writer.start()
    try:
        assert not ticked.wait(0.3) and ticks == []  # no data, no tick (the wall clock would have ticked)
        for k in range(0, 3 * 3600 + 1, 600):
            batcher.add(Accepted([reading(WALL + k)], [], []), AckToken(0, k + 1))
        assert ticked.wait(5.0)
    finally:
        writer.stop()
    assert ticks[0] >= WALL and ticks[-1] == WALL + 3 * 3600
    assert ticks == sorted(ticks) and all(b - a >= 1.0 for a, b in itertools.pairwise(ticks))
