"""Trends: a vital sign moving steadily in the wrong direction while still inside its normal range, e.g. SpO2
falling by 4 points over 10 minutes, temperature rising by 1 degC over 2 hours.

Readings are summed into slots of ``slot_s`` (a `SlotRing` per resident). When a slot is complete (a reading of a
later slot has arrived) it is evaluated: the *level* now is the mean of the last ``window`` slots, compared with the
highest (falling) or lowest (rising) level of the ``lookback`` windows before it, each needing ``min_count`` readings.
A change of ``delta`` enters, one of ``leave_delta`` or less leaves (hysteresis). Entering also needs the level to be
on the safe side of the matching threshold rule's limit in the evaluated slot itself (a trend is an early warning;
past the limit the threshold alert speaks, and a sudden drop is not also a trend). Evaluating completed slots only
makes the result independent of how readings were batched.

*A fever's level* (``TrendSpec.above_usual`` and ``usual_cap``, temperature's): entering also needs the level to lie
above ``usual_cap`` (37.2 degC: IDSA 2008 counts repeated readings above it as fever in long-term care), or at least
``above_usual`` above the resident's usual, the median of their daily means over the ``DAYS`` UTC days before the
slot's (`Usual`, used once it has ``MIN_DAYS`` days and ``MIN_READINGS`` readings, as the baseline's). A rise that
only brings the temperature back into the ordinary range (rewarming after a cold spell, a wrist sensor pressed back
against the skin) is not a fever's: the evaluation saw rises from 35.4-35.9 to 36.5-36.9 degC alert about once a
run, and until the clinical review a new resident (no usual learned: the first 3 days) was judged on the rise
alone, so 30 minutes at 35.0 then 36.8 warned "rose from 35.0 to 36.8". The cap keeps a fever that starts from a
night-time low of a resident whose day runs warm (usual 37.0, night 36.2) as early as the rise alone made it. The
``origin`` rule (temp_low) keeps a rise that starts beyond its limit (<= 35.0 degC: hypothermia recovering) out.

*Ending beyond a target* (``TrendSpec.ends_beyond``, SpO2's): for a resident with a target range, a change that ends
inside it is the intended correction, not a deterioration. SpO2 scale 2 (hypercapnic risk): BTS 2017 targets 88-92 %,
so a fall from 97 % on oxygen to 92 % is oxygen being titrated down to target (the clinical review saw it warn
"SpO2 fell from 97.0 to 92.3 %"); the fall alerts only once its level is under 88 %, while still at or above
spo2_low's 86 %. Scale 1: anywhere (a fall of 4 points within 94-98 % calls for assessment).

*At rest* (``TrendSpec.at_rest``, SpO2's): readings during exertion and ``RECOVERY_S`` after (alerts.signals, as
for the threshold rules at rest) are left out of the levels. A COPD resident desaturates on effort, and a PPG on a
walking arm misreads oxygen low: on the evaluation's scale-2 residents a short walk made a 4-point "fall" about
once a run. A fall during exertion is still ``spo2_low``'s to alert (never deferred), and the trend compares the
resting levels on either side of the walk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from alerts._arrays import FloatArray, IntArray, fresh, grown, lasts, ragged_arange
from alerts.frame import Frame
from alerts.residents import Population
from alerts.rules.base import Findings, Parameter, Rule, arrays_nbytes, minutes
from alerts.rules.baseline import DAY_S, DAYS, MIN_DAYS, MIN_READINGS
from alerts.rules.episodes import Episodes, codes
from alerts.rules.ring import SlotRing, Timeline
from alerts.rules.threshold import ThresholdRule
from alerts.signals import resting
from carewatch.catalog import METRIC_BY_NAME, METRIC_ID, shown, symbol
from carewatch.model import Resident, Severity


@dataclass(frozen=True, slots=True)
class TrendSpec:
    name: str
    metric: str
    falling: bool
    slot_s: float
    window: int  # slots per level
    lookback: int  # windows compared with the latest one
    delta: float
    leave_delta: float
    min_count: int  # readings a window needs to have a level
    severity: Severity
    source: str
    at_rest: bool = False  # readings during exertion and RECOVERY_S after are left out of the levels
    above_usual: float | None = None  # entering needs the level this far above the resident's usual (`Usual`) ...
    usual_cap: float = np.inf  # ... or above this level (until the usual is learned: above it alone)
    # The level a change must end beyond, per resident (falling: under it), None: anywhere (spo2_falling's target)
    ends_beyond: Callable[[Resident], float] | None = None


class Usual:
    """Each resident's usual level of one metric: the median of their daily means over the ``DAYS`` UTC days before
    a given day (a fever on two or three of them does not move it), once there are ``MIN_DAYS`` days with readings
    and ``MIN_READINGS`` readings (NaN before). Day sums (count, sum) in a `SlotRing`, fed the same readings as the
    trend's own ring, so a look-back from any slot of a batch is exact however the readings were batched."""

    def __init__(self) -> None:
        self.ring = SlotRing(DAYS + 1, 2)

    def grow(self, capacity: int) -> None:
        self.ring.grow(capacity)

    def placeable(self, res: IntArray, ts: FloatArray) -> np.ndarray:
        """(n,) True for readings whose day is still in their resident's ring (not over ``DAYS`` days late)."""
        placeable: np.ndarray = _day(ts) > self.ring.newest[res] - self.ring.length
        return placeable

    def add(self, res: IntArray, ts: FloatArray, counted: FloatArray) -> None:
        """Add placeable readings (n,) that complete no day, each in its resident's newest day; ``counted`` (n, 2):
        1 and the value of each (the trend's own slot sums)."""
        self.ring.add(res, _day(ts), counted)

    def timeline(self, res: IntArray, ts: FloatArray, counted: FloatArray) -> Timeline:
        """Lay out the residents of placeable readings (n,) sorted by resident, with ``counted`` (n, 2) added
        (`SlotRing.timeline`); `store` it once the look-backs are read."""
        return self.ring.timeline(res, _day(ts), counted)

    def before(self, line: Timeline, owner: IntArray, ts: FloatArray) -> FloatArray:
        """(e,) the usual level of resident ``line.key[owner]`` (e,) before the UTC day of ``ts`` (e,), NaN where not
        learned yet."""
        position = self.ring.locate(line, owner, _day(ts))
        back = position[:, None] - np.arange(1, DAYS + 1)[None, :]
        inside = back >= line.base[owner][:, None]  # older days have left the ring
        sums = np.take(line.sums, np.where(inside, back, 0), axis=0) * inside[:, :, None]
        count = sums[:, :, 0]
        learned = (count.sum(axis=1) >= MIN_READINGS) & ((count > 0).sum(axis=1) >= MIN_DAYS)
        usual = np.full(position.shape[0], np.nan)
        if learned.any():
            count, total = count[learned], sums[learned, :, 1]
            daily = np.where(count > 0, total / np.maximum(count, 1.0), np.nan)
            usual[learned] = np.nanmedian(daily, axis=1)
        return usual

    def store(self, line: Timeline) -> None:
        self.ring.store(line)

    def seed(self, res: IntArray, day: IntArray, count: FloatArray, total: FloatArray) -> None:
        """Stored day aggregates (k,) of UTC ``day`` (k,) for the restart rebuild (as `BaselineRule.seed`)."""
        np.maximum.at(self.ring.newest, res, day)
        keep = day > self.ring.newest[res] - self.ring.length
        self.ring.add(res[keep], day[keep], np.column_stack([count[keep], total[keep]]))

    def nbytes(self) -> int:
        return self.ring.nbytes()


