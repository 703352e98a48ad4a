"""Vital-sign incidents: fever, tachycardia, bradycardia. (Hypoxia has its own module, the oldest scenario; sepsis,
hypotension and tachypnoea, in which the resident rests, are in illness.py.)"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from simulators.scenarios.base import GroundTruth, Incident, jitter, progress, within

HR_PER_C = 10.0  # bpm per degree of fever (Liebermeister's rule)
RR_PER_C = 3.0  # breaths/min per degree of fever
FEVER_SPO2_DROP = 1.0  # points of SpO2 lost above a degree of fever (higher oxygen demand)
ONSET_S = 10.0  # a paroxysmal arrhythmia starts within seconds
BRADY_ONSET_S = 60.0
ARRHYTHMIA_SD_BPM = 8.0  # beat-to-beat irregularity of a fast arrhythmia, as the wearable reads it


@dataclass(frozen=True, slots=True)
class Fever(Incident):
    """Temperature climbs over ``rise_s`` to ``peak_c``, with heart and breathing rates following; new confusion
    (``avpu`` = 1, NEWS2's "new confusion") from the peak when ``confused``."""

    truth: GroundTruth
    needs_wearable: ClassVar[bool] = True
    peak_c: float = 39.0
    rise_s: float = 2 * 3600.0
    confused: bool = False

    @classmethod
    def at(cls, resident_id: str, start: float, duration_s: float, peak_c: float = 39.0, rise_s: float = 7200.0,
           confused: bool = False) -> Fever:  # fmt: skip
        truth = GroundTruth(resident_id, "fever", start, start + duration_s, "temp_high",
                            ("news2_urgent", "news2_emergency", "hr_high", "rr_high", "temp_rising",
                             "baseline_deviation"))  # fmt: skip
        return cls(truth, peak_c, rise_s, confused)

    def vitals(self, t: float, values: dict[str, float]) -> dict[str, float]:
        if not within(self.truth, t):
            return values
        progress = min(1.0, (t - self.truth.start) / self.rise_s)
        rise = max(0.0, self.peak_c - values["temp"]) * (0.5 - 0.5 * math.cos(math.pi * progress))
        out = values | {"temp": round(values["temp"] + rise, 1), "hr": round(values["hr"] + HR_PER_C * rise),
                        "rr": round(values["rr"] + RR_PER_C * rise)}  # fmt: skip
        if rise > 1.0:
            out["spo2"] = values["spo2"] - FEVER_SPO2_DROP
        if self.confused and progress >= 1.0:
            out["avpu"] = 1.0
        return out


@dataclass(frozen=True, slots=True)
class Tachycardia(Incident):
    """A paroxysmal fast arrhythmia (e.g. AF with a fast ventricular response): abrupt onset and end."""

    truth: GroundTruth
    needs_wearable: ClassVar[bool] = True
    rate_bpm: float = 150.0
    seed: int = 0

    @classmethod
    def at(cls, resident_id: str, start: float, duration_s: float, rate_bpm: float = 150.0,
           seed: int = 0) -> Tachycardia:  # fmt: skip
        return cls(GroundTruth(resident_id, "tachycardia", start, start + duration_s, "hr_high",
                               ("news2_urgent", "news2_emergency", "baseline_deviation")),
                   rate_bpm, seed)  # fmt: skip

    def vitals(self, t: float, values: dict[str, float]) -> dict[str, float]:
        if not within(self.truth, t):
            return values
        onset = progress(self.truth, t, ONSET_S)
        irregular = ARRHYTHMIA_SD_BPM * float(jitter(self.seed, t, 1)[0])
        return values | {"hr": round(values["hr"] + onset * (self.rate_bpm + irregular - values["hr"]))}


@dataclass(frozen=True, slots=True)
class Bradycardia(Incident):
    """A slow rhythm (heart block, beta-blocker excess): the rate sinks over a minute to ``rate_bpm``."""

    truth: GroundTruth
    needs_wearable: ClassVar[bool] = True
    rate_bpm: float = 38.0

    @classmethod
    def at(cls, resident_id: str, start: float, duration_s: float, rate_bpm: float = 38.0) -> Bradycardia:
        return cls(GroundTruth(resident_id, "bradycardia", start, start + duration_s, "hr_low",
                               ("news2_urgent", "news2_emergency", "baseline_deviation")),
                   rate_bpm)  # fmt: skip

    def vitals(self, t: float, values: dict[str, float]) -> dict[str, float]:
        if not within(self.truth, t):
            return values
        onset = progress(self.truth, t, BRADY_ONSET_S)
        return values | {"hr": round(values["hr"] + onset * (self.rate_bpm - values["hr"]))}
