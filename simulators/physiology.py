"""Vital signs of a simulated resident: their resting baseline, a circadian rhythm and measurement noise."""

from __future__ import annotations

import math

import numpy as np

from simulators.population import SimResident

DAY_S = 86_400.0
NOISE_SD = {"hr": 2.0, "spo2": 0.6, "rr": 1.0, "sbp": 4.0, "dbp": 3.0, "temp": 0.05}
CIRCADIAN_AMPLITUDE = {"hr": 6.0, "spo2": 0.0, "rr": 1.0, "sbp": 8.0, "dbp": 5.0, "temp": 0.3}  # peak mid-afternoon


def vitals(resident: SimResident, t: float, rng: np.random.Generator) -> dict[str, float]:
    phase = math.cos(2 * math.pi * ((t % DAY_S) / DAY_S - 15 / 24))  # 1 at 15:00 UTC
    values = {
        metric: base + CIRCADIAN_AMPLITUDE[metric] * phase + rng.normal(0, NOISE_SD[metric])
        for metric, base in resident.baseline.items()
    }
    values["spo2"] = min(100.0, round(values["spo2"]))
    return values
