"""The front door is in the hall: nobody crosses it from or into another room.

The daily routine walks residents through the hall whenever they change rooms (`simulators.routine`), but an
incident may steer a resident who is out straight into a room (a no-activity incident into the living-room chair)
or one who is in a room straight outside (a night wanderer leaving). A real home's sensors show the front door and
the hall's motion sensor then; the door alone looks like a departure to the alert core (the resident is *out* from
a front-door change after the last activity inside until the next activity inside, docs/rules.md). So a resident
steered across the front door from or to a room other than the hall walks through the hall for ``HALL_S`` first
and gets where the incident put them after it (an incident's silence begins that much after its ground truth's
start).
"""

from __future__ import annotations

import numpy as np

from simulators.state import Behaviour, IntArray, Posture, Room

HALL_S = 15.0  # from the front door to a room or back, within the routine's transit times (routine.TRANSIT_S)


class Doorway:
    """Each resident's place at the last tick and, for those walking through the hall, until when ``(N,)``."""

    def __init__(self, places: IntArray) -> None:
        self._hall, self._outside = places[:, Room.HALL], places[:, Room.OUTSIDE]
        self._last = np.full(places.shape[0], -1, dtype=np.int64)  # -1: not placed yet
        self._until = np.full(places.shape[0], -np.inf)

    def steer(self, t: float, behaviour: Behaviour) -> None:
        """Residents steered across the front door from or to a room other than the hall walk through the hall."""
        place, last = behaviour.place, self._last
        out_now, out_before = place == self._outside, last == self._outside
        beside = (place != self._hall) & (last != self._hall) & (last >= 0)
        crossing = beside & (out_now != out_before) & (self._until == -np.inf)
        self._until[crossing] = t + HALL_S
        walking = self._until > t
        self._until[~walking] = -np.inf
        place[walking] = self._hall[walking]
        behaviour.posture[walking], behaviour.moving[walking] = Posture.WALKING, True
        behaviour.in_bed[walking] = behaviour.in_chair[walking] = False
        self._last = place.copy()
