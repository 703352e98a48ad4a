"""The scenario library by name, and a planner that schedules incidents at plausible times of day.

`make_incident(name, ...)` builds one incident with typical parameters; `plan_incidents(world, start, duration_s,
seed)` schedules a mix over a run: each at a local time where it happens in life (night wandering at night, not up
at the usual wake-up time, falls while up and about, smoke at cooking times), at most one at a time per resident.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from simulators.climate import BUILDING_TAU_S
from simulators.clock import utc_offset_s
from simulators.routine import DAY_S, HOUR_S, MINUTE_S
from simulators.scenarios.base import Incident
from simulators.scenarios.behaviour import BathroomLong, NightWandering, NoActivity, NotUp
from simulators.scenarios.devices import ArtefactBurst, BatteryLow, DeviceOffline, NotWorn
from simulators.scenarios.falls import Fall, Syncope
from simulators.scenarios.home import Alarm, Cold, HeatWave, Sos
from simulators.scenarios.hypoxia import Hypoxia
from simulators.scenarios.illness import Hypotension, Sepsis, Tachypnoea
from simulators.scenarios.vitals import Bradycardia, Fever, Tachycardia
from simulators.world import SimResident, World

GAP_S = 30 * MINUTE_S  # between two incidents of one resident: let the first one's alerts clear
# After a heating failure or a heat wave the rooms take three of the building's time constants to come back
# (95 %): until then the first incident's cold or heat alert is still live, and a second would open none.
ROOM_RECOVERY_S = 3 * BUILDING_TAU_S
ORDER_STREAM = 1  # the random stream, beside the seed, that orders the scenarios (placements keep their draws)
ATTEMPTS = 50  # residents tried per incident before giving a scenario up (every resident busy, no fitting time)
# SpO2 (%) below which spo2_low alerts by default, by NEWS2 SpO2 scale (BTS 2017 targets 94-98 %, 88-92 % on scale 2;
# carewatch's alerts.rules): a hypoxia's truth claims spo2_low, so its plateau lies below it.
HYPOXAEMIA_BELOW = {1: 90.0, 2: 86.0}
# Rules that learn the resident's routine before they alert: days of it they need (their defaults' min_days,
# alerts/rules/behaviour.py; docs/rules.md). An incident earlier in a run than that cannot alert.
LEARNED_DAYS = {"no_activity": 7.0, "not_up": 5.0}


@dataclass(frozen=True, slots=True)
class Recipe:
    """``hours``: local hours within which the incident may start (None: any time), counted from the resident's
    usual wake-up time when ``from_wake``; ``length_s``: its duration; ``make(resident, start, length, rng)``;
    ``recovery_s``: how long after its end the home is still affected (no other incident of the resident's then)."""

    hours: tuple[float, float] | None
    length_s: tuple[float, float]
    make: Callable[[SimResident, float, float, np.random.Generator], Incident]
    from_wake: bool = False
    recovery_s: float = 0.0


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31))


def _fall(r: SimResident, start: float, length: float, rng: np.random.Generator) -> Incident:
    return Fall.at(r.resident_id, start, length, peak_g=float(rng.uniform(2.8, 5.5)), side=int(rng.integers(4)),
                   device_reports=bool(rng.random() < 0.5), seed=_seed(rng))  # fmt: skip


def _sepsis(r: SimResident, start: float, length: float, rng: np.random.Generator) -> Incident:
    # Every reading of the plateau scores NEWS2 6 or more (RCP 2017, Chart 1): respiration 23-32/min, its readings 21
    # or more (2 points); systolic 85-96 mmHg, readings 100 or less (2); pulse 95-125/min, readings 91 or more (1);
    # temperature 38.2-39.5 degC or, in a fifth (older adults may turn cold instead), 35.2-35.9 (1). So news2_urgent's
    # aggregate of 5 holds from the plateau on (illness.CLIP_SD keeps readings within two SDs of it), and the recipe's
    # hour at least leaves room for the 30-minute ramp, the 5-minute medians and the 10-minute persistence.
    temp_c = rng.uniform(35.2, 35.9) if rng.random() < 0.2 else rng.uniform(38.2, 39.5)
    rr, sbp, hr = (float(rng.uniform(lo, hi)) for lo, hi in ((23, 32), (85, 96), (95, 125)))
    drop, confused = float(rng.uniform(1, 4)), bool(rng.random() < 0.5)
    return Sepsis(Sepsis.truth_of(r.resident_id, start, length), rr=rr, sbp=sbp, hr=hr,
                  temp_c=round(float(temp_c), 1), spo2_drop=drop, confused=confused, seed=_seed(rng))  # fmt: skip


