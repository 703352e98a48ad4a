"""Who a simulated resident is: chronic conditions, resting vital signs and daily habits, drawn from a seed.

Prevalences and values are round figures for people over 75 living at home or in care, from the usual sources
(ESC/ESH hypertension and AF guidelines, GOLD for COPD, NEWS2's SpO2 scale 2 for hypercapnic respiratory failure).
They make a plausible population, not an epidemiological model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COPD = "copd"
HYPERTENSION = "hypertension"
ATRIAL_FIBRILLATION = "atrial_fibrillation"
CONDITIONS = (COPD, HYPERTENSION, ATRIAL_FIBRILLATION)

PREVALENCE = {COPD: 0.10, HYPERTENSION: 0.55, ATRIAL_FIBRILLATION: 0.10}  # over-75s
SCALE_2_SHARE = 0.6  # COPD patients with known hypercapnic failure, whom a clinician puts on SpO2 scale 2
# COPD patients on long-term oxygen therapy. Their prescribed target is 88-92 % (BTS guideline for oxygen use in
# adults, Thorax 2017;72:i1-i90: COPD on long-term oxygen is at risk of hypercapnia), so they are on SpO2 scale 2:
# a resident at 88 % on oxygen and on scale 1 scores 5 at rest, a prescription no clinician writes (the evaluation
# drew one, seed 16, and it gave 21 of the run's 22 false alerts).
HOME_OXYGEN_SHARE = 0.3

# Vital-sign order of every (N, 6) baseline array in the simulator.
VITALS = ("hr", "spo2", "rr", "sbp", "dbp", "temp")

# Habit ranges (local hours): mean wake-up and bed times, meal times, and how often things happen.
WAKE_H = (6.0, 8.0)
BED_H = (21.0, 23.0)
LUNCH_H = (11.75, 12.75)
DINNER_H = (17.5, 18.75)
OUT_PROB = {"home": (0.2, 0.7), "community_station": (0.1, 0.4), "care_institution": (0.0, 0.1)}  # per day
VISIT_PROB = (0.1, 0.5)  # a visitor on a given day, homes only
NOCTURIA = (0.3, 2.0)  # mean night-time toilet visits; common and increasing with age
CADENCE_HZ = (1.45, 1.85)  # steps per second; healthy older adults walk at 90-110 steps/min
BIRTH_YEARS = (1928, 1950)  # residents aged about 75 to 97

SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma", "Zhu")
GIVEN = ("Fang", "Wei", "Min", "Jing", "Lei", "Jun", "Yan", "Hua", "Ping", "Qiang", "Xia", "Lan", "Hong", "Gang")


@dataclass(frozen=True, slots=True)
class Habits:
    """A resident's usual day; each day varies around it."""

    wake_h: float  # local hour
    bed_h: float
    lunch_h: float
    dinner_h: float
    out_prob: float  # probability of going out on a given day
    visit_prob: float  # probability of a visitor on a given day (their home's visitors)
    nap_prob: float
    nocturia: float  # mean toilet visits per night
    cadence_hz: float  # walking cadence, steps per second
    social: bool  # in an institution: sits in the lounge rather than in their room


@dataclass(frozen=True, slots=True)
class Profile:
    conditions: frozenset[str]
    spo2_scale: int  # NEWS2 SpO2 scale, 2 for hypercapnic respiratory failure
    on_oxygen: bool
    baseline: dict[str, float]  # resting, awake values of VITALS
    habits: Habits


def draw_name(rng: np.random.Generator) -> str:
    return f"{SURNAMES[rng.integers(len(SURNAMES))]} {GIVEN[rng.integers(len(GIVEN))]}"


def draw_birth_year(rng: np.random.Generator) -> int:
    return int(rng.integers(BIRTH_YEARS[0], BIRTH_YEARS[1] + 1))


def draw_profile(rng: np.random.Generator, site_kind: str) -> Profile:
    """One resident's profile; ``site_kind`` is a carewatch site kind (habits differ at home and in care)."""
    conditions = frozenset(c for c in CONDITIONS if rng.random() < PREVALENCE[c])
    copd = COPD in conditions
    hypercapnic = copd and rng.random() < SCALE_2_SHARE
    on_oxygen = copd and rng.random() < HOME_OXYGEN_SHARE
    return Profile(
        conditions=conditions,
        spo2_scale=2 if hypercapnic or on_oxygen else 1,
        on_oxygen=on_oxygen,
        baseline=_baseline(rng, conditions),
        habits=_habits(rng, site_kind),
    )


def _baseline(rng: np.random.Generator, conditions: frozenset[str]) -> dict[str, float]:
    copd, htn, af = COPD in conditions, HYPERTENSION in conditions, ATRIAL_FIBRILLATION in conditions
    return {
        "hr": float(rng.normal(80, 8) if af else rng.normal(70, 7)),  # AF: rate-controlled, still higher
        "spo2": float(rng.uniform(88, 92) if copd else min(99.0, rng.normal(96.5, 1.0))),
        "rr": float(rng.normal(20, 1.5) if copd else rng.normal(15.5, 1.5)),
        "sbp": float(rng.normal(152, 9) if htn else rng.normal(126, 9)),
        "dbp": float(rng.normal(88, 6) if htn else rng.normal(74, 6)),
        "temp": float(rng.normal(36.5, 0.2)),  # older adults run a little cooler
    }


def _habits(rng: np.random.Generator, site_kind: str) -> Habits:
    out_lo, out_hi = OUT_PROB.get(site_kind, OUT_PROB["home"])
    return Habits(
        wake_h=float(rng.uniform(*WAKE_H)),
        bed_h=float(rng.uniform(*BED_H)),
        lunch_h=float(rng.uniform(*LUNCH_H)),
        dinner_h=float(rng.uniform(*DINNER_H)),
        out_prob=float(rng.uniform(out_lo, out_hi)),
        visit_prob=float(rng.uniform(*VISIT_PROB)) if site_kind == "home" else 0.0,
        nap_prob=float(rng.uniform(0.2, 0.8)),
        nocturia=float(rng.uniform(*NOCTURIA)),
        cadence_hz=float(rng.uniform(*CADENCE_HZ)),
        social=bool(rng.random() < 0.5),
    )
