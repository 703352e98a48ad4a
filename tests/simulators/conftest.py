"""Fixtures of the simulator tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from simulators.capture import Capture
from simulators.reports import Streams
from simulators.runner import Simulation
from simulators.scenarios.base import Incident
from simulators.world import World

Simulate = Callable[..., tuple[Simulation, Capture]]


@pytest.fixture
def simulate() -> Simulate:
    """``simulate(world, incidents, start, duration_s, seed=1, **streams)``: a run at full speed into a Capture."""

    def run(world: World, incidents: Sequence[Incident], start: float, duration_s: float, seed: int = 1,
            **streams: Any) -> tuple[Simulation, Capture]:  # fmt: skip
        capture = Capture()
        simulation = Simulation(world, incidents, capture, seed, streams=Streams(**streams))
        simulation.run(start, duration_s, speed=float("inf"))
        return simulation, capture

    return run
