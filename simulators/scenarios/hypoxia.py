"""A hypoxia episode: SpO2 falls over about 30 s to a low plateau, heart and breathing rates rise, then recovery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simulators.scenarios.base import GroundTruth, Incident, progress

FALL_S = 30.0  # time to reach the plateau
HR_RISE = 18.0  # bpm at the plateau: the heart compensates
RR_RISE = 8.0  # breaths/min at the plateau


@dataclass(frozen=True, slots=True)
class Hypoxia(Incident):
    truth: GroundTruth
    nadir: float = 84.0  # SpO2 at the plateau, %
    needs_wearable: ClassVar[bool] = True

    @classmethod
    def at(cls, resident_id: str, start: float, duration_s: float, nadir: float = 84.0) -> Hypoxia:
        truth = GroundTruth(resident_id, "hypoxia", start, start + duration_s, "spo2_low",
                            ("news2_urgent", "news2_emergency", "rr_high", "spo2_falling",
                             "baseline_deviation"))  # fmt: skip
        return cls(truth, nadir)

    def vitals(self, t: float, values: dict[str, float]) -> dict[str, float]:
        if not self.truth.start <= t < self.truth.end:
            return values
        depth = progress(self.truth, t, FALL_S)
        spo2 = values["spo2"] + depth * (self.nadir - values["spo2"])
        return values | {"spo2": round(spo2), "hr": values["hr"] + round(HR_RISE * depth),
                         "rr": values["rr"] + round(RR_RISE * depth)}  # fmt: skip
