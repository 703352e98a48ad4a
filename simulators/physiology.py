"""Vital signs of all residents at once: resting baseline, circadian rhythm, sleep, exertion, chronic conditions,
slow physiological drift and measurement noise.

Effects, in the units of each vital (values for a healthy older adult; sources are the usual textbook figures):

- Exertion ``e`` (0 lying still .. about 0.7 walking, a first-order lag of ``EXERTION_TAU_S`` behind the posture):
  HR +30 e, RR +8 e, SBP +25 e, DBP +6 e, temperature +0.2 e; SpO2 -1.5 e (-4 e with COPD, which desaturates on
  effort).
- Sleep depth ``s`` (0 awake .. 1, lag ``SLEEP_TAU_S``): HR -8 s, RR -1.5 s, blood pressure dips 12 % (SBP) and
  10 % (DBP) ("dippers"), SpO2 -1 s (-2.5 s with COPD), temperature -0.1 s.
- Circadian rhythm (local time): HR +-3 peaking mid-afternoon, blood pressure +-4 mmHg peaking mid-morning (the
  morning surge), core temperature +-0.3 C peaking at 17:00 (its minimum near 05:00).
- Atrial fibrillation: an irregular rhythm, so readings scatter with an SD of ``AF_HR_SD`` bpm instead of 1.5.
- Drift: an AR(1) process per vital with time constant ``DRIFT_TAU_S`` (hydration, mood, the day's form).

Readings are rounded as devices report them: whole bpm, %, breaths/min and mmHg, temperature to 0.1 C.
"""

from __future__ import annotations

import numpy as np

from simulators.profiles import ATRIAL_FIBRILLATION, COPD, VITALS
from simulators.routine import DAY_S, HOUR_S
from simulators.state import Activity, Behaviour, FloatArray, IntArray, Posture
from simulators.world import World

EXERTION_TAU_S = 60.0  # heart rate settles within a couple of minutes of a change in effort
SLEEP_TAU_S = 20 * 60.0  # falling asleep deepens over tens of minutes
DRIFT_TAU_S = 30 * 60.0
EXERTION = np.array([0.0, 0.05, 0.2, 0.7])  # target by Posture: lying, sitting, standing, walking
AF_HR_SD = 9.0
NOISE_SD = np.array([1.5, 0.6, 0.8, 4.0, 3.0, 0.05])  # per reading, in VITALS order
DRIFT_SD = np.array([3.0, 0.5, 0.8, 5.0, 3.0, 0.1])
EXERTION_GAIN = np.array([30.0, -1.5, 8.0, 25.0, 6.0, 0.2])
COPD_EXERTION_SPO2 = -4.0
SLEEP_GAIN = np.array([-8.0, -1.0, -1.5, 0.0, 0.0, -0.1])
SLEEP_DIP = np.array([0.0, 0.0, 0.0, 0.12, 0.10, 0.0])  # fraction of the baseline lost in deep sleep
COPD_SLEEP_SPO2 = -2.5
CIRCADIAN = np.array([3.0, 0.0, 0.5, 4.0, 4.0, 0.3])  # amplitude
CIRCADIAN_PEAK_H = np.array([15.0, 15.0, 15.0, 10.0, 10.0, 17.0])
DECIMALS = (0, 0, 0, 0, 0, 1)
READINGS = (*VITALS, "steps")  # columns of Body.vitals


class Body:
    """Per-resident physiological state; ``update`` every tick, ``vitals`` when a wearable takes a reading."""

    def __init__(self, world: World, rng: np.random.Generator, utc_offset_s: FloatArray) -> None:
        n = len(world.residents)
        self._rng = rng
        self._offset = utc_offset_s
        self.baseline = np.array([[r.baseline[v] for v in VITALS] for r in world.residents]).reshape(n, len(VITALS))
        self._af = np.array([ATRIAL_FIBRILLATION in r.conditions for r in world.residents], dtype=bool)
        self._copd = np.array([COPD in r.conditions for r in world.residents], dtype=bool)
        self.cadence_hz = np.array([r.habits.cadence_hz for r in world.residents], dtype=np.float64)
        self.exertion = np.zeros(n)
        self.sleep = np.zeros(n)
        self._drift = np.zeros((n, len(VITALS)))
        self._drift_t = np.full(n, -np.inf)
        self.steps = np.zeros(n)
        self._steps_day = np.full(n, np.iinfo(np.int64).min)

    def update(self, t: float, dt: float, behaviour: Behaviour) -> None:
        """Advance exertion, sleep depth and the step count over the tick ``[t, t + dt)``."""
        self.exertion += (EXERTION[behaviour.posture] - self.exertion) * (1.0 - np.exp(-dt / EXERTION_TAU_S))
        asleep = (behaviour.activity == Activity.SLEEP) & ~behaviour.moving
        self.sleep += (asleep - self.sleep) * (1.0 - np.exp(-dt / SLEEP_TAU_S))
        day = np.floor((t + self._offset) / DAY_S).astype(np.int64)
        self.steps[day != self._steps_day] = 0.0  # the count restarts at local midnight
        self._steps_day = day
        self.steps += np.where(behaviour.posture == Posture.WALKING, self.cadence_hz * dt, 0.0)

    def vitals(self, t: float, rows: IntArray) -> FloatArray:
        """Readings ``(m, 7)`` of residents ``rows`` ``(m,)`` at ``t``, columns ``READINGS``, rounded like devices."""
        m = rows.shape[0]
        base = self.baseline[rows]
        e, s = self.exertion[rows, None], self.sleep[rows, None]
        hour = ((t + self._offset[rows]) % DAY_S) / HOUR_S
        circadian = CIRCADIAN * np.cos(2 * np.pi * (hour[:, None] - CIRCADIAN_PEAK_H) / 24.0)
        exertion_gain = np.where(self._copd[rows, None] & (np.arange(len(VITALS)) == 1), COPD_EXERTION_SPO2,
                                 EXERTION_GAIN)  # fmt: skip
        sleep_gain = np.where(self._copd[rows, None] & (np.arange(len(VITALS)) == 1), COPD_SLEEP_SPO2, SLEEP_GAIN)
        noise_sd = np.where(self._af[rows, None] & (np.arange(len(VITALS)) == 0), AF_HR_SD, NOISE_SD)
        values = (base + exertion_gain * e + sleep_gain * s - SLEEP_DIP * base * s + circadian
                  + self._drifted(t, rows) + self._rng.normal(0.0, 1.0, (m, len(VITALS))) * noise_sd)  # fmt: skip
        values[:, 1] = np.minimum(values[:, 1], 100.0)
        out = np.empty((m, len(READINGS)))
        for k, decimals in enumerate(DECIMALS):
            out[:, k] = np.round(values[:, k], decimals)
        out[:, -1] = np.floor(self.steps[rows])
        return out

    def _drifted(self, t: float, rows: IntArray) -> FloatArray:
        """Advance the drift of ``rows`` to ``t`` (an exact AR(1) step over each row's own interval)."""
        a = np.exp(-(t - self._drift_t[rows]) / DRIFT_TAU_S)[:, None]
        fresh = np.sqrt(1.0 - a * a) * DRIFT_SD * self._rng.normal(0.0, 1.0, (rows.shape[0], len(VITALS)))
        self._drift[rows] = a * self._drift[rows] + fresh
        self._drift_t[rows] = t
        return self._drift[rows]
