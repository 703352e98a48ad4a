"""Daily routines: where every resident is and what they are doing, for all residents at once.

Each local day every resident gets a plan: ``K`` slots (night toilet visits, morning wash, meals, toilet visits,
a nap, an outing...), each an interval ``[start, end)`` of one activity, drawn around their habits
(`simulators.profiles.Habits`). At time ``t`` a resident does the activity of the first slot (in priority order,
``SLOTS``) that contains ``t``; outside all slots they sleep between bedtime and waking, and sit otherwise. An
interrupted activity resumes after the interruption (a toilet visit in the middle of lunch).

Moving between rooms takes ``TRANSIT_S`` walking through the hall (or corridor), which PIR sensors see and which
opens doors on the way. Within an activity, short *bouts* (getting up to potter about, cooking, walking when out)
change the posture, and the chance of a PIR-visible movement depends on the activity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.state import Activity, Behaviour, BoolArray, FloatArray, IntArray, Posture, Room
from simulators.world import World

DAY_S = 86_400.0
HOUR_S = 3_600.0
MINUTE_S = 60.0
NEVER = -1.0  # start and end of a slot that does not happen today
TRANSIT_S = (8.0, 25.0)  # walking from one room to another through the hall, a small home or a corridor
TURN_OVER_P = 0.5  # a movement in bed turns the sleeper over this often

SLOTS: tuple[Activity, ...] = (
    Activity.TOILET, Activity.TOILET, Activity.TOILET,  # night visits: two after midnight, one before
    Activity.OUT,
    Activity.WASH, Activity.MEAL,  # morning wash, breakfast
    Activity.TOILET, Activity.TOILET, Activity.TOILET, Activity.TOILET, Activity.TOILET,  # day visits, evening
    Activity.MEAL, Activity.MEAL,  # lunch, dinner
    Activity.NAP,
)  # fmt: skip
SLOT_ACTIVITY = np.array(SLOTS, dtype=np.int64)
NIGHT_SLOTS = 3
DAY_TOILET_H = (10.5, 14.5, 16.75, 20.25)  # usual toilet visits between meals (older adults: every 2-4 h)

# Per activity (indexed by Activity): the posture, the posture during a bout, a PIR-visible movement's probability
# per second, how often a bout starts (mean seconds between) and its length range (s).
_L, _S, _T, _W = Posture.LYING, Posture.SITTING, Posture.STANDING, Posture.WALKING
POSTURE = np.array([_L, _T, _S, _S, _S, _S, _T, _W, _L, _S])
BOUT_POSTURE = np.array([_L, _W, _T, _T, _W, _S, _W, _W, _L, _S])
MOVE_P = np.array([0.0008, 0.6, 0.25, 0.35, 0.04, 0.005, 0.0, 0.9, 0.0, 0.0])
BOUT_EVERY_S = np.array([np.inf, 120.0, np.inf, 90.0, 2400.0, np.inf, 120.0, np.inf, np.inf, np.inf])
BOUT_S = np.array([[0, 0], [5, 20], [0, 0], [30, 120], [20, 120], [0, 0], [60, 300], [0, 0], [0, 0], [0, 0]], float)
ROOM_OF = np.array([Room.BEDROOM, Room.BATHROOM, Room.BATHROOM, Room.KITCHEN, Room.LIVING_ROOM, Room.LIVING_ROOM,
                    Room.OUTSIDE, Room.HALL, Room.HALL, Room.LIVING_ROOM])  # fmt: skip


@dataclass(frozen=True, slots=True)
class HabitArrays:
    """The residents' habits as ``(N,)`` arrays (hours are local)."""

    wake_h: FloatArray
    bed_h: FloatArray
    lunch_h: FloatArray
    dinner_h: FloatArray
    out_prob: FloatArray
    nap_prob: FloatArray
    nocturia: FloatArray

    @classmethod
    def of(cls, world: World) -> HabitArrays:
        def column(name: str) -> FloatArray:
            return np.array([getattr(r.habits, name) for r in world.residents], dtype=np.float64)

        return cls(*(column(name) for name in cls.__slots__))


