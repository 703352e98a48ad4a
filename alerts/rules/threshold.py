"""Sustained-threshold rules with hysteresis and persistence, e.g. "SpO2 below 90 % for 60 s".

A condition *enters* when a reading crosses `enter`, stays while readings remain on the wrong side of `leave`
(hysteresis: values between the two keep the previous state), and becomes alertable once it has lasted `persist_s`.
A gap longer than `max_gap_s` between readings restarts the persistence clock (no "sustained" across a device that was
off). Sampled episodes (alerts.rules.episodes): everything is evaluated for all residents, and all the rules of one
`ThresholdBank` (the ten defaults), at once. The persistence clock runs while readings are beyond `enter`, and
through a *dip* (readings back within it) of at most ``DIP_FRACTION`` of the persistence (60 s for the 5-minute
rules); a longer dip restarts it. A run alerts at a reading beyond `enter` once it has lasted the persistence with
more than half its readings beyond (its median is beyond the limit), so values that hover in the band between
`enter` and `leave`, with a reading beyond now and then, do not alert; the band keeps a raised alert, and a reading
past `leave` outside a run (more than the dip's tolerance after the last reading beyond) clears it.

*In bed.* A clinician may set a resident's limit for the time in bed (carewatch.storage.base.ThresholdContext: a fit
sleeper's pulse, a COPD resident's SpO2, lower asleep than awake), kept as ``bed_enter`` and ``bed_leave`` beside the
limits that apply otherwise (NaN: none, the other limit applies in bed too). Each reading is judged against the
limits in force at its own instant: in bed (alerts.signals, ``Frame.in_bed``: the resident's own bed sensor, no sign
of being up since) the in-bed limits, else the others. The episode is the same one on both sides of the transition:
a run that crosses it goes on while its readings are beyond the limit now in force. A pulse of 37 that began out
of bed (beyond 40) and goes on in bed (not beyond an in-bed limit of 35) is a dip there, and the run ends once the
dip outlasts its tolerance; a raised alert stays while readings lie in the in-bed band (35 to 40, its hysteresis)
and clears at one past the in-bed ``leave`` (40). Getting up with a pulse of 37 starts a run at the first reading
out of bed (or continues one within the dip tolerance): the persistence counts from there, not from the night.

*At rest.* Respiration and blood pressure rise with exertion, and their limits are for a resting person: a walk of
a few minutes takes a COPD resident's respiration, or a hypertensive resident's systolic pressure, past them (the
pulse limit, 130/min, is not one ordinary walking reaches: docs/rules.md). For the "high" rules marked
``at_rest``, a reading while the wearable says the body is moving (alerts.signals, exertion: steps, a moving
accelerometer block) or within ``RECOVERY_S`` after does not count toward the persistence (it neither starts nor
continues a run); it still clears a raised alert, and an alert already raised stays raised through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from alerts._arrays import BoolArray, FloatArray, IntArray, fresh, grown
from alerts.frame import Frame
from alerts.residents import Population
from alerts.rules.base import Findings, Parameter, Rule, arrays_nbytes, minutes
from alerts.rules.episodes import Episodes, codes
from alerts.signals import in_bed_at, resting
from carewatch.catalog import METRIC_BY_NAME, METRIC_ID, shown, symbol
from carewatch.model import Resident, Severity
from carewatch.storage.base import Threshold

# A pulse read every few seconds is noisy: a tachyarrhythmia around 135/min with 8/min beat-to-beat irregularity reads
# 130 or under about one time in four, and under 120 one in twenty; restarting the persistence at each such reading hid
# every tachycardia under 141/min (docs/detection.md). A design choice for the pulse rules, rr_high, sbp_low and
# spo2_low (``ThresholdSpec.dip_fraction``): a run continues through dips of up to a fifth of the persistence (60 s,
# twelve 5-s readings, for hr_high), never more than the rule's maximum gap, and must have more than half its readings
# beyond the limit. sbp_low takes it over 5 minutes, not 2: a sleeping systolic pressure hovering around 90 mmHg with 4
# mmHg of reading noise formed 2-minute runs with a majority below 90 by chance (14 night-time alerts in one evaluation
# run), where 60 readings' majority follows the pressure itself. rr_high: a tachypnoea at 28/min against a limit
# reviewed to 26 had 89 % of its readings beyond but never 60 in a row (missed). spo2_low: a true SpO2 of 88-89 % read
# as whole numbers with 1.5 points of probe noise reads 90 or over one time in six to one in three, and each such
# reading restarted the 60 s: first alerts after 1-13 min at 88 %, none in 6 of 8 half-hours at 89 % (the clinical
# review); with the fifth (12 s: two readings) and the majority, the slowest of 40 simulated runs alerted after 1.4 min
# at 88 %, 4.4 min at 89 %, and a single low reading (a motion artefact) still never does. Not for the others (no miss
# called for it): any reading back within the limit restarts their persistence.
DIP_FRACTION = 0.2


@dataclass(frozen=True, slots=True)
class ThresholdSpec:
    name: str
    metric: str
    below: bool  # True: alert on low values (SpO2), False: on high values (heart rate)
    enter: float
    leave: float
    persist_s: float
    max_gap_s: float
    severity: Severity
    source: str  # where the default threshold comes from
    for_resident: Callable[[Resident], tuple[float, float]] | None = None  # per-resident (enter, leave) defaults
    at_rest: bool = False  # readings during exertion and RECOVERY_S after do not count toward the persistence
    dip_fraction: float = 0.0  # a run continues through dips of this share of the persistence (DIP_FRACTION)
    inclusive: bool = False  # True: a value at ``enter`` is beyond it (the source says "<=" or ">=")


class ThresholdBank:
    """Threshold rules evaluated together: when the first of them is evaluated on a frame, one pass over all their
    metrics' readings advances every rule, and each rule then reports its share (the ten default rules cost about
    what one did alone: the cost of a pass is its numpy calls, not its readings).

    A rule is a column ``c`` of the state: per-resident limits ``enter``, ``leave`` and ``persist`` (capacity, n)
    and sampled episodes keyed by ``resident * n + c``."""

    def __init__(self) -> None:
        self.specs: list[ThresholdSpec] = []
        self.metric_ids = np.empty(0, np.int16)  # (n,) each rule's metric
        self.below = np.empty(0, bool)  # (n,)
        self.at_rest = np.empty(0, bool)  # (n,)
        self.max_gap = np.empty(0)  # (n,)
        self.inclusive = np.empty(0, bool)  # (n,) a value at the entry limit is beyond it
        self.enter = np.empty((0, 0))
        self.leave = np.empty((0, 0))
        self.bed_enter = np.empty((0, 0))  # in bed (NaN: ``enter`` applies in bed too)
        self.bed_leave = np.empty((0, 0))
        self.persist = np.empty((0, 0))
        self.episodes = Episodes(held=False)
        self._frame: Frame | None = None
        self._pending: dict[int, Findings] = {}  # each rule's findings on _frame, until it takes them

    def join(self, spec: ThresholdSpec) -> int:
        """Add a rule; returns its column. Rules join before the bank has residents."""
        if self.enter.shape[0]:
            raise ValueError("threshold rules join a bank before it has residents")
        self.specs.append(spec)
        self.metric_ids = np.array([METRIC_ID[s.metric] for s in self.specs], np.int16)
        self.below = np.array([s.below for s in self.specs])
        self.at_rest = np.array([s.at_rest for s in self.specs])
        self.max_gap = np.array([s.max_gap_s for s in self.specs])
        self.dip_fraction = np.array([s.dip_fraction for s in self.specs])
        self.inclusive = np.array([s.inclusive for s in self.specs])
        self.enter, self.leave, self.bed_enter, self.bed_leave, self.persist = (
            np.empty((0, len(self.specs))) for _ in range(5)
        )
        return len(self.specs) - 1

    def grow(self, capacity: int) -> None:
        """Room for ``capacity`` residents, new ones at the rules' default limits (unchanged if there is room)."""
        n = len(self.specs)
        self.enter = grown(self.enter, capacity, np.array([s.enter for s in self.specs]))
        self.leave = grown(self.leave, capacity, np.array([s.leave for s in self.specs]))
        self.bed_enter = grown(self.bed_enter, capacity, np.nan)
        self.bed_leave = grown(self.bed_leave, capacity, np.nan)
        self.persist = grown(self.persist, capacity, np.array([s.persist_s for s in self.specs]))
        self.episodes.grow(capacity * n)

    def nbytes(self) -> int:
        limits = arrays_nbytes(self.enter, self.leave, self.bed_enter, self.bed_leave, self.persist)
        return limits + self.episodes.nbytes()

    def __getstate__(self) -> dict[str, Any]:  # a saved state (alerts.checkpoint) holds no batch
        return {**self.__dict__, "_frame": None, "_pending": {}}

    def findings(self, column: int, frame: Frame) -> Findings:
        """Rule ``column``'s findings on ``frame``. A rule that asks twice about one frame gets a new pass, which
        finds nothing new there (its readings are no longer fresh); the other rules keep their share."""
        if frame is not self._frame or column not in self._pending:
            found = self._evaluate(frame)
            if frame is self._frame:
                found.update(self._pending)
            self._frame, self._pending = frame, found
        return self._pending.pop(column)

    def _evaluate(self, frame: Frame) -> dict[int, Findings]:
        n = len(self.specs)
        # Each rule's readings, one rule after the other, each by (resident, ts, value): the keys of one rule are
        # contiguous and no key spans two rules, as the episodes need.
        res, ts, value, column = frame.readings.of_metrics(self.metric_ids)
        key = res * n + column
        keep = fresh(key, ts, self.episodes.last_ts)
        res, ts, value, column, key = res[keep], ts[keep], value[keep], column[keep], key[keep]
        # (capacity, n) C-contiguous: row res, column c is flat element res * n + c, the key.
        enter, leave, below = np.take(self.enter, key), np.take(self.leave, key), self.below[column]
        in_bed = self._in_bed(frame, key, res, ts)
        enter[in_bed], leave[in_bed] = np.take(self.bed_enter, key[in_bed]), np.take(self.bed_leave, key[in_bed])
        entered = np.where(below, value < enter, value > enter) | (self.inclusive[column] & (value == enter))
        left = np.where(below, value >= leave, value <= leave)
        rest = self.at_rest[column].nonzero()[0]
        if rest.shape[0]:
            entered[rest] &= resting(frame.exertion, res[rest], ts[rest])
        code = codes(entered, left)
        persist, max_gap = np.take(self.persist, key), self.max_gap[column]
        tolerance = np.minimum(self.dip_fraction[column] * persist, max_gap)
        step = self.episodes.advance(key, ts, code, persist, max_gap, tolerance)
        if not (step.raised.shape[0] or step.cleared.shape[0]):
            nothing = Findings.none()
            return dict.fromkeys(range(n), nothing)
        raised, cleared = step.raised, step.cleared
        found: dict[int, Findings] = {}
        for c in range(n):  # the rules, not readings
            mine, gone = column[raised] == c, column[cleared] == c
            found[c] = Findings.of(
                res[raised][mine], step.raised_at[mine], value[raised][mine], step.raised_onset[mine],
                np.column_stack([enter[raised][mine], in_bed[raised][mine]]),
                res[cleared][gone], ts[cleared][gone],
            )  # fmt: skip
        return found

    def _in_bed(self, frame: Frame, key: IntArray, res: IntArray, ts: FloatArray) -> BoolArray:
        """(n,) the readings (rule-and-resident ``key``, resident, ts (n,)) judged against an in-bed limit: those of
        residents with one for the rule, taken while they were in bed. Only those residents' readings are looked up."""
        judged = np.zeros(key.shape[0], bool)
        limited = (~np.isnan(np.take(self.bed_enter, key))).nonzero()[0]
        if limited.shape[0]:
            judged[limited] = in_bed_at(frame.in_bed, res[limited], ts[limited])
        return judged