def _hypoxia_nadir(r: SimResident, rng: np.random.Generator) -> float:
    """8-13 points under the resident's baseline SpO2, and at least a point under the hypoxaemia its truth claims
    (spo2_low enters below HYPOXAEMIA_BELOW for the resident's scale): the plateau carries no noise, so a nadir at
    the limit never crosses it (a baseline of 98.3 gave 90 in the evaluation of 2026-11-30, seed 6)."""
    return float(min(round(r.baseline["spo2"] - rng.uniform(8, 13)), HYPOXAEMIA_BELOW[r.spo2_scale] - 1))


def _device(r: SimResident, world: World, rng: np.random.Generator) -> str:
    own = world.devices_of(r.resident_id)
    return own[int(rng.integers(len(own)))].device_id


def library(world: World) -> dict[str, Recipe]:
    """Every scenario the simulator knows, by name. Durations and parameters are typical, not extreme."""
    h, m = HOUR_S, MINUTE_S
    return {
        "fall": Recipe((8, 21), (30, 180), _fall),
        "fall_long_lie": Recipe((8, 21), (25 * m, 60 * m), _fall),
        "syncope": Recipe((8, 21), (60, 180), lambda r, s, n, g: Syncope.faint(
            r.resident_id, s, n, peak_g=float(g.uniform(2.7, 3.6)), side=int(g.integers(4)), seed=_seed(g))),
        "hypoxia": Recipe(None, (5 * m, 20 * m), lambda r, s, n, g: Hypoxia.at(
            r.resident_id, s, n, nadir=_hypoxia_nadir(r, g))),
        "fever": Recipe(None, (4 * h, 10 * h), lambda r, s, n, g: Fever.at(
            r.resident_id, s, n, peak_c=float(g.uniform(38.3, 39.8)), confused=bool(g.random() < 0.3))),
        "tachycardia": Recipe(None, (10 * m, 40 * m), lambda r, s, n, g: Tachycardia.at(
            r.resident_id, s, n, rate_bpm=float(g.uniform(130, 170)), seed=_seed(g))),
        # A symptomatic bradycardia is typically 30-40/min; its truth claims hr_low, which enters below 40/min.
        "bradycardia": Recipe(None, (10 * m, 40 * m), lambda r, s, n, g: Bradycardia.at(
            r.resident_id, s, n, rate_bpm=float(g.uniform(30, 39)))),
        "sepsis": Recipe(None, (60 * m, 180 * m), _sepsis),
        # Systolic 70-85 mmHg (or 20 under a low resting pressure), its readings 89 or less: under sbp_low's 90 from the
        # end of the 5-minute ramp.
        "hypotension": Recipe(None, (20 * m, 60 * m), lambda r, s, n, g: Hypotension(Hypotension.truth_of(
            r.resident_id, s, n), sbp=float(g.uniform(70, 85)), hr_rise=float(g.uniform(5, 20)), seed=_seed(g))),
        # Respiration 27-35/min, its readings 25 or more: above rr_high's 24, at rest (the resident rests).
        "tachypnoea": Recipe(None, (20 * m, 60 * m), lambda r, s, n, g: Tachypnoea(Tachypnoea.truth_of(
            r.resident_id, s, n), rr=float(g.uniform(27, 35)), spo2_drop=float(g.uniform(2, 4)), seed=_seed(g))),
        # Longer than night_wandering's 30 minutes out of bed: a shorter walk indoors is, to the rule, a night-time
        # toilet visit (docs/rules.md); one out of the front door alerts at the door whatever its length.
        "night_wandering": Recipe((1, 4), (35 * m, 60 * m), lambda r, s, n, g: NightWandering.at(
            r.resident_id, s, n, leaves_home=bool(g.random() < 0.3))),
        "not_up": Recipe((0.0, 0.1), (2 * h, 4 * h), lambda r, s, n, g: NotUp.at(r.resident_id, s, n), from_wake=True),
        "no_activity": Recipe((10, 15), (2 * h, 4 * h), lambda r, s, n, g: NoActivity.at(r.resident_id, s, n)),
        "bathroom_long": Recipe((8, 20), (60 * m, 120 * m), lambda r, s, n, g: BathroomLong.at(r.resident_id, s, n)),
        "heat_wave": Recipe((9, 12), (8 * h, 14 * h), lambda r, s, n, g: HeatWave.at(r.resident_id, s, n),
                            recovery_s=ROOM_RECOVERY_S),
        "heating_failure": Recipe(None, (8 * h, 16 * h), lambda r, s, n, g: Cold.at(r.resident_id, s, n),
                                  recovery_s=ROOM_RECOVERY_S),
        "smoke": Recipe((11.5, 19), (5 * m, 20 * m), lambda r, s, n, g: Alarm.at(r.resident_id, "smoke", s, n)),
        "gas": Recipe((8, 20), (10 * m, 30 * m), lambda r, s, n, g: Alarm.at(r.resident_id, "gas", s, n)),
        "water_leak": Recipe(None, (10 * m, 60 * m), lambda r, s, n, g: Alarm.at(r.resident_id, "water_leak", s, n)),
        "sos": Recipe((7, 22), (60, 60), lambda r, s, n, g: Sos.at(
            r.resident_id, s, "sos_button" if g.random() < 0.7 else "wearable")),
        # The wearable: a room sensor is only alerted after 25 h of silence (docs/rules.md), longer than the recipe.
        "device_offline": Recipe(None, (1 * h, 4 * h), lambda r, s, n, g: DeviceOffline.at(
            r.resident_id, r.wearable_id, s, n)),
        "battery_low": Recipe(None, (4 * h, 10 * h), lambda r, s, n, g: BatteryLow.at(
            r.resident_id, _device(r, world, g), s, n)),
        "not_worn": Recipe((9, 14), (3 * h, 6 * h), lambda r, s, n, g: NotWorn.at(r.resident_id, s, n)),
        "artefact_burst": Recipe(None, (2 * m, 8 * m), lambda r, s, n, g: ArtefactBurst.at(
            r.resident_id, s, n, seed=_seed(g))),
    }  # fmt: skip


