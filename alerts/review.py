"""The settling-in review: limits for one resident from their own first days, for a clinician to accept or not.

Default alarm limits are population limits; a resident whose ordinary values lie past one (a COPD resident whose
SpO2 sits at 84 % asleep, a fit sleeper whose pulse is 45) alerts on their ordinary nights. Individualising alarm
limits to the patient is recommended practice (AACN Practice Alert "Managing Alarms in Acute Care Across the Life
Span: Electrocardiography and Pulse Oximetry", 2018; AAMI Foundation, "Customizing Alarm Limits Based on Specific
Needs of Patients", Biomed Instrum Technol 2017;51(3):227-34), and the RCP leaves the response to a NEWS2 score
that a chronic condition keeps raised to a clinical decision documented in the patient's plan (NEWS2, 2017). The
review proposes; a clinician decides (docs/rules.md, "Settling-in review"). The method, simple and explainable:

1. Read the resident's readings over the review period; take each vital's **median per 5-minute window**
   (``WINDOW_S``, the window NEWS2 scores on continuous data: alerts.rules.early_warning).
2. Keep the windows **at rest**: the step count did not go up in the window or the ``RECOVERY_S`` before it (the
   alert core's recovery after movement, alerts.rules.threshold). Exertion is not the resident's usual state.
3. The resident's **usual extremes**: the 2nd and 98th percentiles of those medians (``USUAL_PERCENTILE``), an
   observed median each ("in 2 % of the windows at or below this").
4. For each threshold rule (alerts.rules.THRESHOLDS) whose default limit for this resident (``for_resident``
   included, e.g. SpO2 scale 2) lies inside the resident's usual range or within a reading's noise of its edge
   (the usual extreme past the limit or less than ``Bound.near`` short of it: the 5-second readings around a
   5-minute median at the usual extreme then cross the limit on ordinary days, as a pulse whose usual low is 40-41
   crosses a limit of 40), suggest a limit ``BOUNDS[...].margin`` beyond the usual extreme, never
   past the rule's hard **safety bound** (said so when reached; where the usual extreme lies beyond the bound or
   within a reading's noise of it, the resident's usual values still alert, and need a clinical assessment, not a
   limit). Limits are only ever widened: the review never tightens a default.
5. **NEWS2**: score each at-rest window's medians with the core's ``score_parameters`` (oxygen and consciousness
   from their readings); the usual score is the 98th percentile. From the RCP's urgent level less one (4), suggest
   urgent from the usual score + ``NEWS2_RISE``, emergency from 2 above that (never below the RCP's 5 and 7); a
   single parameter scoring 3 stops alerting by itself only when one parameter habitually scores 3 (its 98th
   percentile), named in the reason. A usual score at the emergency level (7) is flagged (``assessment_due``);
   above it (``MAX_USUAL_NEWS2``) there is no suggestion but a note.

Too few windows (``MIN_WINDOWS`` at rest, spread over ``MIN_SPAN_S``) give no suggestion, with a note saying why.

**In bed.** Many residents' vitals are lower asleep: a limit learned from nights and applied all day hides a daytime
bradycardia (docs/detection.md). For a resident with a bed sensor of their own, each window at rest is *in bed*
when they were in bed for the whole of it (alerts.bed_history: the alert core's in-bed state over the stored
events), else *out of bed*. Steps 3 and 4 then run on each class alone: a suggestion from the windows in bed is for
the time in bed (``ThresholdContext.IN_BED``, measured against the in-bed limit in force, else the one that applies
always, else the default), one from the windows out of bed for ``always`` (the limit out of bed). Each class needs
``MIN_WINDOWS`` over ``MIN_SPAN_S`` of its own (3 nights of 8 hours are 288 windows in bed), else a note says which
class had too few. Without a bed sensor every window counts, for ``always``, as before. NEWS2 (step 5) takes every
window at rest, in bed or not (per-context escalation is a possible follow-up).
Pure apart from reading the store; arrays are 1-D, one entry per reading or per window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from alerts import news2
from alerts._arrays import BoolArray, FloatArray, IntArray
from alerts.bed_history import in_bed_windows
from alerts.rules import THRESHOLDS
from alerts.rules.early_warning import MAX_AGE_S
from alerts.rules.early_warning import METRICS as NEWS2_METRICS
from alerts.rules.threshold import ThresholdSpec
from alerts.signals import RECOVERY_S
from carewatch.catalog import METRIC_BY_NAME
from carewatch.model import Resident
from carewatch.storage.base import (
    MAX_HISTORY_ROWS,
    NEWS2_EMERGENCY_FROM,
    NEWS2_URGENT_FROM,
    REASON_MAX,
    News2Escalation,
    Store,
    Threshold,
    ThresholdContext,
)

WINDOW_S = 300.0  # NEWS2's 5-minute medians (alerts.rules.early_warning: WINDOW_SLOTS x SLOT_S)
USUAL_PERCENTILE = 2.0  # the usual low is the 2nd percentile of the windows, the usual high the 98th
# A day's worth of 5-minute windows at rest, spread over at least 3 days (3 nights): the 2nd percentile then rests
# on 6 windows or more, and one bad night cannot make the usual extreme.
MIN_WINDOWS = 288
MIN_SPAN_S = 3 * 86_400.0
NEWS2_RISE = 2  # urgent from this many points above the usual score (as the evaluation's care plans had it)
NEWS2_EMERGENCY_GAP = 2  # emergency this many points above urgent (the RCP's 5 -> 7)
# The NEWS2 safety bound: chronic respiratory failure on home oxygen alone can score 7 at rest at night (oxygen 2,
# respiration 21-24 2, SpO2 84-85 % on scale 2 2, one more point asleep): the chronic picture the RCP leaves to a
# documented clinical decision. A usual score above it is more than that picture: no wider escalation, a note.
MAX_USUAL_NEWS2 = NEWS2_EMERGENCY_FROM
MAX_READS = 1_000  # store reads per metric at most (MAX_HISTORY_ROWS each: 50 million readings)
STEPS = "steps"
VITALS = ("hr", "spo2", "rr", "sbp", "dbp", "temp")


@dataclass(frozen=True, slots=True)
class Bound:
    """How far beyond the usual extreme a suggested limit lies, and the hard bound it never passes."""

    margin: float  # about twice a reading's noise, so that ordinary noise around the usual extreme stays inside
    safety: float
    why: str  # the safety bound's reasoning
    near_distance: float | None = None  # ``near``; None: half the margin, about a reading's noise

    @property
    def near(self) -> float:
        """A usual extreme this close to a limit (about a reading's noise) is crossed by ordinary readings."""
        return self.margin / 2.0 if self.near_distance is None else self.near_distance


# The safety bounds are design choices, each beyond the RCP NEWS2 red-score edge the defaults sit at, and at values
# that are not a settled state for anyone living at home: a resident whose usual values reach them needs assessment.
BOUNDS: dict[str, Bound] = {
    "spo2_low": Bound(2.0, 80.0, "below 80 % is severe hypoxaemia, far under even the 88-92 % target of "
                      "hypercapnic patients (BTS 2017)"),
    "hr_low": Bound(5.0, 35.0, "a pulse under 35/min is a bradycardia to assess even in a fit sleeper"),
    "hr_high": Bound(5.0, 140.0, "a resting pulse over 140/min is an uncontrolled tachyarrhythmia"),
    "rr_low": Bound(2.0, 6.0, "respiration under 6/min is hypoventilation"),
    "rr_high": Bound(2.0, 30.0, "respiration over 30/min at rest is respiratory distress, whatever the usual rate"),
    # sbp_low judges the majority of 5 minutes of readings, close to the 5-minute medians the usual low is taken
    # from: its margin is smaller than a reading's noise allows elsewhere, so that a fall of 20 mmHg from an ordinary
    # night is not left between the usual low and the limit (docs/detection.md); a usual low within a reading's
    # noise (5 mmHg) of the limit still moves it.
    "sbp_low": Bound(5.0, 80.0, "a systolic pressure under 80 mmHg is shock-range hypotension", near_distance=5.0),
    "sbp_high": Bound(10.0, 200.0, "a systolic pressure over 200 mmHg is a hypertensive emergency range"),
    "dbp_high": Bound(10.0, 130.0, "a diastolic pressure over 130 mmHg is a hypertensive emergency range"),
    "temp_low": Bound(0.3, 34.5, "under 34.5 degC is hypothermia whatever the usual temperature"),
    "temp_high": Bound(0.3, 38.3, "over 38.3 degC is fever whatever the usual temperature"),
}  # fmt: skip
PARAMETER_LABELS = {"rr": "respiration", "spo2": "SpO2", "air_or_oxygen": "oxygen", "sbp": "systolic pressure",
                    "hr": "pulse", "consciousness": "consciousness", "temp": "temperature"}  # fmt: skip
NEWS2_SCORED = ("rr", "spo2", "sbp", "hr", "temp")  # the NEWS2 parameters a threshold rule also watches
DECIMALS = {"temp": 1}  # limits are suggested at the readings' resolution: whole units, tenths of a degree


@dataclass(frozen=True, slots=True)
class LimitSuggestion:
    """One threshold rule's limit: the default in force for this resident and the suggested one."""

    rule: str  # e.g. "spo2_low"
    metric: str  # e.g. "spo2"
    side: str  # "low" | "high", as carewatch.storage.base.Threshold's low / high
    default: float  # the rule's limit for this resident by default (its spec, for_resident included)
    suggested: float
    usual: float  # the resident's usual extreme the suggestion rests on
    reason: str  # the evidence and the margin, in words
    at_safety_bound: bool = False  # the suggestion stopped at the hard bound, short of the full margin
    in_force: float | None = None  # a clinician's limit in force instead of the default (None: the default is)
    context: str = ThresholdContext.ALWAYS  # in_bed: from the windows in bed, for the time in bed


@dataclass(frozen=True, slots=True)
class News2Suggestion:
    urgent_from: int
    emergency_from: int
    red_score: bool  # False: a single parameter scoring 3 no longer alerts by itself
    usual_score: int
    reason: str
    assessment_due: bool = False  # the usual score is at the RCP's emergency level (7): accept only after assessment


@dataclass(frozen=True, slots=True)
class LimitReview:
    """What the review of ``[start, end)`` found for one resident: suggestions, and notes on what it could not
    suggest (too few windows, usual values past the emergency level)."""

    resident_id: str
    start: float
    end: float
    windows: int  # 5-minute windows at rest that had readings
    thresholds: tuple[LimitSuggestion, ...]
    news2: News2Suggestion | None
    notes: tuple[str, ...] = ()
    windows_in_bed: int | None = None  # of them, in bed the whole window (None: no bed sensor, not told apart)

    @property
    def changes(self) -> bool:
        return bool(self.thresholds) or self.news2 is not None

    def thresholds_to_set(self, by: str, at: float, existing: Sequence[Threshold] = ()) -> list[Threshold]:
        """The thresholds to store for accepting every limit suggestion, one per metric and context, documented by
        its suggestions' reasons (``documented``); a side the review does not change keeps ``existing``'s value
        of that context (the resident's stored thresholds)."""
        current = {(t.metric, t.context): t for t in existing if t.resident_id == self.resident_id}
        limits: dict[tuple[str, str], dict[str, float | None]] = {}
        for s in self.thresholds:
            stored = current.get((s.metric, s.context))
            sides = limits.setdefault((s.metric, s.context), {"low": stored.low if stored else None,
                                                              "high": stored.high if stored else None})  # fmt: skip
            sides[s.side] = s.suggested
        reasons = {key: "; ".join(s.reason for s in self.thresholds if (s.metric, s.context) == key) for key in limits}
        return [
            Threshold(self.resident_id, metric, sides["low"], sides["high"], self.documented(reasons[metric, context]),
                      at, by, ThresholdContext(context))
            for (metric, context), sides in limits.items()
        ]  # fmt: skip

    def news2_escalation(self, by: str, at: float) -> News2Escalation | None:
        n = self.news2
        return None if n is None else News2Escalation(self.resident_id, n.urgent_from, n.emergency_from, n.red_score,
                                                      self.documented(n.reason), by, at)  # fmt: skip

    def documented(self, reason: str) -> str:
        """A suggestion's reason as the clinician's documented reason for accepting it: with the review it came from,
        shortened to fit (carewatch.storage.base.REASON_MAX)."""
        source = f" (settling-in review {_day(self.start)} to {_day(self.end)})"
        room = REASON_MAX - len(source)
        return (reason if len(reason) <= room else reason[: room - 1] + "…") + source

    def describe(self) -> str:
        """One line: every suggestion's reason, then the notes."""
        parts = [s.reason for s in self.thresholds]
        parts += [self.news2.reason] if self.news2 is not None else []
        return "; ".join(parts + list(self.notes)) or f"no change ({self.windows} windows at rest)"


def _day(epoch: float) -> str:
    return f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%d}"


