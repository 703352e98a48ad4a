"""Home sensors' states from where people are and what they do; each reports a change as an event.

- PIR motion: occupied while someone moved in its room within the last ``PIR_HOLD_S`` (how such sensors clear).
- Door contact: open for a few seconds whenever someone crosses it (a door's ``inside`` places on one side).
- Bed and chair: occupied while their resident lies in that bed or sits in that chair.
- Bathroom presence: occupied while anyone is in that bathroom.
- Smoke, gas, water: the alarm state a scenario sets.

"People" are agents: the residents, then one visitor per home. Environment sensors and SOS buttons have no
state here (climate.py, scenarios).
"""

from __future__ import annotations

import numpy as np

from simulators.devices import Fleet
from simulators.state import BoolArray, IntArray
from simulators.world import DEVICE_KINDS, World

PIR_HOLD_S = 60.0  # occupancy clears this long after the last movement (Aqara/Hue-type PIRs: 60-90 s)
DOOR_OPEN_S = (4.0, 12.0)  # through the door and shut again
EVENT_KIND = {"motion": "motion", "door": "door", "bed": "bed", "chair": "chair", "bathroom": "bathroom",
              "smoke": "smoke", "gas": "gas", "water": "water_leak"}  # device kind -> carewatch event kind  # fmt: skip
UNREPORTED = -1  # before its first report a sensor's state is unknown to the platform: the first tick reports all


def _of_kind(fleet: Fleet, *kinds: str) -> IntArray:
    return np.flatnonzero(np.isin(fleet.kind, [DEVICE_KINDS.index(k) for k in kinds]))


class HomeSensors:
    """``state`` ``(D,)`` int8 of every event sensor (0 for other devices) and what was last reported."""

    def __init__(self, world: World, fleet: Fleet, rng: np.random.Generator) -> None:
        d, p = len(world.devices), len(world.places)
        self._rng = rng
        self._fleet = fleet
        self._pir, self._door = _of_kind(fleet, "motion"), _of_kind(fleet, "door")
        self._bed, self._chair = _of_kind(fleet, "bed"), _of_kind(fleet, "chair")
        self._bathroom, self._alarm = _of_kind(fleet, "bathroom"), _of_kind(fleet, "smoke", "gas", "water")
        self.reporting = np.zeros(d, dtype=bool)  # devices with a state to report as events
        for devices in (self._pir, self._door, self._bed, self._chair, self._bathroom, self._alarm):
            self.reporting[devices] = True
        self.state = np.zeros(d, dtype=np.int8)
        self.reported = np.full(d, UNREPORTED, dtype=np.int8)
        self._open_until = np.full(d, -np.inf)
        self._last_motion = np.full(p, -np.inf)
        doors: list[set[int]] = [set() for _ in range(p)]
        for i, device in enumerate(world.devices):
            for place in device.inside:
                doors[place].add(i)
        self._doors_of: list[frozenset[int]] = [frozenset(s) for s in doors]
        self._previous: IntArray | None = None

    def update(self, t: float, place: IntArray, moving: BoolArray, residents: int, in_bed: BoolArray,
               in_chair: BoolArray, alarm: np.ndarray) -> None:  # fmt: skip
        """New states at ``t``. ``place``, ``moving`` ``(A,)`` for agents, the first ``residents`` of them the
        residents, whose ``in_bed``, ``in_chair`` are ``(N,)``; ``alarm`` ``(D,)`` int8."""
        self._open_doors(t, place)
        self._last_motion[place[moving]] = t
        fleet = self._fleet
        self.state[self._pir] = t - self._last_motion[fleet.place[self._pir]] < PIR_HOLD_S
        self.state[self._door] = self._open_until[self._door] > t
        for devices, occupied in ((self._bed, in_bed), (self._chair, in_chair)):
            owner = fleet.resident[devices]
            self.state[devices] = occupied[owner] & (place[owner] == fleet.place[devices])
        present = np.bincount(place[:residents], minlength=self._last_motion.shape[0])
        self.state[self._bathroom] = present[fleet.place[self._bathroom]] > 0
        self.state[self._alarm] = alarm[self._alarm]

    def changes(self, online: BoolArray) -> IntArray:
        """Reporting devices whose state differs from their last report and that can report it now (``online``
        ``(D,)``); they count as reported from here on."""
        changed = np.flatnonzero(self.reporting & online & (self.state != self.reported))
        self.reported[changed] = self.state[changed]
        return changed

    def _open_doors(self, t: float, place: IntArray) -> None:
        previous, self._previous = self._previous, place.copy()
        if previous is None:
            return
        for agent in np.flatnonzero(place != previous).tolist():
            for door in self._doors_of[previous[agent]] ^ self._doors_of[place[agent]]:
                self._open_until[door] = t + float(self._rng.uniform(*DOOR_OPEN_S))