class Routine:
    """Plans and follows every resident's day. ``advance(t, dt)`` is called once per tick, in time order."""

    def __init__(self, world: World, rng: np.random.Generator, utc_offset_s: FloatArray) -> None:
        n = len(world.residents)
        self._rng = rng
        self._offset = utc_offset_s
        self._habits = HabitArrays.of(world)
        self._places = np.array([r.places for r in world.residents], dtype=np.int64).reshape(n, len(Room))
        self._plan_day = np.full(n, np.iinfo(np.int64).min)
        self._start = np.full((n, len(SLOTS)), NEVER)
        self._end = np.full((n, len(SLOTS)), NEVER)
        self._wake = np.zeros(n)
        self._bed = np.zeros(n)
        self._settled = np.full(n, -1, dtype=np.int64)  # place where each resident is when not in transit
        self._transit_until = np.full(n, -np.inf)
        self._bout_until = np.full(n, -np.inf)
        self._side = np.zeros(n, dtype=np.int64)

    @property
    def places(self) -> IntArray:
        """``(N, len(Room))``: the place each resident uses for each kind of room."""
        return self._places

    def advance(self, t: float, dt: float) -> Behaviour:
        """Everyone's behaviour during the tick ``[t, t + dt)``; ticks come in time order."""
        self._replan(t)
        activity = self._planned_activity(t)
        planned = np.take_along_axis(self._places, ROOM_OF[activity][:, None], axis=1)[:, 0]
        place, walking = self._move(t, planned)
        return self._behave(t, dt, activity, place, walking)

    def settle(self, place: IntArray) -> None:
        """Where residents ended this tick after scenarios steered them: the next move starts from there."""
        resting = self._transit_until == -np.inf
        self._settled[resting] = place[resting]

    # -- the steps of advance ------------------------------------------------------------------------------------

    def _replan(self, t: float) -> None:
        day = np.floor((t + self._offset) / DAY_S).astype(np.int64)
        stale = np.flatnonzero(day != self._plan_day)
        if stale.size:
            day0 = day[stale] * DAY_S - self._offset[stale]
            self._start[stale], self._end[stale], self._wake[stale], self._bed[stale] = _plan(
                self._rng, day0, _take(self._habits, stale)
            )
            self._plan_day[stale] = day[stale]

    def _planned_activity(self, t: float) -> IntArray:
        active = (self._start <= t) & (t < self._end)  # (N, K)
        first = active.argmax(axis=1)
        asleep = (t < self._wake) | (t >= self._bed)
        filler = np.where(asleep, Activity.SLEEP, Activity.SIT)
        return np.where(active.any(axis=1), SLOT_ACTIVITY[first], filler).astype(np.int64)

    def _move(self, t: float, planned: IntArray) -> tuple[IntArray, BoolArray]:
        """Residents whose planned place changed walk through the hall first. Returns (place, in transit)."""
        fresh = self._settled < 0
        self._settled[fresh] = planned[fresh]
        leaving = (planned != self._settled) & (self._transit_until == -np.inf)
        self._transit_until[leaving] = t + self._rng.uniform(*TRANSIT_S, size=int(leaving.sum()))
        arrived = self._transit_until <= t
        self._settled[arrived] = planned[arrived]
        self._transit_until[arrived] = -np.inf
        walking = self._transit_until > -np.inf
        return np.where(walking, self._places[:, Room.HALL], self._settled), walking

    def _behave(self, t: float, dt: float, activity: IntArray, place: IntArray, walking: BoolArray) -> Behaviour:
        n = activity.shape[0]
        u = self._rng.random((4, n))  # bout start, bout length, a PIR-visible movement, turning over
        starts = (self._bout_until <= t) & (u[0] < dt / BOUT_EVERY_S[activity])
        lo, hi = BOUT_S[activity, 0], BOUT_S[activity, 1]
        self._bout_until = np.where(starts, t + lo + (hi - lo) * u[1], self._bout_until)
        bout = self._bout_until > t
        posture = np.where(walking, Posture.WALKING, np.where(bout, BOUT_POSTURE[activity], POSTURE[activity]))
        moving = walking | bout | (u[2] < 1.0 - (1.0 - MOVE_P[activity]) ** dt)
        asleep = activity == Activity.SLEEP
        turns = asleep & moving & (u[3] < TURN_OVER_P)
        self._side[turns] = self._rng.integers(0, 3, size=int(turns.sum()))
        settled = ~walking
        return Behaviour(
            activity=activity, place=place, posture=posture.astype(np.int64), moving=moving,
            in_bed=asleep & settled, in_chair=np.isin(activity, (Activity.SIT, Activity.NAP)) & settled & ~bout,
            lying_side=self._side.copy(),
        )  # fmt: skip