def review_limits(store: Store, resident: Resident, start: float, end: float) -> LimitReview:
    """Review ``resident``'s readings in ``[start, end)`` (see the module docstring)."""
    if not end > start:
        raise ValueError(f"the review period must end after it starts (start {start}, end {end})")
    grid = Windows(start, end)
    rest = grid.at_rest(*_series(store, resident.resident_id, STEPS, start, end))
    medians = {m: grid.medians(*_series(store, resident.resident_id, m, start, end), rest)
               for m in sorted({*VITALS, *NEWS2_METRICS})}  # fmt: skip
    had = _had_vitals(medians)
    windows, span = _coverage(had)
    note = _too_few(windows, span, "")
    if note is not None:
        return LimitReview(resident.resident_id, start, end, windows, (), None, (note,))
    limits = {(t.metric, side, t.context): value for t in store.thresholds(resident.resident_id)
              for side, value in (("low", t.low), ("high", t.high)) if value is not None}  # fmt: skip
    in_bed = in_bed_windows(store, resident, grid.begins(), WINDOW_S)
    notes: tuple[str, ...] = ()
    if in_bed is None:
        suggestions = _suggestions(resident, medians, limits, ThresholdContext.ALWAYS)
    else:
        suggestions, notes = _by_context(resident, medians, limits, in_bed)
    news2_suggestion, news2_notes = _news2(resident, medians, rest, store.news2_escalation(resident.resident_id),
                                           _red_at_limit(resident, suggestions))  # fmt: skip
    in_bed_count = None if in_bed is None else int((had & in_bed).sum())
    return LimitReview(resident.resident_id, start, end, windows, tuple(suggestions), news2_suggestion,
                       notes + news2_notes, in_bed_count)  # fmt: skip


