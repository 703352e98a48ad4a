"""Whether each wearable is on its resident's body. People take them off: to charge them (in the morning, when the
battery runs low) and to shower. These are normal episodes, not incidents: the ground truth lists them as
background with no rule expected to fire.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulators.devices import CHARGE_PER_H
from simulators.scenarios.base import NO_RULE
from simulators.state import NO_DEVICE, Activity, BoolArray, FloatArray, IntArray

CHARGE_BELOW = 25.0  # % at which a resident puts the wearable on its charger during the morning wash
CHARGED = 95.0  # % at which it goes back on
SHOWER_P = 0.4  # share of morning washes that are showers, wearable off
SHOWER_OFF_S = (10 * 60.0, 25 * 60.0)


@dataclass(frozen=True, slots=True)
class Episode:
    """A background episode for the ground truth: resident row, what, and its interval; the device it concerns
    (``NO_DEVICE``: the resident's wearable, if any) and the rule it rightly raises (``NO_RULE`` for most ordinary
    life; a battery running low before its charge does raise ``battery_low``)."""

    resident: int
    what: str
    start: float
    end: float
    device: int = NO_DEVICE
    rule: str = NO_RULE


class Wearing:
    """``(N,)`` state of the residents' wearables: off until when, and on the charger."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self._rng = rng
        self._off_until = np.full(n, -np.inf)
        self.charging = np.zeros(n, dtype=bool)
        self._activity = np.full(n, -1, dtype=np.int64)

    def update(self, t: float, activity: IntArray, battery: FloatArray) -> tuple[BoolArray, list[Episode]]:
        """Whether each wearable is on the body this tick, given each resident's ``activity`` and wearable
        ``battery`` ``(N,)`` (NaN for a resident without a wearable). Returns (worn, episodes that began)."""
        washing = (activity == Activity.WASH) & (self._activity != Activity.WASH)
        self._activity = activity.copy()
        episodes: list[Episode] = []
        self.charging &= battery < CHARGED
        charge = np.flatnonzero(washing & (battery < CHARGE_BELOW) & ~self.charging)
        self.charging[charge] = True
        for r in charge.tolist():
            episodes.append(Episode(r, "charging", t, t + (CHARGED - battery[r]) / CHARGE_PER_H * 3600.0))
        shower = np.flatnonzero(washing & ~self.charging & (self._rng.random(activity.shape[0]) < SHOWER_P))
        self._off_until[shower] = t + self._rng.uniform(*SHOWER_OFF_S, shower.shape[0])
        episodes.extend(Episode(r, "shower_off_wrist", t, float(self._off_until[r])) for r in shower.tolist())
        return ~self.charging & (t >= self._off_until), episodes