def _take(habits: HabitArrays, rows: IntArray) -> HabitArrays:
    return HabitArrays(*(getattr(habits, name)[rows] for name in HabitArrays.__slots__))


def _plan(rng: np.random.Generator, day0: FloatArray, h: HabitArrays) -> tuple[FloatArray, FloatArray, FloatArray,
                                                                               FloatArray]:  # fmt: skip
    """Plans of ``m`` residents for the local days starting at ``day0`` ``(m,)``: slot starts and ends ``(m, K)``,
    wake-up and bed times ``(m,)``, all epoch seconds."""
    m = day0.shape[0]

    def at(hours: FloatArray | float) -> FloatArray:
        return day0 + np.asarray(hours) * HOUR_S

    def minutes(lo: float, hi: float) -> FloatArray:
        return np.asarray(rng.uniform(lo, hi, m) * MINUTE_S)

    wake = at(h.wake_h + rng.normal(0, 0.3, m))
    bed = at(h.bed_h + rng.normal(0, 0.4, m))
    start, end = np.full((m, len(SLOTS)), NEVER), np.full((m, len(SLOTS)), NEVER)

    def slot(k: int, begin: FloatArray, length: FloatArray, happens: BoolArray | None = None) -> None:
        on = np.ones(m, bool) if happens is None else happens
        start[:, k] = np.where(on, begin, NEVER)
        end[:, k] = np.where(on, begin + length, NEVER)

    visits = np.minimum(rng.poisson(h.nocturia), NIGHT_SLOTS)
    after_midnight = rng.uniform(at(0.25), np.maximum(at(0.25), wake - 0.3 * HOUR_S), (2, m))
    slot(0, after_midnight[0], minutes(3, 8), visits >= 1)
    slot(1, after_midnight[1], minutes(3, 8), visits >= 2)
    evening = bed + 0.75 * HOUR_S
    slot(2, rng.uniform(evening, np.maximum(evening, at(23.9))), minutes(3, 8), (visits >= 3) & (evening < at(23.9)))
    morning = rng.random(m) < 0.5
    slot(3, at(np.where(morning, rng.uniform(9.5, 11.0, m), rng.uniform(14.5, 16.0, m))), minutes(40, 150),
         rng.random(m) < h.out_prob)  # fmt: skip
    wash = wake + minutes(2, 10)
    slot(4, wash, minutes(12, 30))
    slot(5, end[:, 4] + minutes(5, 20), minutes(20, 40))
    for k, hour in enumerate(DAY_TOILET_H):
        slot(6 + k, at(hour + rng.uniform(-0.6, 0.6, m)), minutes(3, 8))
    slot(10, bed - minutes(12, 20), minutes(5, 10))
    slot(11, at(h.lunch_h + rng.normal(0, 0.25, m)), minutes(30, 50))
    slot(12, at(h.dinner_h + rng.normal(0, 0.25, m)), minutes(30, 45))
    slot(13, end[:, 11] + minutes(10, 40), minutes(20, 75), rng.random(m) < h.nap_prob)
    return start, end, wake, bed