def _coverage(had: BoolArray) -> tuple[int, float]:
    """Windows with readings (``had`` (count,)) and the span from the first to the last, in seconds."""
    windows = int(had.sum())
    return windows, (np.flatnonzero(had)[-1] - np.flatnonzero(had)[0] + 1) * WINDOW_S if windows else 0.0


def _too_few(windows: int, span: float, what: str) -> str | None:
    """A note when ``windows`` at rest over ``span`` are too few to review (None: enough)."""
    if windows >= MIN_WINDOWS and span >= MIN_SPAN_S:
        return None
    return (f"too few readings at rest {what}to review: {windows} 5-minute windows over {span / 86_400:.1f} days; "
            f"the review needs {MIN_WINDOWS} spread over {MIN_SPAN_S / 86_400:.0f} days")  # fmt: skip


def _suggestions(resident: Resident, medians: dict[str, FloatArray], limits: dict[tuple[str, str, str], float],
                 context: str) -> list[LimitSuggestion]:  # fmt: skip
    return [s for spec in THRESHOLDS if (s := _suggest(spec, resident, medians[spec.metric], limits, context))]


def _by_context(resident: Resident, medians: dict[str, FloatArray], limits: dict[tuple[str, str, str], float],
                in_bed: BoolArray) -> tuple[list[LimitSuggestion], tuple[str, ...]]:  # fmt: skip
    """Suggestions for the time in bed from the windows in bed (``in_bed`` (count,)), and for ``always`` from the
    others, each class with enough windows of its own; notes for a class with too few."""
    suggestions: list[LimitSuggestion] = []
    notes: list[str] = []
    for context, mask, what, limit_for in ((ThresholdContext.IN_BED, in_bed, "in bed ", "the time in bed"),
                                           (ThresholdContext.ALWAYS, ~in_bed, "out of bed ", "the day")):  # fmt: skip
        mine = {m: np.where(mask, values, np.nan) for m, values in medians.items()}
        note = _too_few(*_coverage(_had_vitals(mine)), what)
        if note is None:
            suggestions += _suggestions(resident, mine, limits, context)
        else:
            notes.append(note + f" (no limit for {limit_for} suggested)")
    return suggestions, tuple(notes)