SCENARIOS = tuple(library(World((), (), (), ())))


def make_incident(name: str, world: World, resident_id: str, start: float, length_s: float | None = None,
                  seed: int = 1) -> Incident:  # fmt: skip
    """The library's ``name`` incident for a resident from ``start`` (length: typical unless given)."""
    recipe = _recipe(name, world)
    rng = np.random.default_rng(seed)
    length = float(rng.uniform(*recipe.length_s)) if length_s is None else length_s
    return recipe.make(world.resident(resident_id), start, length, rng)


def plan_incidents(world: World, start: float, duration_s: float, seed: int = 1, *, count: int | None = None,
                   names: Sequence[str] = SCENARIOS) -> list[Incident]:  # fmt: skip
    """``count`` incidents (default: one of each of ``names``), each for a random resident at a random fitting time
    within ``[start, start + duration_s)``. With a ``count``, the names are taken in a random order drawn from
    ``seed`` and cycled through, so that a few incidents sample the whole library rather than its first entries.
    A scenario that fits nowhere (night wandering in a run that ends before night) is left out. Deterministic from
    ``seed``."""
    rng = np.random.default_rng(seed)
    recipes = {name: _recipe(name, world) for name in names}
    order = (
        list(names)
        if count is None
        else [names[k] for k in np.random.default_rng([seed, ORDER_STREAM]).permutation(len(names))]
    )
    busy: dict[int, list[tuple[float, float]]] = {}
    planned: list[Incident] = []
    for k in range(len(names) if count is None else count):
        if not world.residents:
            break
        name = order[k % len(order)]
        incident = _place(world, recipes[name], start, start + duration_s, busy, rng)
        if incident is not None:
            planned.append(incident)
    return sorted(planned, key=lambda incident: incident.truth.start)


