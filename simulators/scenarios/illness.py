"""Acute illness seen in several vital signs: sepsis, hypotension, tachypnoea. The unwell resident rests.

Each incident takes its resident's readings over an onset ramp to a plateau drawn for it (the recipes in
`simulators.scenarios.library` draw them), where each reading scatters around the plateau (``HR_SD``, ``RR_SD``,
``SBP_SD``), clipped to ``CLIP_SD`` deviations: a plateau drawn ``CLIP_SD`` deviations inside a limit keeps every
reading inside it, which is what lets a recipe promise that its expected rule's condition holds for the whole plateau.

*Resting.* The alert core counts readings at rest only for ``rr_high``, ``sbp_high``, ``dbp_high`` and NEWS2
(readings during body movement and 5 minutes after do not count: alerts.rules.threshold, early_warning). A breathless,
dizzy or septic older adult rests, so during these incidents the resident does not walk: in bed when the routine has
them asleep, else in the living-room chair, awake and shifting now and then (a PIR sees them, the wearable counts no
step). A night-time toilet visit becomes a few minutes in that chair (too unwell to go further), shorter than the
night-wandering rule's 30 minutes out of bed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simulators.scenarios.base import GroundTruth, Incident, jitter, progress, within
from simulators.state import Activity, Posture, Room
from simulators.tick import Tick

CLIP_SD = 2.0  # a reading scatters at most this many SDs from the plateau
HR_SD, RR_SD, SBP_SD = 2.0, 0.8, 2.0  # scatter of a reading around the plateau (the physiology's noise for RR)
SEPSIS_RAMP_S = 30 * 60.0  # a septic deterioration develops over tens of minutes to hours
HYPOTENSION_RAMP_S = 5 * 60.0  # a fall in pressure from dehydration or a drug's peak effect, over minutes
# A fall in systolic pressure of 20 mmHg is the consensus threshold of orthostatic hypotension (Freeman et al., Clin
# Auton Res 2011;21:69-72). A plateau drawn at 85 for a resident who sleeps at 88 is their ordinary night, not an
# incident; the evaluation drew such a truth (seed 17: a plateau of 78 for a sleeping pressure of about 88).
HYPOTENSION_MIN_FALL = 20.0
TACHYPNOEA_RAMP_S = 5 * 60.0
TACHYPNOEA_HR_RISE = 10.0  # bpm: the work of breathing and hypoxaemia raise the pulse


@dataclass(frozen=True, slots=True)
class Course:
    """A kind of illness: its scenario name and rules for the ground truth, and how long its onset ramp takes."""

    scenario: str
    expected_rule: str
    also: tuple[str, ...]
    ramp_s: float


class Resting(Incident):
    """An incident during which its resident rests (module docstring) and wears the wearable; its readings come
    from ``unwell`` while it is active, ``onset`` going from 0 to 1 over its course's ramp."""

    __slots__ = ()
    needs_wearable: ClassVar[bool] = True
    course: ClassVar[Course]

    @classmethod
    def truth_of(cls, resident_id: str, start: float, duration_s: float) -> GroundTruth:
        """The ground truth of this course's incident for ``resident_id`` from ``start`` for ``duration_s``."""
        c = cls.course
        # Resting still in the chair for hours of the day is what no_activity is for: it may rightly fire too.
        return GroundTruth(
            resident_id, c.scenario, start, start + duration_s, c.expected_rule, (*c.also, "no_activity")
        )

    def vitals(self, t: float, values: dict[str, float]) -> dict[str, float]:
        if not within(self.truth, t):
            return values
        return self.unwell(t, progress(self.truth, t, self.course.ramp_s), values)

    def unwell(self, t: float, onset: float, values: dict[str, float]) -> dict[str, float]:
        raise NotImplementedError

    def steer(self, tick: Tick) -> None:
        r, b = tick.index.resident(self.truth.resident_id), tick.behaviour
        if b.activity[r] == Activity.SLEEP:
            b.posture[r], b.moving[r] = Posture.LYING, False
            b.place[r], b.in_bed[r], b.in_chair[r] = tick.place_of(r, Room.BEDROOM), True, False
            return
        b.activity[r], b.posture[r], b.moving[r] = Activity.SIT, Posture.SITTING, True
        b.place[r], b.in_bed[r], b.in_chair[r] = tick.place_of(r, Room.LIVING_ROOM), False, True


def toward(value: float, plateau: float, onset: float, scatter: float) -> float:
    """A reading ``onset`` (0..1) of the way from ``value`` to the plateau, scattering by ``scatter`` there."""
    return value + onset * (plateau + scatter - value)


def scatter(seed: int, t: float, *sd: float) -> list[float]:
    """Each reading's scatter at ``t`` with standard deviations ``sd``, clipped to ``CLIP_SD`` of them."""
    return [s * max(-CLIP_SD, min(CLIP_SD, float(z))) for s, z in zip(sd, jitter(seed, t, len(sd)), strict=True)]