def _had_vitals(medians: dict[str, FloatArray]) -> BoolArray:
    """(count,) windows with a median of any vital sign."""
    had = np.zeros(next(iter(medians.values())).shape[0], bool)
    for m in VITALS:
        had |= ~np.isnan(medians[m])
    return had


class Windows:
    """The ``count`` 5-minute windows of ``[start, end)``, aligned on ``start``."""

    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.count = math.ceil((end - start) / WINDOW_S)

    def begins(self) -> FloatArray:
        """(count,) each window's start."""
        begins: FloatArray = self.start + np.arange(self.count, dtype=np.float64) * WINDOW_S
        return begins

    def index(self, ts: FloatArray) -> IntArray:
        return ((ts - self.start) // WINDOW_S).astype(np.int64)

    def at_rest(self, ts: FloatArray, steps: FloatArray) -> BoolArray:
        """(count,) bool: no step-count increase in the window or the RECOVERY_S before it. The count restarts at
        midnight (a drop is not a step); the first reading has nothing to rise from."""
        moved = np.sort(ts[1:][np.diff(steps) > 0])
        begins = self.begins()
        first = np.searchsorted(moved, begins - RECOVERY_S, side="left")
        rest: BoolArray = np.searchsorted(moved, begins + WINDOW_S, side="left") == first
        return rest

    def medians(self, ts: FloatArray, values: FloatArray, rest: BoolArray) -> FloatArray:
        """(count,) the median reading of each window at rest, NaN where it had none (vectorised per group)."""
        out = np.full(self.count, np.nan)
        k = self.index(ts)
        ok = (k >= 0) & (k < self.count)
        k, values = k[ok], values[ok]
        order = np.lexsort((values, k))
        k, values = k[order], values[order]
        groups, first, sizes = np.unique(k, return_index=True, return_counts=True)
        middle = (values[first + (sizes - 1) // 2] + values[first + sizes // 2]) / 2.0
        out[groups] = middle
        out[~rest] = np.nan
        return out


def _series(store: Store, resident_id: str, metric: str, start: float, end: float) -> tuple[FloatArray, FloatArray]:
    """(ts, values) of the resident's readings of one metric, read in pieces of MAX_HISTORY_ROWS."""
    times: list[float] = []
    values: list[float] = []
    at = start
    for _ in range(MAX_READS):
        rows = store.readings(resident_id, metric, at, end)
        if len(rows) < MAX_HISTORY_ROWS:
            times += [t for t, _ in rows]
            values += [v for _, v in rows]
            return np.array(times, dtype=np.float64), np.array(values, dtype=np.float64)
        last = rows[-1][0]
        if last == rows[0][0]:
            raise ValueError(f"{resident_id} {metric}: {len(rows)} readings at one instant, {last}")
        kept = [(t, v) for t, v in rows if t < last]  # the last instant's readings come again with the next read
        times += [t for t, _ in kept]
        values += [v for _, v in kept]
        at = last
    raise ValueError(f"{resident_id} {metric}: more than {MAX_READS} reads of readings over the review period")


def _usual(values: FloatArray, high: bool) -> float:
    """The usual extreme: an observed median, 2 % of the windows at or beyond it."""
    q = 100.0 - USUAL_PERCENTILE if high else USUAL_PERCENTILE
    return float(np.percentile(values, q, method="inverted_cdf"))


def _suggest(spec: ThresholdSpec, resident: Resident, medians: FloatArray, limits: dict[tuple[str, str, str], float],
             context: str = ThresholdContext.ALWAYS) -> LimitSuggestion | None:  # fmt: skip
    """The rule's suggestion for ``context``, measured against the limit in force there: a clinician's (``limits``,
    by (metric, side, context); in bed, else the one that applies always) or else the default. It only ever widens
    that limit."""
    present = medians[~np.isnan(medians)]
    if present.size < MIN_WINDOWS:
        return None
    bound = BOUNDS[spec.name]
    default = spec.for_resident(resident)[0] if spec.for_resident is not None else spec.enter
    high = not spec.below
    side = "high" if high else "low"
    in_force = limits.get((spec.metric, side, context))
    if in_force is None and context == ThresholdContext.IN_BED:
        in_force = limits.get((spec.metric, side, ThresholdContext.ALWAYS))
    limit = default if in_force is None else in_force
    usual = _usual(present, high)
    if not _crossed(usual, limit, high, bound):
        return None  # the usual extreme stays clear of the limit in force, by more than a reading's noise
    wanted = usual + bound.margin if high else usual - bound.margin
    scale = 10 ** DECIMALS.get(spec.metric, 0)
    rounded = (math.ceil(wanted * scale) if high else math.floor(wanted * scale)) / scale  # outward
    suggested = min(rounded, bound.safety) if high else max(rounded, bound.safety)
    if (suggested <= limit) if high else (suggested >= limit):
        return None  # held at the bound inside a limit already wider: never tighten
    metric = METRIC_BY_NAME[spec.metric]
    beyond = "at or above" if high else "at or below"
    word = beyond if spec.inclusive else "above" if high else "below"  # as the rule judges its limit
    against = f"the default {word} {default:g}" if in_force is None else (
        f"the clinician's limit {word} {in_force:g} (default {default:g})")  # fmt: skip
    where = {ThresholdContext.IN_BED: (" in bed", " in bed", "for the time in bed "),
             ThresholdContext.ALWAYS: ("", "", "")}[ThresholdContext(context)]  # fmt: skip
    reason = (f"{spec.name}{where[0]}: {metric.label} at rest{where[1]} was {beyond} {usual:g} {metric.unit} in "
              f"{USUAL_PERCENTILE:g} % of {present.size} 5-minute medians, against {against}"
              f"{_near(usual, limit, high, bound, metric.unit)}; suggested {where[2]}{word} "
              f"{suggested:g}, ")  # fmt: skip
    full_margin = f"{bound.margin:g} {metric.unit} beyond the usual"
    at_bound = suggested == bound.safety and rounded != suggested
    if not at_bound:
        reason += full_margin
    elif _crossed(usual, suggested, high, bound):
        reason += f"held at the safety bound ({bound.why}) instead of {full_margin}: usual values still alert, a "
        reason += "clinical assessment is due"
    else:
        short = round(abs(suggested - usual), 1)
        reason += f"held at the safety bound ({bound.why}), {short:g} {metric.unit} beyond the usual instead of "
        reason += f"{bound.margin:g}"
    return LimitSuggestion(spec.name, spec.metric, side, default, suggested, usual, reason, at_bound, in_force,
                           ThresholdContext(context))  # fmt: skip


def _crossed(usual: float, limit: float, high: bool, bound: Bound) -> bool:
    """Whether ordinary readings around the usual extreme cross ``limit``: the extreme lies past it, or less than
    ``bound.near`` (about a reading's noise) short of it."""
    return usual + bound.near > limit if high else usual - bound.near < limit


def _near(usual: float, limit: float, high: bool, bound: Bound, unit: str) -> str:
    """Why a usual extreme short of the limit still moves it ("" when it lies past the limit)."""
    if (usual > limit) if high else (usual < limit):
        return ""
    return f" (within {bound.near:g} {unit} of it: ordinary readings cross it)"


def _filled(medians: FloatArray, max_age_s: float) -> FloatArray:
    """(count,) each window's median, else the newest earlier one no older than ``max_age_s`` (as the NEWS2 rule
    takes a spot-measured parameter's newest value)."""
    k = np.arange(medians.shape[0])
    newest = np.maximum.accumulate(np.where(np.isnan(medians), -1, k))
    value = np.where(newest >= 0, medians[np.maximum(newest, 0)], np.nan)
    return np.where((k - newest) * WINDOW_S <= max_age_s, value, np.nan)


def _red_at_limit(resident: Resident, suggestions: Sequence[LimitSuggestion]) -> list[str]:
    """The NEWS2 parameters (labels) whose suggested limit itself scores 3: the values the resident's new limit
    accepts as ordinary would still raise NEWS2's single-parameter trigger (a usual low pulse of 41 with ``hr_low``
    at 36 scores 3 at 36-40)."""
    red = []
    for s in suggestions:
        if s.metric not in NEWS2_SCORED:
            continue  # not a NEWS2 parameter (diastolic pressure)
        one = {m: np.array([s.suggested if m == s.metric else np.nan]) for m in NEWS2_SCORED}
        scores = news2.score_parameters(one["rr"], one["spo2"], np.array([resident.spo2_scale == 2]),
                                        np.array([False]), one["sbp"], one["hr"], np.array([np.nan]),
                                        one["temp"])  # fmt: skip
        if int(getattr(scores, s.metric)[0]) >= news2.RED_SCORE:
            red.append(PARAMETER_LABELS[s.metric])
    return red


def _habitual_threes(habitual: Sequence[str]) -> str:
    return f"{' and '.join(habitual)} habitually score{'s' if len(habitual) == 1 else ''} 3"


def _scale_2_hint(resident: Resident, habitual: Sequence[str]) -> str:
    """A resident on SpO2 scale 1 whose SpO2 habitually scores 3 (91 % or less) may be one the RCP's scale 2 is for;
    only a clinician can say (it needs confirmed hypercapnic respiratory failure), so the review names it, no more."""
    if resident.spo2_scale == 2 or PARAMETER_LABELS["spo2"] not in habitual:
        return ""
    return (" (SpO2 is scored on scale 1: if hypercapnic respiratory failure is confirmed, the RCP's scale 2 "
            "applies, a clinician's decision)")  # fmt: skip


def _news2(resident: Resident, medians: dict[str, FloatArray], rest: BoolArray, in_force: News2Escalation | None,
           red_at_limit: Sequence[str] = ()) -> tuple[News2Suggestion | None, tuple[str, ...]]:  # fmt: skip
    """The NEWS2 suggestion; with an escalation ``in_force``, each of its levels is kept where it is wider (never
    tightened), and no suggestion is made when nothing would widen. ``red_at_limit``: parameters whose suggested
    limit scores 3 (`_red_at_limit`): their single 3 stops alerting by itself too."""
    v = {m: _filled(medians[m], float(age)) for m, age in zip(NEWS2_METRICS, MAX_AGE_S, strict=True)}
    complete = rest & ~np.isnan(v["rr"]) & ~np.isnan(v["spo2"]) & ~np.isnan(v["sbp"]) & ~np.isnan(v["hr"])
    complete &= ~np.isnan(v["temp"])
    n = int(complete.sum())
    if n < MIN_WINDOWS:
        return None, (f"NEWS2 not reviewed: {n} complete observation sets at rest, {MIN_WINDOWS} needed",)
    on_oxygen = np.nan_to_num(v["o2"][complete], nan=0.0) >= 0.5
    confused = np.where(np.isnan(v["avpu"][complete]), np.nan, v["avpu"][complete] >= 0.5)
    scores = news2.score_parameters(v["rr"][complete], v["spo2"][complete], np.full(n, resident.spo2_scale == 2),
                                    on_oxygen, v["sbp"][complete], v["hr"][complete], confused,
                                    v["temp"][complete])  # fmt: skip
    usual = int(_usual(scores.total.astype(np.float64), high=True))
    habitual = [PARAMETER_LABELS[name] for name in news2.PARAMETERS
                if _usual(getattr(scores, name).astype(np.float64), high=True) >= news2.RED_SCORE]  # fmt: skip
    if usual > MAX_USUAL_NEWS2:
        habitually = f"; {_habitual_threes(habitual)}" if habitual else ""
        return None, (f"NEWS2 at rest usually reaches {usual} ({USUAL_PERCENTILE:g} % of {n} observation sets at or "
                      f"above{habitually}), beyond the RCP's emergency level {NEWS2_EMERGENCY_FROM}: a clinical "
                      f"assessment is due, not a wider escalation{_scale_2_hint(resident, habitual)}",)  # fmt: skip
    at_limit = [label for label in red_at_limit if label not in habitual]
    if usual < NEWS2_URGENT_FROM - 1 and not habitual and not at_limit:
        return None, ()
    urgent = max(NEWS2_URGENT_FROM, usual + NEWS2_RISE)
    rise = f"{NEWS2_RISE} above" if urgent == usual + NEWS2_RISE else "the RCP's level"
    emergency = max(NEWS2_EMERGENCY_FROM, urgent + NEWS2_EMERGENCY_GAP)
    reason = (f"NEWS2: at rest it reached {usual} in {USUAL_PERCENTILE:g} % of {n} 5-minute observation sets; "
              f"suggested urgent from {urgent} ({rise}), emergency from {emergency}")  # fmt: skip
    if habitual:
        reason += (f"; {_habitual_threes(habitual)}, so a single 3 no longer alerts by itself (the aggregate still "
                   f"does){_scale_2_hint(resident, habitual)}")  # fmt: skip
    if at_limit:
        reason += (f"; {' and '.join(at_limit)} score{'s' if len(at_limit) == 1 else ''} 3 at the limit suggested "
                   f"above, so a single 3 no longer alerts by itself (the aggregate still does)")  # fmt: skip
    red_score = not habitual and not at_limit
    if in_force is not None:
        kept = (max(urgent, in_force.urgent_from), max(emergency, in_force.emergency_from),
                red_score and in_force.red_score)  # fmt: skip
        if kept == (in_force.urgent_from, in_force.emergency_from, in_force.red_score):
            return None, ()  # the escalation in force is already as wide
        urgent, emergency, red_score = kept
        reason += (
            f"; the escalation in force (urgent from {in_force.urgent_from}, emergency from "
            f"{in_force.emergency_from}) is kept where wider: urgent from {urgent}, emergency from {emergency}"
        )
    due = usual >= NEWS2_EMERGENCY_FROM
    if due:
        reason += "; the usual score is at the RCP's emergency level: a clinical assessment is due"
    return News2Suggestion(urgent, emergency, red_score, usual, reason, due), ()
