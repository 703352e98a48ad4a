"""Tests of simulators.clock and simulators.progress."""

from __future__ import annotations

import io
import math
import threading

import pytest

from simulators.clock import Clock, placed_start, utc_offset_s
from simulators.population import make_population
from simulators.progress import ProgressLine
from simulators.runner import Simulation

T0 = 1_764_374_400.0  # 2025-11-29 00:00:00 UTC


def test_clock_maps_simulated_to_wall_time() -> None:
    clock = Clock(start=1000.0, speed=60.0, wall_start=5.0)
    assert clock.wall_at(1000.0) == 5.0 and clock.wall_at(1600.0) == 15.0
    assert Clock(1000.0, math.inf, 5.0).wall_at(1e9) == 5.0
    with pytest.raises(ValueError):
        Clock(0.0, 0.0, 0.0)


def test_accelerated_runs_are_placed_in_the_past() -> None:
    assert placed_start(3600.0, 1.0, now=T0) == T0
    assert placed_start(3600.0, 60.0, now=T0) == T0 - 3600.0


def test_utc_offsets_follow_the_timezone() -> None:
    assert utc_offset_s("UTC", T0) == 0.0
    assert utc_offset_s("Asia/Shanghai", T0) == 8 * 3600.0
    assert utc_offset_s("Europe/Berlin", T0) == 3600.0 and utc_offset_s("Europe/Berlin", T0 + 200 * 86400) == 7200.0


def test_progress_line_redraws_at_most_once_a_second() -> None:
    out, now = io.StringIO(), [0.0]
    progress = ProgressLine(7200.0, stream=out, clock=lambda: now[0])
    progress(0.0, 0)
    now[0] = 0.5
    progress(60.0, 100)  # too soon: not drawn
    now[0] = 2.0
    progress(3600.0, 50_000)
    progress.close()
    lines = out.getvalue().split("\r")
    assert len(lines) == 3 and lines[-1].endswith("\n")
    assert "50.0%" in lines[-1] and "simulated 1:00:00 of 2:00:00" in lines[-1]
    assert "50,000 messages" in lines[-1] and "25,000 msg/s" in lines[-1] and "0:00:02 left" in lines[-1]


def test_a_run_reports_progress_and_stops_when_asked() -> None:
    seen: list[tuple[float, int]] = []
    stop = threading.Event()
    simulation = Simulation(make_population(3), [], lambda t, p: None)

    def progress(elapsed: float, published: int) -> None:
        seen.append((elapsed, published))
        if elapsed >= 30:
            stop.set()

    simulation.run(T0, None, speed=math.inf, stop=stop, progress=progress)
    assert [e for e, _ in seen] == [float(k) for k in range(1, 31)]
    assert seen[-1][1] == simulation.published > 0


def test_real_time_runs_keep_pace() -> None:
    simulation = Simulation(make_population(3), [], lambda t, p: None)
    simulation.run(T0, 2.0, speed=4.0)  # 2 simulated seconds at 4x: about half a second
    assert simulation.max_lag_s < 0.2
