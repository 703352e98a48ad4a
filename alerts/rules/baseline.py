"""Deviation from the resident's own baseline: a vital sign far from what is usual *for this person*, while still
inside the population limits that the threshold rules watch (a resting pulse of 105 in someone whose usual is 62).

The baseline of a metric is the mean and standard deviation of the resident's readings over the previous
``DAYS`` days (UTC day slots of a `SlotRing`: count, sum and sum of squares per metric; the current day never counts,
so a deviation does not teach itself). It is used once it has ``MIN_DAYS`` days and ``MIN_READINGS`` readings. A
reading enters when it is ``z_enter`` standard deviations away and at least ``MIN_CHANGE`` (one NEWS2 band, so that a
very stable resident does not alert on small changes), and leaves within ``z_leave`` SD or half that change. The
episodes are sampled (persistence ``persist_s``, default 15 minutes), one per resident and metric, folded into one
alert per resident (`Tally`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from alerts._arrays import FloatArray, IntArray, firsts, fresh, grown
from alerts.frame import Frame
from alerts.residents import Population
from alerts.rules.base import Findings, Parameter, Rule, arrays_nbytes, minutes
from alerts.rules.episodes import Episodes, Tally, codes, last_per_key
from alerts.rules.ring import NEVER, SlotRing
from alerts.rules.threshold import ThresholdRule
from carewatch.catalog import METRIC_BY_NAME, METRIC_ID, shown, symbol
from carewatch.model import Severity

METRICS = ("hr", "rr", "spo2", "temp", "sbp")
METRIC_IDS = np.array([METRIC_ID[m] for m in METRICS], np.int16)
# Typical adult values: sums are kept relative to them so that sums of squares stay well conditioned.
REFERENCE = np.array([70.0, 16.0, 96.0, 36.8, 130.0])
# One NEWS2 chart band of each parameter (pulse 20, RR 6-9, SpO2 2-4, temperature 1.0, systolic 10-20 mmHg; the
# wider end where the chart varies): smaller changes are not clinically meaningful however unusual.
MIN_CHANGE = np.array([20.0, 6.0, 4.0, 1.0, 30.0])
MIN_SD = np.array([3.0, 1.5, 1.0, 0.2, 5.0])  # sensor resolution and beat-to-beat noise: no tighter baseline
DAYS = 7
MIN_DAYS = 3
MIN_READINGS = 500
DAY_S = 86_400.0
Z_ENTER, Z_LEAVE = 4.0, 2.5
PERSIST_S = 15 * 60.0
MAX_GAP_S = 10 * 60.0
_BACK = np.arange(1, DAYS + 1)  # the look-back: days before the reading's
_MEAN, _SD, _COUNT, _DAYS = range(4)  # fields of `_look_back_stats`
BASIS = (
    "the resident's own readings over the last 7 days (Shewhart control limits: 4 SD to enter, 2.5 SD to leave), "
    "and at least one NEWS2 chart band of change (RCP 2017); no published default exists for personal baselines"
)


class BaselineRule(Rule):
    def __init__(self, limits: Mapping[str, tuple[ThresholdRule | None, ThresholdRule | None]]) -> None:
        super().__init__()
        self.name = "baseline_deviation"
        self.severity = Severity.WARNING
        self.basis = BASIS
        self.evidence_metrics = tuple(int(m) for m in METRIC_IDS)
        self.detail_names = ("metric", "mean", "sd", "deviation")
        self.limits = [limits.get(m, (None, None)) for m in METRICS]  # (low rule, high rule) per metric
        self.ring = SlotRing(DAYS + 1, 3 * len(METRICS))  # per metric: count, sum, sum of squares (relative)
        # The look-back of each resident's newest day, per metric (R, M, 4): mean (relative), sd, readings, days with
        # readings; valid where ``stats_day`` is the ring's newest day (the days before it change only with it).
        self.stats = np.empty((0, len(METRICS), 4))
        self.stats_day = np.empty(0, np.int64)
        self.z_enter = np.empty(0)
        self.persist = np.empty(0)
        self.episodes = Episodes(held=False)  # key = resident * M + metric column
        self.tally = Tally()

    def grow(self, population: Population) -> None:
        super().grow(population)
        capacity = len(population)
        self.ring.grow(capacity)
        self.stats = grown(self.stats, capacity, np.nan)
        self.stats_day = grown(self.stats_day, capacity, NEVER)
        self.z_enter = grown(self.z_enter, capacity, Z_ENTER)
        self.persist = grown(self.persist, capacity, PERSIST_S)
        self.episodes.grow(capacity * len(METRICS))
        self.tally.grow(capacity)

    def parameters(self) -> dict[str, Parameter]:
        return {
            "z_enter": Parameter(self.z_enter, "SD", "standard deviations from the baseline that start a deviation"),
            "persist_s": Parameter(self.persist, "s", "it alerts once it has lasted this long"),
        }

    def baseline(
        self, resident: IntArray, column: IntArray, day: IntArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(mean, sd, readings), each (n,), of metric ``column`` for residents (n,) before UTC ``day`` (n,), from
        the stored ring (for explanations and tests)."""
        L = self.ring.length
        newest = self.ring.newest[resident][:, None]
        days = day[:, None] - np.arange(1, DAYS + 1)[None, :]
        valid = (days <= newest) & (days > newest - L)
        per_day = np.where(valid[:, :, None], self.ring.sums[resident[:, None], days % L], 0.0)
        stats = _look_back_stats(per_day)[np.arange(resident.shape[0]), column]
        return stats[:, _MEAN] + REFERENCE[column], stats[:, _SD], stats[:, _COUNT]

    def seed(self, resident: IntArray, column: IntArray, day: IntArray, numbers: FloatArray) -> None:
        """Stored day aggregates (k,) for the restart rebuild: ``numbers`` (k, 3) = readings, sum, sum of squares
        of metric ``column`` on UTC ``day``."""
        L = self.ring.length
        np.maximum.at(self.ring.newest, resident, day)
        keep = day > self.ring.newest[resident] - L
        resident, column, day, numbers = resident[keep], column[keep], day[keep], numbers[keep]
        ref = REFERENCE[column]
        n, total, total_sq = numbers[:, 0], numbers[:, 1], numbers[:, 2]
        relative = np.column_stack([n, total - n * ref, total_sq - 2 * ref * total + n * ref * ref])
        for k in range(3):  # count, sum, sum of squares
            np.add.at(self.ring.sums, (resident, day % L, 3 * column + k), relative[:, k])
        self.stats_day[resident] = NEVER  # their look-back changed

    def evaluate(self, frame: Frame) -> Findings:
        res, ts, value, col = frame.readings.of_metrics(METRIC_IDS)
        key = res * len(METRICS) + col
        order = np.argsort(key, kind="stable")  # merges the metrics' runs, each sorted by (resident, ts, value)
        order = order[fresh(key[order], ts[order], self.episodes.last_ts)]
        if order.shape[0] == 0:
            return Findings.none()
        key, ts, value, col, res = key[order], ts[order], value[order], col[order], res[order]
        day = np.floor(ts / DAY_S).astype(np.int64)
        # A reading of a day the resident's ring has moved past (another metric ran ahead) is too late to place.
        current = day >= self.ring.newest[res]
        if not current.all():
            key, ts, value, col, res, day = (
                key[current],
                ts[current],
                value[current],
                col[current],
                res[current],
                day[current],
            )
            if key.shape[0] == 0:
                return Findings.none()
        # The ring wants observations grouped by resident; keys (resident-major) already are.
        stats = self._add_and_look_back(res, day, col, value - REFERENCE[col])
        sd, count, days = stats[:, _SD], stats[:, _COUNT], stats[:, _DAYS]
        mean = stats[:, _MEAN] + REFERENCE[col]
        deviation = value - mean
        mature = (count >= MIN_READINGS) & (days >= MIN_DAYS)
        inside_limits = np.ones(key.shape[0], bool)
        for c, (lo, hi) in enumerate(self.limits):  # five metrics, not readings
            here = (col == c).nonzero()[0]
            for rule in (r for r in (lo, hi) if r is not None):
                inside_limits[here] &= ~rule.beyond(res[here], value[here])
        far = np.abs(deviation) >= np.maximum(self.z_enter[res] * sd, MIN_CHANGE[col])
        near = np.abs(deviation) <= np.maximum(Z_LEAVE * sd, MIN_CHANGE[col] / 2)
        code = codes(mature & inside_limits & far, mature & near)
        step = self.episodes.advance(key, ts, code, self.persist[res], np.full(key.shape[0], MAX_GAP_S))
        changed = np.concatenate([step.raised, step.cleared])
        when = np.concatenate([step.raised_at, ts[step.cleared]])
        delta = np.concatenate([np.ones(step.raised.shape[0], np.int64), -np.ones(step.cleared.shape[0], np.int64)])
        freed, freed_at = self.tally.release(*last_per_key(res, ts))
        who = np.concatenate([res[changed], freed])
        raised, cleared = self.tally.apply(
            who, np.concatenate([when, freed_at]), np.concatenate([delta, -np.ones(freed.shape[0], np.int64)])
        )
        src = changed[raised]
        onset = np.concatenate([step.raised_onset, np.full(step.cleared.shape[0], np.nan)])[raised]
        detail = np.column_stack([col[src], mean[src], sd[src], deviation[src]])
        all_when = np.concatenate([when, freed_at])
        return Findings.of(who[raised], all_when[raised], value[src], onset, detail, who[cleared], all_when[cleared])

    def _add_and_look_back(self, res: IntArray, day: IntArray, col: IntArray, x: FloatArray) -> FloatArray:
        """Add readings (n,) (grouped by resident; ``x`` relative to REFERENCE) to their day slots. Returns the
        statistics of the ``DAYS`` days before each reading's day for its metric (n, 4) (`_look_back_stats`).
        Residents whose readings are all of their newest day (nearly always) are added in place and read the
        statistics kept for that day (computed at its first reading); the others go through a timeline (a new
        day)."""
        ring, fields = self.ring, self.ring.fields
        stats = np.empty((res.shape[0], 4))
        stays = ring.in_newest(res, day)
        here = stays.nonzero()[0]
        if here.shape[0]:
            u = res[here][firsts(res[here])]
            stale = u[self.stats_day[u] != ring.newest[u]]
            if stale.shape[0]:
                newest = ring.newest[stale]
                before = np.take(ring.flat, ring.rows(stale[:, None], newest[:, None] - _BACK), axis=0)
                self.stats[stale], self.stats_day[stale] = _look_back_stats(before), newest
            stats[here] = self.stats[res[here], col[here]]
            _add(ring.flat.reshape(-1), ring.rows(res[here], day[here]) * fields + 3 * col[here], x[here])
        moved = (~stays).nonzero()[0]
        if moved.shape[0]:
            line = ring.timeline(res[moved], day[moved])
            _add(line.sums.reshape(-1), line.position * fields + 3 * col[moved], x[moved])
            slots, inverse = np.unique(line.position, return_inverse=True)
            stats[moved] = _look_back_stats(np.take(line.sums, slots[:, None] - _BACK, axis=0))[inverse, col[moved]]
            ring.store(line)
        return stats

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        self.tally.force(positions)
        return positions[:0]

    def primary_metric(self, detail: FloatArray) -> str | None:
        return METRICS[int(detail[0])]

    def facts(self, position: int, detail: FloatArray) -> dict[str, Any]:
        return super().facts(position, detail) | {"metric": METRICS[int(detail[0])]}

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        column, mean, sd, deviation = int(detail[0]), float(detail[1]), float(detail[2]), float(detail[3])
        metric = METRIC_BY_NAME[METRICS[column]]
        side = "above" if deviation > 0 else "below"
        unit = symbol(metric)
        title = f"{metric.label} {shown(metric, value)} {unit}: unusual for this resident"
        text = (
            f"{metric.label} {shown(metric, value)} {unit} is {abs(deviation):.1f} {unit} {side} this resident's "
            f"usual {mean:.1f} +/- {sd:.1f} {unit} (last {DAYS} days) for {minutes(at - onset)} "
            f"(alerts at {self.z_enter[position]:g} SD and at least {MIN_CHANGE[column]:g} {unit}, "
            f"after {minutes(self.persist[position])})."
        )
        return title, text

    def nbytes(self) -> int:
        return (
            self.ring.nbytes()
            + arrays_nbytes(self.z_enter, self.persist, self.stats, self.stats_day)
            + self.episodes.nbytes()
            + self.tally.nbytes()
        )


def _look_back_stats(per_day: FloatArray) -> FloatArray:
    """(u, M, 4) per metric: mean (relative to REFERENCE), sd (floored at MIN_SD), readings and days with readings,
    from ``per_day`` (u, DAYS, F) day sums."""
    sums = per_day.sum(axis=1)
    count = sums[:, 0::3]
    n = np.maximum(count, 1.0)
    mean = sums[:, 1::3] / n
    sd = np.sqrt(np.maximum(sums[:, 2::3] / n - mean * mean, 0.0))
    days = (per_day[:, :, 0::3] > 0).sum(axis=1).astype(np.float64)
    return np.stack([mean, np.maximum(sd, MIN_SD), count, days], axis=2)


def _add(flat: FloatArray, cell: IntArray, x: FloatArray) -> None:
    """Add readings (n,) to the (count, sum, sum of squares) fields from ``cell`` (n,) of ``flat``, in order, as
    one reading at a time adds them."""
    np.add.at(flat, cell, 1.0)
    np.add.at(flat, cell + 1, x)
    np.add.at(flat, cell + 2, x * x)