class ThresholdRule(Rule):
    """One sustained-threshold rule: a column of a `ThresholdBank` (its own bank if none is given)."""

    def __init__(self, spec: ThresholdSpec, bank: ThresholdBank | None = None) -> None:
        super().__init__()
        if (spec.leave < spec.enter) if spec.below else (spec.leave > spec.enter):
            raise ValueError(f"{spec.name}: hysteresis must lie on the safe side of the threshold")
        self.spec = spec
        self.name = spec.name
        self.severity = spec.severity
        self.basis = spec.source
        self.metric = spec.metric
        self.metric_id = METRIC_ID[spec.metric]
        self.evidence_metrics = (self.metric_id,)
        self.threshold = (spec.metric, "low" if spec.below else "high")
        self.bed_limits = True
        self.detail_names = ("limit", "in_bed")  # the limit in force at the raising reading; 1 if the in-bed one
        self.bank = bank if bank is not None else ThresholdBank()
        self.column = self.bank.join(spec)
        self._capacity = 0

    @property
    def enter(self) -> FloatArray:
        """(capacity,) per-resident entry limits (a clinician may change them): a view of the bank's column."""
        return self.bank.enter[:, self.column]

    def beyond(self, positions: IntArray, values: FloatArray) -> BoolArray:
        """(n,) whether ``values`` (n,) of residents ``positions`` (n,) are beyond their entry limit out of bed (at it,
        for an ``inclusive`` rule): the trends and the baseline deviation speak only on the safe side of it."""
        limit = self.enter[positions]
        beyond: BoolArray = (values < limit if self.spec.below else values > limit) | (
            self.spec.inclusive & (values == limit)
        )
        return beyond

    @property
    def leave(self) -> FloatArray:
        return self.bank.leave[:, self.column]

    @property
    def persist(self) -> FloatArray:
        return self.bank.persist[:, self.column]

    def grow(self, population: Population) -> None:
        super().grow(population)
        old, self._capacity = self._capacity, len(population)
        self.bank.grow(self._capacity)
        if self.spec.for_resident is not None:
            for position in range(old, self._capacity):  # registration, not the batch path
                self.set_thresholds(position, *self.spec.for_resident(population.residents[position]))

    def set_thresholds(self, position: int, enter: float, leave: float) -> None:
        self.bank.enter[position, self.column], self.bank.leave[position, self.column] = enter, leave

    def set_threshold(self, position: int, value: float | None, in_bed: bool = False) -> None:
        if in_bed:
            enter, leave = (np.nan, np.nan) if value is None else self._with_hysteresis(value)
            self.bank.bed_enter[position, self.column], self.bank.bed_leave[position, self.column] = enter, leave
            return
        if value is None:
            spec = self.spec
            default = (spec.enter, spec.leave)
            if spec.for_resident is not None:
                default = spec.for_resident(self.population.residents[position])
            self.set_thresholds(position, *default)
            return
        self.set_thresholds(position, *self._with_hysteresis(value))

    def _with_hysteresis(self, value: float) -> tuple[float, float]:
        """A clinician's limit as (enter, leave): the default hysteresis kept around it."""
        gap = abs(self.spec.leave - self.spec.enter)
        return value, value + gap if self.spec.below else value - gap

    @property
    def bed_enter(self) -> FloatArray:
        """(capacity,) per-resident entry limits while in bed (NaN: ``enter`` applies in bed too)."""
        return self.bank.bed_enter[:, self.column]

    def parameters(self) -> dict[str, Parameter]:
        side = self.side
        unit = METRIC_BY_NAME[self.metric].unit
        return {
            "enter": Parameter(self.enter, unit, f"the condition starts {side} this value"),
            "leave": Parameter(self.leave, unit, "it ends on the safe side of this value (hysteresis)"),
            "persist_s": Parameter(self.persist, "s", "it alerts once it has lasted this long"),
        }

    def evaluate(self, frame: Frame) -> Findings:
        return self.bank.findings(self.column, frame)

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        return positions[self.bank.episodes.force(positions * len(self.bank.specs) + self.column, onset)]

    @property
    def side(self) -> str:
        """Where a value must lie to be beyond the limit, in words: "below", or "at or below" for an inclusive rule."""
        return ("at or " if self.spec.inclusive else "") + ("below" if self.spec.below else "above")

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        metric = METRIC_BY_NAME[self.metric]
        side, unit = self.side, symbol(metric)
        title = f"{metric.label} {shown(metric, value)} {unit}"
        limit, in_bed = (float(detail[0]), bool(detail[1])) if detail.shape[0] else (self.enter[position], False)
        whose = self._clinicians(position, limit, in_bed)
        if whose is not None:
            day = time.strftime("%Y-%m-%d", time.gmtime(whose.updated_at))
            set_by = f"limit set by {whose.updated_by} on {day}: {whose.reason}"
            note = f" (the limit in bed, {set_by})" if in_bed else f" ({set_by})"
        else:
            note = " (the limit in bed)" if in_bed else ""
        text = (
            f"{metric.label} {side} {limit:g} {unit}{note} for {minutes(at - onset)} (alerts after "
            f"{minutes(self.persist[position])}); latest {shown(metric, value)} {unit}."
        )
        return title, text

    def _clinicians(self, position: int, limit: float, in_bed: bool) -> Threshold | None:
        """The clinician's record of the limit an alert was judged against (None: the rule's default)."""
        record = self.documented.get((position, in_bed))
        value = None if record is None else record.low if self.spec.below else record.high
        return record if value is not None and float(value) == limit else None

    def basis_of(self, position: int, detail: FloatArray) -> str:
        limit, in_bed = (float(detail[0]), bool(detail[1])) if detail.shape[0] else (self.enter[position], False)
        whose = self._clinicians(position, limit, in_bed)
        if whose is None:
            return self.basis
        day = time.strftime("%Y-%m-%d", time.gmtime(whose.updated_at))
        return (
            f"a clinician's limit for this resident, not the default: {self.side} {limit:g} "
            f"{METRIC_BY_NAME[self.metric].unit}{' in bed' if in_bed else ''}, set by {whose.updated_by} on {day} "
            f"({whose.reason}); the default it replaces: {self.basis}"
        )

    def facts(self, position: int, detail: FloatArray) -> dict[str, Any]:
        facts = super().facts(position, detail)
        limit, in_bed = (float(detail[0]), bool(detail[1])) if detail.shape[0] else (self.enter[position], False)
        whose = self._clinicians(position, limit, in_bed)
        if whose is not None:  # for machine-readable consumers too (as a NEWS2 escalation)
            facts["set_by"] = {"by": whose.updated_by, "at": whose.updated_at, "reason": whose.reason}
        return facts

    def nbytes(self) -> int:
        return self.bank.nbytes() // len(self.bank.specs)  # its share: every part of the state has n columns