def mark_unobservable(incidents: Sequence[Incident], run_start: float, accelerometer: bool) -> list[Incident]:
    """The incidents with ``truth.unobservable`` saying why a run from ``run_start`` (with an accelerometer stream
    or not) cannot show the alert each expects: a fall the wearable does not report itself, without an accelerometer
    stream (the detector reads the stream), or a rule that learns days of routine first, too early in the run."""
    return [_marked(incident, _unobservable(incident, run_start, accelerometer)) for incident in incidents]


def _unobservable(incident: Incident, run_start: float, accelerometer: bool) -> str | None:
    rule, learned_s = incident.truth.expected_rule, incident.truth.start - run_start
    if rule in LEARNED_DAYS and learned_s < LEARNED_DAYS[rule] * DAY_S:
        return f"{rule} learns {LEARNED_DAYS[rule]:g} days of routine first; the run gave it {learned_s / DAY_S:.1f}"
    if isinstance(incident, Fall) and not incident.device_reports and not accelerometer:
        return "no accelerometer stream (--accelerometer-hz) and the wearable does not report this fall itself"
    return None


def _marked(incident: Incident, why: str | None) -> Incident:
    if why is None:
        return incident
    return replace(incident, truth=replace(incident.truth, unobservable=why))  # type: ignore[type-var]


def _recipe(name: str, world: World) -> Recipe:
    recipes = library(world)
    if name not in recipes:
        raise ValueError(f"unknown scenario {name!r}; the library has {sorted(recipes)}")
    return recipes[name]


def _place(world: World, recipe: Recipe, lo: float, hi: float, busy: dict[int, list[tuple[float, float]]],
           rng: np.random.Generator) -> Incident | None:  # fmt: skip
    for _ in range(ATTEMPTS):
        r = int(rng.integers(len(world.residents)))
        resident = world.residents[r]
        length = float(rng.uniform(*recipe.length_s))
        hours = recipe.hours
        if hours is not None and recipe.from_wake:
            hours = (resident.habits.wake_h + hours[0], resident.habits.wake_h + hours[1])
        offset = utc_offset_s(world.site(resident.site_id).timezone, lo)
        windows = _windows(lo, hi - length, hours, offset)
        if not windows:
            continue
        start = _pick(windows, rng)
        end = start + length + recipe.recovery_s  # the resident's home is affected until then
        if any(start < other_end + GAP_S and other_start < end + GAP_S for other_start, other_end in busy.get(r, [])):
            continue
        busy.setdefault(r, []).append((start, end))
        return recipe.make(resident, start, length, rng)
    return None


def _windows(lo: float, hi: float, hours: tuple[float, float] | None, offset_s: float) -> list[tuple[float, float]]:
    """Intervals of ``[lo, hi]`` whose local time (UTC + ``offset_s``) lies within ``hours``."""
    if hi < lo:
        return []
    if hours is None:
        return [(lo, hi)]
    first = np.floor((lo + offset_s) / DAY_S) * DAY_S - offset_s
    windows = []
    for day0 in np.arange(first, hi + DAY_S, DAY_S).tolist():
        a, b = max(lo, day0 + hours[0] * HOUR_S), min(hi, day0 + hours[1] * HOUR_S)
        if a <= b:
            windows.append((a, b))
    return windows


def _pick(windows: list[tuple[float, float]], rng: np.random.Generator) -> float:
    """A uniform random instant of the union of ``windows``."""
    widths = np.array([b - a for a, b in windows])
    k = int(rng.choice(len(windows), p=widths / widths.sum())) if widths.sum() > 0 else int(rng.integers(len(windows)))
    return float(rng.uniform(*windows[k])) if widths[k] > 0 else windows[k][0]
