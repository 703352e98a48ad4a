"""Runs a simulated population: every `interval_s` of simulated time, each resident's wearable publishes vitals.

Time is simulated: `speed` 1 is real time; a larger speed replays faster (a simulated day in minutes). Runs whose
simulated time would run ahead of the clock are placed in the past, so timestamps stay believable to ingest.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from carewatch.catalog import Stream
from simulators import physiology
from simulators.population import Population
from simulators.protocol import readings_payload, topic
from simulators.scenarios.base import Scenario

Publish = Callable[[str, bytes], None]


@dataclass(frozen=True, slots=True)
class Clock:
    """Maps simulated time to wall time: sim = start + (wall - wall_start) * speed."""

    start: float
    speed: float
    wall_start: float

    def wall_at(self, sim_t: float) -> float:
        return self.wall_start + (sim_t - self.start) / self.speed


class Simulation:
    def __init__(self, population: Population, scenarios: Sequence[Scenario], publish: Publish, seed: int = 1,
                 interval_s: float = 5.0) -> None:  # fmt: skip
        self.population = population
        self.scenarios = list(scenarios)
        self._publish = publish
        self._rng = np.random.default_rng(seed)
        self.interval_s = interval_s
        self._seq = dict.fromkeys((r.wearable_id for r in population.residents), 0)
        self._by_resident = {s.truth.resident_id: s for s in self.scenarios}

    def step(self, t: float) -> int:
        """Publish one vitals message per resident for simulated time t. Returns the number published."""
        for resident in self.population.residents:
            values = physiology.vitals(resident, t, self._rng)
            scenario = self._by_resident.get(resident.resident_id)
            if scenario is not None:
                values = scenario.vitals(t, values)
            seq = self._seq[resident.wearable_id] = self._seq[resident.wearable_id] + 1
            self._publish(topic(resident.site_id, resident.wearable_id, Stream.VITALS), readings_payload(t, seq, values))
        return len(self.population.residents)

    def run(self, start: float, duration_s: float | None, speed: float = 1.0, stop: threading.Event | None = None,
            progress: Callable[[float, int], None] | None = None) -> int:  # fmt: skip
        """Step from `start` for `duration_s` simulated seconds (None: until stopped), paced at `speed`."""
        stop = stop or threading.Event()
        clock = Clock(start, speed, time.time())
        published, t = 0, start
        while (duration_s is None or t < start + duration_s) and not stop.is_set():
            published += self.step(t)
            if progress is not None:
                progress(t - start, published)
            t += self.interval_s
            stop.wait(max(0.0, clock.wall_at(t) - time.time()))
        return published

    def write_ground_truth(self, path: Path) -> None:
        path.write_text("".join(json.dumps(s.truth.as_json()) + "\n" for s in self.scenarios))
