"""Room temperature and humidity, per place.

A room relaxes towards a target over ``BUILDING_TAU_S`` (the building's thermal mass): the heating set-point, or the
outdoor temperature when that is warmer (no air conditioning: a heat wave heats the home), or the outdoor temperature
plus what the building retains when the heating fails. On top, a fast component (``ROOM_TAU_S``) from what happens
in the room: people (body heat), cooking (kitchen), a shower (bathroom: warm and humid).

Outdoors follows a daily cycle around each site's mean, warmest at 15:00 local time; scenarios replace the mean (a
heat wave's summer days, a heating failure's winter) or switch a home's heating off.
"""

from __future__ import annotations

import numpy as np

from simulators.routine import DAY_S, HOUR_S
from simulators.state import Activity, Behaviour, BoolArray, FloatArray, Room
from simulators.world import World

OUTDOOR_MEAN_C = (6.0, 18.0)  # a site's mean outdoor temperature (the season and the climate)
OUTDOOR_SWING_C = 5.0  # half the day-night difference
SETPOINT_C = (20.0, 23.0)
RETAINED_C = 3.0  # an unheated building stays this much warmer than outdoors
BUILDING_TAU_S = 3 * HOUR_S
ROOM_TAU_S = 15 * 60.0
BASE_HUMIDITY = (38.0, 55.0)  # % indoors
HUMIDITY_PER_C = -1.5  # relative humidity falls as the air warms (at constant moisture), % per C
WARMTH_C = {"occupied": 0.3, "cooking": 2.5, "shower": 2.0}
STEAM = {"cooking": 10.0, "shower": 35.0}  # humidity added, %
READ_NOISE = (0.1, 1.0)  # sensor noise SD: C, %


class Climate:
    """``(P,)`` temperatures and humidities of every place; ``update`` every tick."""

    def __init__(self, world: World, rng: np.random.Generator, utc_offset_s: FloatArray) -> None:
        sites = {s.site_id: i for i, s in enumerate(world.sites)}
        site_of = np.array([sites[p.site_id] for p in world.places], dtype=np.int64)
        self._rng = rng
        self._room = np.array([p.room for p in world.places], dtype=np.int64)
        self._outdoor_mean = rng.uniform(*OUTDOOR_MEAN_C, len(world.sites))[site_of]
        self._setpoint = rng.uniform(*SETPOINT_C, len(world.sites))[site_of]
        self._humidity_base = rng.uniform(*BASE_HUMIDITY, len(world.sites))[site_of]
        # Local time of a place: its site's UTC offset, read through one of the site's residents (the simulation
        # fills the shared offsets at its first step); a site without residents keeps UTC.
        resident_of_site = {r.site_id: i for i, r in enumerate(world.residents)}
        self._utc = utc_offset_s
        self._resident = np.array([resident_of_site.get(p.site_id, -1) for p in world.places], dtype=np.int64)
        self.building = self._setpoint.copy()
        self._warmth = np.zeros(len(world.places))
        self._steam = np.zeros(len(world.places))

    def update(self, t: float, dt: float, behaviour: Behaviour, outdoor_c: FloatArray,
               heating_off: BoolArray) -> None:  # fmt: skip
        """Advance over the tick; ``outdoor_c`` (a day's mean outdoor temperature, NaN for the site's own) and
        ``heating_off`` ``(P,)`` come from scenarios."""
        offset = np.where(self._resident >= 0, self._utc[self._resident], 0.0)
        hour = ((t + offset) % DAY_S) / HOUR_S
        mean = np.where(np.isnan(outdoor_c), self._outdoor_mean, outdoor_c)
        outdoor = mean + OUTDOOR_SWING_C * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
        target = np.where(heating_off, outdoor + RETAINED_C, np.maximum(self._setpoint, outdoor))
        self.building += (target - self.building) * (1.0 - np.exp(-dt / BUILDING_TAU_S))
        warmth, steam = self._sources(behaviour)
        fast = 1.0 - np.exp(-dt / ROOM_TAU_S)
        self._warmth += (warmth - self._warmth) * fast
        self._steam += (steam - self._steam) * fast

    def readings(self, places: np.ndarray) -> tuple[FloatArray, FloatArray]:
        """Sensor readings (temperature in C, relative humidity in %) for ``places`` ``(m,)``, rounded to 0.1."""
        temp = self.building[places] + self._warmth[places]
        humidity = self._humidity_base[places] + HUMIDITY_PER_C * (temp - 21.0) + self._steam[places]
        noise = self._rng.normal(0.0, 1.0, (2, places.shape[0]))
        return (np.round(temp + READ_NOISE[0] * noise[0], 1),
                np.round(np.clip(humidity + READ_NOISE[1] * noise[1], 5.0, 100.0), 1))  # fmt: skip

    def _sources(self, behaviour: Behaviour) -> tuple[FloatArray, FloatArray]:
        p = self._room.shape[0]
        occupied = np.bincount(behaviour.place, minlength=p) > 0
        cooking = np.zeros(p, bool)
        cooking[behaviour.place[behaviour.activity == Activity.MEAL]] = True
        cooking &= self._room == Room.KITCHEN
        shower = np.zeros(p, bool)
        shower[behaviour.place[behaviour.activity == Activity.WASH]] = True
        warmth = WARMTH_C["occupied"] * occupied + WARMTH_C["cooking"] * cooking + WARMTH_C["shower"] * shower
        steam = STEAM["cooking"] * cooking + STEAM["shower"] * shower
        return warmth, steam
