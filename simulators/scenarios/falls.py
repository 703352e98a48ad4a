"""Falls: a fall with the resident up again within minutes, a fall with a long lie, and syncope (a faint).

The accelerometer shows what a waist-worn device records (`simulators.accel.fall_pattern`): upright activity for
``PRE_FALL_S`` before, loss of balance with the body turning, an impact of ``peak_g`` (2.5-6 g at the waist), damped
rebounds, then lying still on the floor at more than 45 degrees from upright. Room sensors agree: no movement, the
bed and chair empty. The resident falls in the hall (``FALL_ROOM``) and stays there: without that, the daily routine
went on moving them from room to room while they lay on the floor, and a room sensor that saw them "walk" into the
bathroom looked like recovery to the long-lie rule. The wearable's own fall detection reports a ``fall`` event
``DEVICE_DELAY_S`` after the impact when ``device_reports`` (not all wearables detect falls, so a rule must work
from the stream too).

The ground truth's start is the impact; its end is when the resident is up again (or found).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from simulators.accel import LYING_SIDES, UPRIGHT, fall_pattern
from simulators.scenarios.base import GroundTruth, Incident
from simulators.state import Activity, FloatArray, Posture, Room
from simulators.tick import Tick

FALL_ROOM = Room.HALL  # where the resident walks before the fall and lies after it
PRE_FALL_S = 10.0  # upright and active before the fall: the detector compares the posture 1-2.5 s before impact
DEVICE_DELAY_S = 3.0  # a wearable confirms its own detection after a few seconds of stillness
LONG_LIE_S = 20 * 60.0  # on the floor this long is a "long lie" (the literature's threshold is often an hour)
STRESS_HR = 15.0  # bpm added after a fall, fading over STRESS_TAU_S
STRESS_TAU_S = 600.0
PRODROME_S = 40.0  # a faint announces itself: heart rate and blood pressure fall before the collapse
SYNCOPE_HR, SYNCOPE_SBP = 42.0, 82.0  # vasovagal syncope at its lowest


@dataclass(frozen=True, slots=True)
class Fall(Incident):
    truth: GroundTruth
    needs_wearable: ClassVar[bool] = True
    alone: ClassVar[bool] = True
    peak_g: float = 4.0
    side: int = 0  # how the resident lies afterwards: 0 on the back, 1 left, 2 right, 3 face down
    device_reports: bool = True
    seed: int = 0
    descent_s: float = 0.8  # from losing balance to the impact
    free_fall_g: float = 0.4  # |a| at the lowest point of the descent

    @classmethod
    def at(cls, resident_id: str, impact: float, lie_s: float = 90.0, *, peak_g: float = 4.0, side: int = 0,
           device_reports: bool = True, seed: int = 0) -> Fall:  # fmt: skip
        """A fall at ``impact``, on the floor for ``lie_s``: a long lie from ``LONG_LIE_S`` on."""
        if lie_s >= LONG_LIE_S:
            truth = GroundTruth(resident_id, "fall_long_lie", impact, impact + lie_s, "fall_long_lie",
                                ("fall", "no_activity"))  # fmt: skip
        else:
            truth = GroundTruth(resident_id, "fall", impact, impact + lie_s, "fall")
        return cls(truth, peak_g, side, device_reports, seed)

    @property
    def impact(self) -> float:
        return self.truth.start

    @property
    def active_from(self) -> float:
        return self.impact - PRE_FALL_S

    @property
    def pre_posture(self) -> Posture:
        """Upright before the fall: walking (a trip), or standing (a faint)."""
        return Posture.WALKING

    def steer(self, tick: Tick) -> None:
        r = tick.index.resident(self.truth.resident_id)
        b = tick.behaviour
        b.in_bed[r] = b.in_chair[r] = False
        b.place[r] = tick.place_of(r, FALL_ROOM)
        if tick.t < self.impact:
            b.posture[r], b.moving[r] = self.pre_posture, True
            return
        b.activity[r], b.posture[r], b.lying_side[r], b.moving[r] = Activity.FLOOR, Posture.LYING, self.side, False
        reported = self.impact + DEVICE_DELAY_S
        if self.device_reports and tick.covers(reported):
            tick.emit(tick.index.device_of(r, "wearable"), "fall", 1.0, reported)

    def vitals(self, t: float, values: dict[str, float]) -> dict[str, float]:
        if t < self.impact:
            return values
        return values | {"hr": values["hr"] + round(STRESS_HR * np.exp(-(t - self.impact) / STRESS_TAU_S))}

    def motion(self, t: float, offsets: FloatArray, block: FloatArray, rate_hz: float) -> FloatArray:
        tau = t + offsets - self.impact
        if tau[-1] < -self.descent_s:
            return block
        rng = np.random.default_rng([self.seed, round(t * 1000)])
        fall = fall_pattern(tau, rate_hz, UPRIGHT, LYING_SIDES[self.side], self.peak_g, self.descent_s,
                            self.free_fall_g, rng)  # fmt: skip
        return np.where(np.isnan(fall), block, fall)


@dataclass(frozen=True, slots=True)
class Syncope(Fall):
    """A faint: heart rate and blood pressure sink over ``PRODROME_S``, the resident collapses from standing (a
    slower descent, a softer impact), lies unconscious, and recovers."""

    @classmethod
    def faint(cls, resident_id: str, collapse: float, lie_s: float = 120.0, *, peak_g: float = 3.0, side: int = 1,
              device_reports: bool = False, seed: int = 0) -> Syncope:  # fmt: skip
        truth = GroundTruth(resident_id, "syncope", collapse, collapse + lie_s, "fall",
                            ("hr_low", "sbp_low", "news2_urgent", "news2_emergency"))  # fmt: skip
        return cls(truth, peak_g, side, device_reports, seed, descent_s=1.2, free_fall_g=0.6)

    @property
    def active_from(self) -> float:
        return self.impact - max(PRE_FALL_S, PRODROME_S)

    @property
    def pre_posture(self) -> Posture:
        return Posture.STANDING

    def vitals(self, t: float, values: dict[str, float]) -> dict[str, float]:
        depth = float(np.clip((t - (self.impact - PRODROME_S)) / PRODROME_S, 0.0, 1.0))
        if t >= self.impact:  # consciousness and circulation return over a couple of minutes
            depth = float(np.exp(-(t - self.impact) / 120.0))
        out = values | {"hr": round(values["hr"] + depth * (SYNCOPE_HR - values["hr"])),
                        "sbp": round(values["sbp"] + depth * (SYNCOPE_SBP - values["sbp"])),
                        "dbp": round(values["dbp"] - depth * 0.3 * values["dbp"])}  # fmt: skip
        if self.impact <= t < self.truth.end and depth > 0.5:
            out["avpu"] = 1.0  # not alert: unconscious or just coming round
        return out
