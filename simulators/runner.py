"""Runs a simulated world: residents live their days, devices report, incidents happen, the truth is logged.

Every tick (``Streams.tick_s``, 1 s by default) the simulation, for all residents at once:

1. follows each resident's daily routine (`routine`), the homes' visitors (`visitors`) and who wears their
   wearable (`wearing`);
2. lets the active incidents steer their resident, devices and rooms (`scenarios`), and walks anyone steered across
   the front door through the hall (`doorway`);
3. advances bodies (`physiology`), rooms (`climate`), batteries (`devices`) and room sensors (`sensors`);
4. publishes what every device reports for the tick (`reports`), once the tick is over.

Time is simulated: `run` paces ticks at ``speed`` (1 = real time, larger = faster, ``math.inf`` = as fast as
possible). The same world, incidents, seed and start give byte-identical payloads, whatever the speed.
Local times (routines, the outdoor day) use each site's timezone, taken at the first simulated instant.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from simulators.accel import Accelerometer
from simulators.climate import Climate
from simulators.clock import Clock, utc_offset_s
from simulators.devices import Fleet
from simulators.doorway import Doorway
from simulators.emit import Outbox, Publish
from simulators.index import WorldIndex
from simulators.physiology import Body
from simulators.reports import Reporter, Streams
from simulators.routine import Routine
from simulators.scenarios.base import GroundTruth, Incident, Scenario, VitalsOnly
from simulators.schedule import Schedule
from simulators.sensors import HomeSensors
from simulators.state import NO_DEVICE, Behaviour, BoolArray, FloatArray, IntArray, Posture, Room
from simulators.tick import Tick
from simulators.visitors import Visitors
from simulators.wearing import Episode, Wearing
from simulators.world import World

__all__ = ["Clock", "Publish", "Simulation", "Streams"]

Progress = Callable[[float, int], None]
COMPONENTS = 10  # independent random streams, one per component: a change in one leaves the others' draws alone


class Simulation:
    """``population``: a `World` (`floorplans.build_world`, `population.make_population`); ``scenarios``: incidents
    (`Incident`s or `Scenario`s); ``publish(topic, payload)``: where messages go (a `Publisher`, a pool, a list);
    ``interval_s``: the wearables' vitals period (default ``streams.vitals_s``, 5 s); ``streams``: report periods
    and options (`simulators.reports.Streams`); ``on_truth``: receives each background episode as it happens
    (charging, showers, visitors, motion artefacts: about 20 a resident a day), for long or large runs; without it
    they are kept for `ground_truth`."""

    def __init__(self, population: World, scenarios: Sequence[Scenario | Incident], publish: Publish, seed: int = 1,
                 interval_s: float | None = None, *, streams: Streams | None = None,
                 on_truth: Callable[[GroundTruth], None] | None = None) -> None:  # fmt: skip
        world = self.population = population
        self.scenarios = list(scenarios)
        self.streams = streams or Streams()
        if interval_s is not None:
            self.streams = replace(self.streams, vitals_s=interval_s)
        self.interval_s = self.streams.vitals_s
        self._index = WorldIndex(world)
        incidents = [s if isinstance(s, Incident) else VitalsOnly(s) for s in self.scenarios]
        unknown = {i.truth.resident_id for i in incidents} - set(self._index.residents)
        if unknown:
            raise ValueError(f"scenarios name residents not in the world: {sorted(unknown)[:5]}")
        self._schedule = Schedule(incidents)
        rng = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(COMPONENTS)]
        n = len(world.residents)
        self._utc_offset: FloatArray = np.zeros(n)  # filled in at the first step; components share this array
        self._routine = Routine(world, rng[0], self._utc_offset)
        self._doorway = Doorway(self._routine.places)
        alone = [(self._index.resident(i.truth.resident_id), i.active_from, i.active_until)
                 for i in incidents if i.alone]  # fmt: skip
        self._visitors = Visitors(world, rng[1], self._utc_offset, alone)
        self._wearing = Wearing(n, rng[2])
        self._body = Body(world, rng[3], self._utc_offset)
        self._fleet = fleet = Fleet(world, rng[4], self.streams.ticks(self.streams.longest_s))
        self._climate = Climate(world, rng[5], self._utc_offset)
        self._sensors = HomeSensors(world, fleet, rng[6])
        self._accel = Accelerometer(n, rng[7], self._body.cadence_hz)
        self._outbox = Outbox(world, fleet, publish, rng[8], self.streams.drop_p)
        self._reporter = Reporter(world, self.streams, fleet, self._outbox, self._body, self._accel, self._climate,
                                  self._sensors, rng[9])  # fmt: skip
        self._has_wearable = fleet.wearable_of != NO_DEVICE
        self._truths = [i.truth for i in incidents]
        self._on_truth = on_truth or self._truths.append
        self._started = False
        self.max_lag_s = 0.0  # the furthest the last paced run fell behind its schedule (wall seconds)

    @property
    def published(self) -> int:
        return self._outbox.published

    def step(self, t: float) -> int:
        """Simulate the tick ``[t, t + tick_s)`` and publish what devices report for it. Returns messages
        published. Successive calls must move forward in time."""
        before = self._outbox.published
        if not self._started:
            self._utc_offset[:] = _utc_offsets(self.population, t)
            self._started = True
        dt = self.streams.tick_s
        incidents = self._schedule.active(t, dt)
        tick = self._advance(t, dt, incidents)
        online = self._fleet.alive & ~tick.offline
        self._reporter.report(tick, round(t / dt), online, incidents)
        self._log_artefacts()
        return self._outbox.published - before

    def run(self, start: float, duration_s: float | None, speed: float = 1.0, stop: threading.Event | None = None,
            progress: Progress | None = None) -> int:  # fmt: skip
        """Step from ``start`` for ``duration_s`` simulated seconds (None: until stopped), paced at ``speed``; each
        tick is published once it is over. Returns messages published; ``progress(elapsed_s, published)``."""
        stop = stop or threading.Event()
        clock = Clock(start, speed, time.time())
        dt, published, t = self.streams.tick_s, 0, start
        self.max_lag_s = 0.0
        while (duration_s is None or t < start + duration_s) and not stop.is_set():
            if stop.wait(max(0.0, clock.wall_at(t + dt) - time.time())):
                break
            published += self.step(t)
            if not math.isinf(speed):
                self.max_lag_s = max(self.max_lag_s, time.time() - clock.wall_at(t + dt))
            t += dt
            if progress is not None:
                progress(t - start, published)
        return published

    def ground_truth(self, until: float = math.inf) -> list[GroundTruth]:
        """The incidents injected and the background episodes logged so far (unless sent to ``on_truth``), in order
        of start; background episodes starting at or after ``until`` (a visit planned past the run's end) left out."""
        kept = [truth for truth in self._truths if not truth.background or truth.start < until]
        return sorted(kept, key=lambda truth: (truth.start, truth.resident_id))

    def write_ground_truth(self, path: Path) -> None:
        """The ground truth as JSON lines. Written before a run it holds the incidents only; after, the background
        episodes too."""
        path.write_text("".join(json.dumps(truth.as_json()) + "\n" for truth in self.ground_truth()))

    def _advance(self, t: float, dt: float, incidents: list[Incident]) -> Tick:
        world, fleet = self.population, self._fleet
        behaviour = self._routine.advance(t, dt)
        visitor_place, visitor_moving, visits, seeing_out = self._visitors.advance(t)
        _see_out(behaviour, seeing_out & (behaviour.place != self._routine.places[:, Room.OUTSIDE]),
                 self._routine.places[:, Room.HALL])  # fmt: skip
        worn, episodes = self._wearing.update(t, behaviour.activity, self._wearable_battery())
        self._log(episodes + visits)
        d, p = len(world.devices), len(world.places)
        tick = Tick(t, dt, behaviour, worn & self._has_wearable, np.zeros(d, bool), np.zeros(d, np.int8),
                    fleet.battery, np.full(p, np.nan), np.zeros(p, bool), np.zeros(len(world.residents), np.int8),
                    self._index, self._routine.places)  # fmt: skip
        for incident in incidents:
            if incident.needs_wearable:
                r = self._index.resident(incident.truth.resident_id)
                tick.worn[r] = self._has_wearable[r]
            incident.steer(tick)
        self._doorway.steer(t, behaviour)
        self._routine.settle(behaviour.place)
        self._body.update(t, dt, behaviour)
        self._climate.update(t, dt, behaviour, tick.outdoor_c, tick.heating_off)
        on_body, charging = np.zeros(d, bool), np.zeros(d, bool)
        wearers = fleet.resident[fleet.wearable]
        on_body[fleet.wearable], charging[fleet.wearable] = tick.worn[wearers], self._wearing.charging[wearers]
        fleet.drain(dt, on_body, charging)
        low = fleet.ran_low()
        low = low[fleet.resident[low] != NO_DEVICE]  # a shared sensor's battery alert is nobody's incident here
        self._log([Episode(int(fleet.resident[x]), "battery_ran_low", t, t, x, "battery_low") for x in low.tolist()])
        self._sensors.update(t, np.concatenate([behaviour.place, visitor_place]),
                             np.concatenate([behaviour.moving, visitor_moving]), behaviour.place.shape[0],
                             behaviour.in_bed, behaviour.in_chair, tick.alarm)  # fmt: skip
        return tick

    def _wearable_battery(self) -> FloatArray:
        battery = np.full(self._has_wearable.shape[0], np.nan)
        battery[self._has_wearable] = self._fleet.battery[self._fleet.wearable_of[self._has_wearable]]
        return battery

    def _log(self, episodes: list[Episode]) -> None:
        residents, devices = self.population.residents, self.population.devices
        for e in episodes:
            wearable = self._fleet.wearable_of[e.resident] if e.what != "visitor" else NO_DEVICE
            device = e.device if e.device != NO_DEVICE else wearable
            device_id = devices[device].device_id if device != NO_DEVICE else None
            self._on_truth(GroundTruth(residents[e.resident].resident_id, e.what, e.start, e.end, e.rule,
                                       device_id=device_id, background=True))  # fmt: skip

    def _log_artefacts(self) -> None:
        period = self.streams.vitals_s
        self._log([Episode(r, "motion_artefact", t, t + period) for r, t in self._reporter.motion_artefacts])


def _see_out(behaviour: Behaviour, hosts: BoolArray, hall: IntArray) -> None:
    """``hosts`` ``(N,)`` walk about the hall, seeing a visitor out."""
    behaviour.place[hosts], behaviour.posture[hosts], behaviour.moving[hosts] = hall[hosts], Posture.WALKING, True
    behaviour.in_bed[hosts] = behaviour.in_chair[hosts] = False


def _utc_offsets(world: World, t: float) -> FloatArray:
    """Each resident's site's UTC offset (seconds) at ``t``."""
    seconds = {site.site_id: utc_offset_s(site.timezone, t) for site in world.sites}
    return np.array([seconds.get(r.site_id, 0.0) for r in world.residents], dtype=np.float64)
