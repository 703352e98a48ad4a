"""Visitors to homes (family, a carer, a neighbour): they come in through the front door, stay in the living room
and leave. They move the living room's and hall's motion sensors and open the door, which a rule watching a single
resident's home must tolerate. The residents at home see them out: into the hall with them, and back inside
``SEE_OUT_S`` after they have gone (the door shut behind them), so that the next activity inside comes after the
front door, as a real home shows (to the alert core a front-door change with no activity inside after it is a
departure, docs/rules.md). At most one visit a day per home; care sites' visitors are not modelled.

Nobody visits a home while one of its residents is in an incident that happens alone (`Incident.alone`: a visitor
would find a fallen resident, and would be the activity a no-activity incident lacks): such incidents are known
when visits are planned, and a visit that would overlap one leaves ``CLEAR_S`` before it starts, or is called off
if that leaves no visit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simulators.routine import DAY_S, HOUR_S
from simulators.state import BoolArray, FloatArray, IntArray, Room
from simulators.wearing import Episode
from simulators.world import HOME, World

VISIT_ARRIVAL_H = (10.0, 18.0)  # local hours at which visitors arrive
VISIT_S = (30 * 60.0, 120 * 60.0)
DOORWAY_S = 20.0  # in the hall on the way in and on the way out
VISITOR_MOVE_P = 0.3  # per second: visitors move about more than a resident watching TV
SEE_OUT_S = 60.0  # the host stays in the hall this long after the visitor has gone (longer than a PIR's hold)
CLEAR_S = 300.0  # a visit ends this long before an incident that happens alone: the host is back inside by then
AloneWindow = tuple[int, float, float]  # a resident and the [from, until) of an incident they must be alone in


class Visitors:
    """One visitor slot per home; ``(H,)`` arrays over the world's homes."""

    def __init__(self, world: World, rng: np.random.Generator, utc_offset_s: FloatArray,
                 alone: Sequence[AloneWindow] = ()) -> None:  # fmt: skip
        self._rng = rng
        homes = {s.site_id for s in world.sites if s.kind == HOME}
        first: dict[str, int] = {}
        for i, r in enumerate(world.residents):
            if r.site_id in homes:
                first.setdefault(r.site_id, i)
        self.host = np.array(list(first.values()), dtype=np.int64)  # a resident of each home
        self._hosts = [[i for i, r in enumerate(world.residents) if r.site_id == s] for s in first]
        self._home_of = np.full(len(world.residents), len(first), dtype=np.int64)  # len(first): no home of ours
        for k, hosts in enumerate(self._hosts):
            self._home_of[hosts] = k
        places = np.array([world.residents[r].places for r in self.host.tolist()], dtype=np.int64)
        self._hall = places[:, Room.HALL] if places.size else np.empty(0, np.int64)
        self._living = places[:, Room.LIVING_ROOM] if places.size else np.empty(0, np.int64)
        self.outside = places[:, Room.OUTSIDE] if places.size else np.empty(0, np.int64)
        self._prob = np.array([world.residents[r].habits.visit_prob for r in self.host.tolist()], dtype=np.float64)
        self._utc = utc_offset_s  # shared with the simulation, which fills it at its first step
        self._day = np.full(self.host.shape[0], np.iinfo(np.int64).min)
        self._start = np.full(self.host.shape[0], -np.inf)
        self._end = np.full(self.host.shape[0], -np.inf)
        self._alone: list[list[tuple[float, float]]] = [[] for _ in self._hosts]  # per home, sorted
        for resident, begin, until in sorted(alone, key=lambda window: window[1]):
            if self._home_of[resident] < len(self._hosts):
                self._alone[self._home_of[resident]].append((begin, until))

    def advance(self, t: float) -> tuple[IntArray, BoolArray, list[Episode], BoolArray]:
        """Visitors' places ``(H,)`` (the home's outside place when none is there), whether each moves, the visits
        planned at this tick (one episode per resident of the home), and the residents ``(N,)`` seeing a visitor
        out now (in the hall, unless they are out)."""
        episodes = self._replan(t)
        inside = (self._start <= t) & (t < self._end)
        doorway = inside & ((t < self._start + DOORWAY_S) | (t >= self._end - DOORWAY_S))
        place = np.where(doorway, self._hall, np.where(inside, self._living, self.outside))
        moving = inside & (doorway | (self._rng.random(self.host.shape[0]) < VISITOR_MOVE_P))
        seeing_out = (self._end - DOORWAY_S <= t) & (t < self._end + SEE_OUT_S)
        return place, moving, episodes, np.append(seeing_out, False)[self._home_of]

    def _replan(self, t: float) -> list[Episode]:
        offset = self._utc[self.host]
        day = np.floor((t + offset) / DAY_S).astype(np.int64)
        stale = np.flatnonzero(day != self._day)
        if not stale.size:
            return []
        self._day[stale] = day[stale]
        day0 = day[stale] * DAY_S - offset[stale]
        comes = self._rng.random(stale.shape[0]) < self._prob[stale]
        start = day0 + self._rng.uniform(*VISIT_ARRIVAL_H, stale.shape[0]) * HOUR_S
        end = start + self._rng.uniform(*VISIT_S, stale.shape[0])
        for k in np.flatnonzero(comes).tolist():
            start[k], end[k] = self._clear_of_alone(int(stale[k]), float(start[k]), float(end[k]))
        comes &= start < end
        self._start[stale] = np.where(comes, start, -np.inf)
        self._end[stale] = np.where(comes, end, -np.inf)
        return [Episode(r, "visitor", float(start[k]), float(end[k]))
                for k in np.flatnonzero(comes).tolist() for r in self._hosts[stale[k]]]  # fmt: skip

    def _clear_of_alone(self, home: int, start: float, end: float) -> tuple[float, float]:
        """The visit ``[start, end)`` cut short to end ``CLEAR_S`` before the home's first incident that happens
        alone and overlaps it (with its see-out and return); ``end <= start`` when nothing of it is left."""
        for begin, until in self._alone[home]:
            if start < until and begin - CLEAR_S < end:
                leaves = begin - CLEAR_S
                return start, min(end, leaves) if start + 2 * DOORWAY_S < leaves else start
        return start, end