def _day(ts: FloatArray) -> IntArray:
    day: IntArray = np.floor(ts / DAY_S).astype(np.int64)
    return day


class TrendRule(Rule):
    def __init__(self, spec: TrendSpec, limit: ThresholdRule, origin: ThresholdRule | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.name, self.severity, self.basis = spec.name, spec.severity, spec.source
        self.metric_id = METRIC_ID[spec.metric]
        self.evidence_metrics = (self.metric_id,)
        self.limit = limit  # its per-resident `enter` is the level a trend must not have crossed yet
        self.origin = origin  # the reference level must be on the safe side of its `enter` (no "recovery" trend)
        self.ring = SlotRing(spec.window * (spec.lookback + 1), 2)  # (count, sum) per slot
        self.last_ts = np.empty(0)  # (R,) newest reading summed
        self.delta = np.empty(0)
        self.persist = np.empty(0)
        self.episodes = Episodes(held=False)
        self.span_s = spec.slot_s * spec.window * (spec.lookback + 1)
        self.usual = Usual() if spec.above_usual is not None else None
        if self.usual is not None and DAY_S % spec.slot_s:
            raise ValueError(f"{spec.name}: a slot of {spec.slot_s} s must not straddle midnight")
        self.above_usual = np.empty(0)
        self.ends_beyond = np.empty(0)  # (R,) the level a change must end beyond (+-inf: anywhere)
        self.detail_names = ("reference", "change", "usual")[: 3 if self.usual is not None else 2]

    def grow(self, population: Population) -> None:
        super().grow(population)
        capacity = len(population)
        self.ring.grow(capacity)
        self.last_ts = grown(self.last_ts, capacity, -np.inf)
        self.delta = grown(self.delta, capacity, self.spec.delta)
        self.persist = grown(self.persist, capacity, 0.0)
        self.episodes.grow(capacity)
        old = self.ends_beyond.shape[0]
        self.ends_beyond = grown(self.ends_beyond, capacity, np.inf if self.spec.falling else -np.inf)
        if self.spec.ends_beyond is not None:
            for position in range(old, capacity):  # registration, not the batch path
                self.ends_beyond[position] = self.spec.ends_beyond(population.residents[position])
        if self.usual is not None and self.spec.above_usual is not None:
            self.usual.grow(capacity)
            self.above_usual = grown(self.above_usual, capacity, self.spec.above_usual)

    def parameters(self) -> dict[str, Parameter]:
        unit = METRIC_BY_NAME[self.spec.metric].unit
        parameters = {
            "delta": Parameter(self.delta, unit, "the change over the look-back that starts the condition"),
            "persist_s": Parameter(self.persist, "s", "it alerts once it has lasted this long"),
        }
        if self.usual is not None:
            about = "how far above the resident's usual (median daily mean of 7 days) the level must be to start it"
            parameters["above_usual"] = Parameter(self.above_usual, unit, about)
        return parameters

    def evaluate(self, frame: Frame) -> Findings:
        res, ts, value = frame.readings.of_metric(self.metric_id)
        keep = fresh(res, ts, self.last_ts)
        if self.spec.at_rest:
            keep = keep[resting(frame.exertion, res[keep], ts[keep])]
        res, ts, value = res[keep], ts[keep], value[keep]
        if self.usual is not None:
            keep = self.usual.placeable(res, ts).nonzero()[0]
            res, ts, value = res[keep], ts[keep], value[keep]
        if res.shape[0] == 0:
            return Findings.none()
        spec, L = self.spec, self.ring.length
        slot = np.floor(ts / spec.slot_s).astype(np.int64)
        last = lasts(res)
        self.last_ts[res[last]] = ts[last]
        values = np.column_stack([np.ones_like(value), value])
        stays = self.ring.in_newest(res, slot)  # most readings: still in the slot being filled, nothing to decide
        if stays.any():
            kept_res, kept_values = res[stays], values[stays]
            self.ring.add(kept_res, slot[stays], kept_values)
            if self.usual is not None:
                self.usual.add(kept_res, ts[stays], kept_values)
            moves = (~stays).nonzero()[0]
            if moves.shape[0] == 0:
                return Findings.none()
            res, ts, slot, values = res[moves], ts[moves], slot[moves], values[moves]
        line = self.ring.timeline(res, slot, values)
        days = self.usual.timeline(res, ts, values) if self.usual is not None else None
        # Completed slots: each key's previous newest slot (the ring's last), then its new slots but the newest
        # (a gap longer than the ring is shortened in the timeline: those slots are empty anyway).
        owner, j = ragged_arange(line.length - L)
        pos = line.base[owner] + L - 1 + j
        filled = line.sums[pos, 0] > 0
        pos, owner = pos[filled], owner[filled]
        key = line.key[owner]
        at = (line.slot[pos] + 1) * spec.slot_s
        sums = self.ring.windows(line, pos, spec.window, spec.lookback + 1)
        self.ring.store(line)
        usual = np.full(key.shape[0], np.nan)
        if self.usual is not None and days is not None:  # the same residents, in the same order, as `line`
            usual = self.usual.before(days, owner, line.slot[pos] * spec.slot_s)
            self.usual.store(days)
        count = sums[:, :, 0]
        level = np.where(count >= spec.min_count, sums[:, :, 1] / np.maximum(count, 1), np.nan)
        now, before = level[:, 0], level[:, 1:]
        latest = line.sums[pos, 1] / line.sums[pos, 0]  # the completed slot alone: is the value still in range?
        if spec.falling:
            reference = np.where(np.isnan(before), -np.inf, before).max(axis=1)
            change = reference - now
        else:
            reference = np.where(np.isnan(before), np.inf, before).min(axis=1)
            change = now - reference
        safe = ~self.limit.beyond(key, latest)
        safe &= (now < self.ends_beyond[key]) if spec.falling else (now > self.ends_beyond[key])
        if self.origin is not None:
            safe &= ~self.origin.beyond(key, reference)
        if self.usual is not None:  # a fever's level, not a return to the ordinary range (NaN usual: the cap alone)
            safe &= (now > spec.usual_cap) | (now >= usual + self.above_usual[key])
        known = np.isfinite(reference) & np.isfinite(now)
        code = codes(known & safe & (change >= self.delta[key]), known & (change <= spec.leave_delta))
        gap = np.full(key.shape[0], self.span_s)
        step = self.episodes.advance(key, at, code, self.persist[key], gap)
        raised = step.raised
        return Findings.of(
            key[raised], step.raised_at, now[raised], step.raised_onset,
            np.column_stack([reference[raised], change[raised], usual[raised]]), key[step.cleared], at[step.cleared],
        )  # fmt: skip

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        return positions[self.episodes.force(positions, onset)]

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        metric = METRIC_BY_NAME[self.spec.metric]
        unit = symbol(metric)

        def show(x: float) -> str:
            return shown(metric, x)

        reference, change, usual = float(detail[0]), float(detail[1]), float(detail[2])
        verb = "fell" if self.spec.falling else "rose"
        span = minutes(self.spec.slot_s * self.spec.window * self.spec.lookback)
        title = f"{metric.label} {verb} {abs(change):.1f} {unit}"
        text = f"{metric.label} {verb} from {show(reference)} to {show(value)} {unit} within {span}"
        if np.isfinite(usual):
            text += f", {value - usual:.1f} {unit} above this resident's usual {show(usual)} {unit}"
        text += (
            f" (alerts at a change of {self.delta[position]:g} {unit} while still "
            f"{'at or above' if self.spec.falling else 'at or below'} {self.limit.enter[position]:g} {unit}"
        )
        if np.isfinite(self.ends_beyond[position]):
            text += f" and ending {'under' if self.spec.falling else 'over'} {self.ends_beyond[position]:g} {unit}"
        if self.usual is not None:
            text += (
                f" and above {self.spec.usual_cap:g} {unit}, or at least {self.above_usual[position]:g} "
                f"{unit} above the usual once it is learned"
            )
        return title, text + ")."

    def nbytes(self) -> int:
        return (
            self.ring.nbytes()
            + arrays_nbytes(self.last_ts, self.delta, self.persist, self.above_usual)
            + self.episodes.nbytes()
            + (self.usual.nbytes() if self.usual is not None else 0)
        )

    def seed(self, res: IntArray, day: IntArray, count: FloatArray, total: FloatArray) -> None:
        """Stored day aggregates of the metric (k,) for the restart rebuild (`Usual.seed`)."""
        if self.usual is not None:
            self.usual.seed(res, day, count, total)