def _diastolic(values: dict[str, float], sbp: float) -> float:
    """The diastolic pressure falling in proportion with the systolic (the resident's own pulse-pressure ratio)."""
    return float(round(values["dbp"] * sbp / values["sbp"]))


@dataclass(frozen=True, slots=True)
class Sepsis(Resting):
    """An infection that deteriorates into sepsis: respiration, pulse and temperature rise (or the temperature
    falls: older adults often mount no fever), systolic pressure falls, SpO2 drops a few points, and from the
    plateau the resident may be newly confused (``avpu`` = 1, NEWS2's "new confusion", qSOFA's altered mentation).
    Sepsis-3 (Singer et al., JAMA 2016;315:801-10) screens outside intensive care with qSOFA (Seymour et al., JAMA
    2016;315:762-74): respiration >= 22/min, systolic <= 100 mmHg, altered mentation; the RCP's NEWS2 (2017) asks to
    think of sepsis from an aggregate of 5, its urgent response."""

    truth: GroundTruth
    course: ClassVar[Course] = Course("sepsis", "news2_urgent", ("news2_emergency", "rr_high", "sbp_low", "temp_high",
                                      "temp_rising", "spo2_low", "spo2_falling", "baseline_deviation"),
                                      SEPSIS_RAMP_S)  # fmt: skip
    rr: float = 26.0
    sbp: float = 92.0
    hr: float = 110.0
    temp_c: float = 38.8
    spo2_drop: float = 3.0
    confused: bool = False
    seed: int = 0

    def unwell(self, t: float, onset: float, values: dict[str, float]) -> dict[str, float]:
        hr, rr, sbp = scatter(self.seed, t, HR_SD, RR_SD, SBP_SD)
        systolic = round(toward(values["sbp"], self.sbp, onset, sbp))
        temp = round(toward(values["temp"], self.temp_c, onset, 0.0), 1)
        out = values | {"hr": round(toward(values["hr"], self.hr, onset, hr)),
                        "rr": round(toward(values["rr"], self.rr, onset, rr)), "sbp": systolic,
                        "dbp": _diastolic(values, systolic), "temp": temp,
                        "spo2": values["spo2"] - round(onset * self.spo2_drop)}  # fmt: skip
        if self.confused and onset >= 1.0:
            out["avpu"] = 1.0
        return out


@dataclass(frozen=True, slots=True)
class Hypotension(Resting):
    """Systolic pressure falls to ``sbp`` (dehydration, or an antihypertensive's excess: in older adults a common
    cause of dizziness, confusion and falls), or ``HYPOTENSION_MIN_FALL`` under the resident's own pressure when
    that is lower (a resident already low asleep), the diastolic with it; the pulse rises by ``hr_rise`` (a
    baroreflex that age and beta-blockers blunt)."""

    truth: GroundTruth
    course: ClassVar[Course] = Course("hypotension", "sbp_low", ("news2_urgent", "news2_emergency",
                                      "baseline_deviation"), HYPOTENSION_RAMP_S)  # fmt: skip
    sbp: float = 80.0
    hr_rise: float = 10.0
    seed: int = 0

    def unwell(self, t: float, onset: float, values: dict[str, float]) -> dict[str, float]:
        (sbp,) = scatter(self.seed, t, SBP_SD)
        plateau = min(self.sbp, values["sbp"] - HYPOTENSION_MIN_FALL)
        systolic = round(toward(values["sbp"], plateau, onset, sbp))
        return values | {"sbp": systolic, "dbp": _diastolic(values, systolic),
                         "hr": round(values["hr"] + onset * self.hr_rise)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Tachypnoea(Resting):
    """Fast breathing at rest (pneumonia, a heart-failure exacerbation): respiration rises to ``rr``, SpO2 drops by
    ``spo2_drop`` points and the pulse rises a little. A respiration of 30/min or more is a severity criterion of
    pneumonia (CURB-65: Lim et al., Thorax 2003;58:377-82); NEWS2 scores 25/min or more 3."""

    truth: GroundTruth
    course: ClassVar[Course] = Course("tachypnoea", "rr_high", ("news2_urgent", "news2_emergency", "spo2_low",
                                      "spo2_falling", "baseline_deviation"), TACHYPNOEA_RAMP_S)  # fmt: skip
    rr: float = 30.0
    spo2_drop: float = 3.0
    seed: int = 0

    def unwell(self, t: float, onset: float, values: dict[str, float]) -> dict[str, float]:
        (rr,) = scatter(self.seed, t, RR_SD)
        return values | {"rr": round(toward(values["rr"], self.rr, onset, rr)),
                         "spo2": values["spo2"] - round(onset * self.spo2_drop),
                         "hr": round(values["hr"] + onset * TACHYPNOEA_HR_RISE)}  # fmt: skip
