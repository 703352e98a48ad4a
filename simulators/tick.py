"""What a scenario sees and may change at one tick of a simulation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from simulators.index import WorldIndex
from simulators.state import NO_DEVICE, Behaviour, BoolArray, FloatArray, IntArray, Room


@dataclass(frozen=True, slots=True)
class Emitted:
    """An event a scenario makes a device send (an SOS press, a wearable's own fall detection)."""

    device: int
    kind: str  # a carewatch.catalog.EVENT_KINDS entry
    value: float
    ts: float


@dataclass(slots=True)
class Tick:
    """The world at simulated time ``t``, for the tick ``[t, t + dt)``, as active scenarios steer it.

    Every array is recomputed each tick (a scenario sets what it needs on every tick it is active), except
    ``battery``, the devices' own charge:

    - ``behaviour``: every resident's place, activity, posture... (`simulators.state.Behaviour`).
    - ``worn`` ``(N,)``: the resident's wearable is on their body.
    - ``offline`` ``(D,)``: the device sends nothing.
    - ``alarm`` ``(D,)`` int8: a smoke, gas or water detector sounds.
    - ``battery`` ``(D,)`` %: persists; a scenario may lower it (a failing cell) or restore it (replaced).
    - ``outdoor_c`` ``(P,)``: the day's mean outdoor temperature around those places, NaN for the site's own
      (a heat wave sets a summer's, a heating failure a winter's).
    - ``heating_off`` ``(P,)``: the heating of those places has failed.
    - ``artefact`` ``(N,)`` int8: 1 = the wearable's vital-sign readings are garbage this tick.
    """

    t: float
    dt: float
    behaviour: Behaviour
    worn: BoolArray
    offline: BoolArray
    alarm: npt.NDArray[np.int8]
    battery: FloatArray
    outdoor_c: FloatArray
    heating_off: BoolArray
    artefact: npt.NDArray[np.int8]
    index: WorldIndex
    places: IntArray  # (N, len(Room)): the place each resident uses for each kind of room
    emitted: list[Emitted] = field(default_factory=list)

    def covers(self, ts: float) -> bool:
        """Whether ``ts`` falls within this tick."""
        return self.t <= ts < self.t + self.dt

    def place_of(self, resident: int, room: Room) -> int:
        return int(self.places[resident, room])

    def emit(self, device: int, kind: str, value: float, ts: float) -> None:
        if device != NO_DEVICE:
            self.emitted.append(Emitted(device, kind, value, ts))
