"""Behaviour rules learned per resident: no activity when activity is expected, not up by the usual time.

Activity comes from alerts.signals (room sensors, steps, wearable movement). Both rules learn from the resident's
own last ``LEARN_DAYS`` local days, kept in small rings stamped with the local day number (``RING_DAYS`` slots, a
few more than learned, so that a silence spanning midnight still sees the 14 days before it):

- ``hours`` (R, RING_DAYS) uint32: bit h set when there was activity in local hour h of that day. An hour is
  *expected active* on day d when it had activity on at least ``share`` of the learned days before d (days with
  any activity), once there are ``min_days`` of them.
- ``up`` (R, RING_DAYS): local minute of the day's first sign of being up after ``morning`` (04:00); the usual
  time on day d is the median over the learned days before d. Being up is leaving the bed or activity outside the
  bedroom (alerts.signals, ``Frame.up``), in learning and in the check alike: a sleeper turning over is seen by the
  bedroom PIR, and counting that made the learned time the small hours and the rule unable to fire.

The profile that judges a moment is always the one *as of that moment's day*, computed from the stamped ring, and a
batch is learned day by day (a loop over the few local days in a batch, not over readings): so how data was cut
into batches and when the clock ticked change nothing. No activity alerts once a silence has covered ``quiet_s`` of
the resident's expected-active hours (a silence at night, or in hours this resident is often quiet, does not count).
Both conditions are gaps in time, found two ways with the same result: by the clock (`tick`) while the silence lasts,
and by the next activity when data arrives late. An alert opens at the deterministic instant the condition became
true and clears at the next activity.
"""

from __future__ import annotations

import numpy as np

from alerts._arrays import FloatArray, IntArray, firsts, grown, lasts, previous
from alerts.frame import Frame, Points
from alerts.residents import Population
from alerts.rules.base import Findings, Parameter, Rule, arrays_nbytes, minutes
from alerts.rules.safety import clock
from carewatch.model import Severity

LEARN_DAYS = 14
RING_DAYS = LEARN_DAYS + 3
DAY_S, HOUR_S = 86_400.0, 3600.0
NO_DAY = np.iinfo(np.int64).min // 2


def local_day(ts: FloatArray, offset: FloatArray) -> IntArray:
    return np.floor((ts + offset) / DAY_S).astype(np.int64)


def _learned(stamp: np.ndarray, day: IntArray) -> np.ndarray:
    """(k, RING_DAYS) True for ring slots holding one of the LEARN_DAYS days before ``day`` (k,)."""
    return (stamp < day[:, None]) & (stamp >= day[:, None] - LEARN_DAYS)


class _Activity:
    """Shared plumbing: activity instants newer than ``last`` (R,)."""

    def __init__(self) -> None:
        self.last = np.empty(0)

    def grow(self, capacity: int) -> None:
        self.last = grown(self.last, capacity, -np.inf)

    def fresh(self, a: Points) -> tuple[IntArray, FloatArray]:
        """Instants (sorted by (resident, ts), one per instant) newer than ``last``."""
        keep = a.ts > self.last[a.resident]
        return a.resident[keep], a.ts[keep]


class NoActivityRule(Rule):
    def __init__(self) -> None:
        super().__init__()
        self.name, self.severity = "no_activity", Severity.WARNING
        self.basis = (
            "learned from the resident's own last 14 days: silence of 2 h in an hour of the day that had activity on "
            "at least 80 % of them (an activity-pattern telecare practice; no published default)"
        )
        self.seen = _Activity()
        self.hours = np.zeros((0, RING_DAYS), np.uint32)
        self.stamp = np.zeros((0, RING_DAYS), np.int64)
        self.active = np.empty(0, bool)
        self.quiet = np.empty(0)
        self.share = np.empty(0)
        self.min_days = np.empty(0)
        self._due = np.empty(0)  # tick's cache: when the silence since `_due_for` becomes alertable
        self._due_for = np.empty(0)

    def grow(self, population: Population) -> None:
        super().grow(population)
        n = len(population)
        self.seen.grow(n)
        self.hours = grown(self.hours, n, 0)
        self.stamp = grown(self.stamp, n, NO_DAY)
        self.active = grown(self.active, n, False)
        self.quiet = grown(self.quiet, n, 2 * HOUR_S)
        self.share = grown(self.share, n, 0.8)
        self.min_days = grown(self.min_days, n, 7.0)
        self._due = grown(self._due, n, np.inf)
        self._due_for = grown(self._due_for, n, np.nan)

    def parameters(self) -> dict[str, Parameter]:
        return {
            "quiet_s": Parameter(self.quiet, "s", "silence that alerts in an hour when activity is expected"),
            "share": Parameter(self.share, "1", "an hour is expected active if active on this share of days"),
            "min_days": Parameter(self.min_days, "d", "days of learning before the rule alerts"),
        }

    def learn(self, resident: IntArray, ts: FloatArray) -> None:
        """Set the hour bits of activity instants (n,) (any order); instants of days the ring has passed are
        ignored."""
        if resident.shape[0] == 0:
            return
        local = ts + self.population.utc_offset[resident]
        day = np.floor(local / DAY_S).astype(np.int64)
        hour = (np.mod(local, DAY_S) // HOUR_S).astype(np.uint32)
        slot = day % RING_DAYS
        # The newest day per (resident, slot) owns the slot; older instants that map to it are dropped.
        pair, inverse = np.unique(resident * RING_DAYS + slot, return_inverse=True)
        newest = np.full(pair.shape[0], NO_DAY)
        np.maximum.at(newest, inverse, day)
        r, s = pair // RING_DAYS, pair % RING_DAYS
        owner = np.maximum(self.stamp[r, s], newest)
        reset = owner > self.stamp[r, s]
        self.hours[r[reset], s[reset]] = 0
        self.stamp[r, s] = owner
        keep = day == owner[inverse]
        np.bitwise_or.at(self.hours, (resident[keep], slot[keep]), np.left_shift(np.uint32(1), hour[keep]))
        self._due_for[resident] = np.nan

    def seed(self, resident: IntArray, first: FloatArray, last: FloatArray) -> None:
        """Stored hourly activity (k,): first and last event of each bucket, for the restart rebuild."""
        self.learn(resident, first)
        np.maximum.at(self.seen.last, resident, last)

    def expected(self, resident: IntArray, day: IntArray) -> np.ndarray:
        """(k, 24) bool: the expected-active local hours of residents (k,) as of local ``day`` (k,); none until
        ``min_days`` days are learned."""
        stamp, hours = self.stamp[resident], self.hours[resident]
        learned = _learned(stamp, day) & (hours != 0)
        n_days = learned.sum(axis=1)
        enough = (n_days >= self.min_days[resident]) & (n_days > 0)
        need = self.share[resident] * n_days
        expected = np.empty((resident.shape[0], 24), bool)
        for h in range(24):  # hours of the day, not residents
            active = ((hours >> np.uint32(h)) & np.uint32(1)).astype(bool) & learned
            expected[:, h] = enough & (active.sum(axis=1) >= need)
        return expected

    def raise_at(self, resident: IntArray, last: FloatArray, expected: np.ndarray) -> FloatArray:
        """When a silence that began at ``last`` (k,) becomes alertable: once it has covered ``quiet_s`` of the
        resident's expected-active hours (``expected`` (k, 24), as of the day it began); inf if not within 48 h."""
        offset = self.population.utc_offset[resident]
        local = last + offset
        hour_no = np.floor(local / HOUR_S)
        need = self.quiet[resident].copy()
        at = np.full(resident.shape[0], np.inf)
        rows = np.arange(resident.shape[0])
        never = ~expected.any(axis=1)  # no expected hour: stays inf
        for j in range(48):  # hours ahead, not residents
            if (never | np.isfinite(at)).all():
                break
            start = np.where(j == 0, local, (hour_no + j) * HOUR_S)
            span = (hour_no + j + 1) * HOUR_S - start
            open_ = expected[rows, np.mod(hour_no + j, 24).astype(np.int64)] & np.isinf(at)
            done = open_ & (need <= span)
            at[done] = start[done] + need[done] - offset[done]
            need = np.where(open_ & ~done, need - span, need)
        return at

    def evaluate(self, frame: Frame) -> Findings:
        res, ts = self.seen.fresh(frame.activity)
        if res.shape[0] == 0:
            return Findings.none()
        first, last = firsts(res), lasts(res)
        prev = previous(ts, first, self.seen.last[res])
        due = np.full(res.shape[0], np.inf)
        candidate = np.isfinite(prev) & (prev + self.quiet[res] < ts)  # a silence long enough to matter
        offset = self.population.utc_offset[res]
        day = local_day(ts, offset)
        for d in np.unique(day).tolist():  # the batch's local days (one or two), learned in order
            mine = day == d
            c = np.flatnonzero(mine & candidate)
            if c.shape[0]:
                expected = self.expected(res[c], local_day(prev[c], offset[c]))
                due[c] = self.raise_at(res[c], prev[c], expected)
            self.learn(res[mine], ts[mine])
        gap = ts > due
        already = first & self.active[res]  # raised by the clock; this activity ends it
        raised = gap & ~already
        cleared = gap | already
        self.seen.last[res[last]] = ts[last]
        self.active[res[last]] = False
        return Findings.of(res[raised], due[raised], prev[raised], prev[raised], None, res[cleared], ts[cleared])

    def tick(self, now: float) -> Findings:
        last = self.seen.last
        silent = np.flatnonzero(~self.active & np.isfinite(last) & (last + self.quiet < now))
        if silent.shape[0] == 0:
            return Findings.none()
        stale = silent[self._due_for[silent] != last[silent]]  # a new silence, or relearned: compute its time
        if stale.shape[0]:
            expected = self.expected(stale, local_day(last[stale], self.population.utc_offset[stale]))
            self._due[stale] = self.raise_at(stale, last[stale], expected)
            self._due_for[stale] = last[stale]
        fire = self._due[silent] < now
        who = silent[fire]
        self.active[who] = True
        return Findings.of(who, self._due[who], last[who], last[who])

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        moved = self.seen.last[positions] > onset
        self.active[positions[~moved]] = True
        return positions[moved]

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        offset = self.population.utc_offset[position]
        text = (
            f"No activity since {clock(value, offset)}: by {clock(at, offset)} the silence has covered "
            f"{minutes(self.quiet[position])} of the hours in which this resident is usually active (activity in the "
            f"hour on at least {self.share[position]:.0%} of the last {LEARN_DAYS} days)."
        )
        return "No activity when usually active", text

    def nbytes(self) -> int:
        arrays = (self.hours, self.stamp, self.active, self.quiet, self.share, self.min_days)
        return arrays_nbytes(*arrays, self.seen.last, self._due, self._due_for)


class NotUpRule(Rule):
    def __init__(self) -> None:
        super().__init__()
        self.name, self.severity = "not_up", Severity.WARNING
        self.basis = (
            "learned from the resident's own last 14 days: median time of getting up (leaving the bed, or activity "
            "outside the bedroom) after 04:00, plus 60 minutes (a morning-check telecare practice; no published "
            "default)"
        )
        self.detail_names = ("usual_minute",)
        self.seen = _Activity()
        self.up = np.zeros((0, RING_DAYS))  # local minute of the day's first activity after `morning`
        self.stamp = np.zeros((0, RING_DAYS), np.int64)
        self.up_ts = np.empty(0)  # (R,) time of the latest day's first activity
        self.active = np.empty(0, bool)
        self.grace = np.empty(0)
        self.morning = np.empty(0)
        self.min_days = np.empty(0)
        self._cache_day = np.empty(0, np.int64)  # tick's cache: the usual time valid for this day
        self._cache = np.empty(0)

    def grow(self, population: Population) -> None:
        super().grow(population)
        n = len(population)
        self.seen.grow(n)
        self.up = grown(self.up, n, np.nan)
        self.stamp = grown(self.stamp, n, NO_DAY)
        self.up_ts = grown(self.up_ts, n, -np.inf)
        self.active = grown(self.active, n, False)
        self.grace = grown(self.grace, n, HOUR_S)
        self.morning = grown(self.morning, n, 4 * HOUR_S)
        self.min_days = grown(self.min_days, n, 5.0)
        self._cache_day = grown(self._cache_day, n, NO_DAY)
        self._cache = grown(self._cache, n, np.nan)

    def parameters(self) -> dict[str, Parameter]:
        return {
            "grace_s": Parameter(self.grace, "s", "time after the usual getting-up time before alerting"),
            "morning_s": Parameter(self.morning, "s", "local time from which activity counts as getting up"),
            "min_days": Parameter(self.min_days, "d", "days of learning before the rule alerts"),
        }

    def usual(self, resident: IntArray, day: IntArray) -> FloatArray:
        """(k,) the usual getting-up minute of residents (k,) as of local ``day`` (k,): the median of the learned
        days before it (NaN with fewer than ``min_days``)."""
        learned = _learned(self.stamp[resident], day) & ~np.isnan(self.up[resident])
        n = learned.sum(axis=1)
        ordered = np.sort(np.where(learned, self.up[resident], np.inf), axis=1)
        lo = np.take_along_axis(ordered, np.maximum((n - 1) // 2, 0)[:, None], axis=1)[:, 0]
        hi = np.take_along_axis(ordered, np.minimum(n // 2, RING_DAYS - 1)[:, None], axis=1)[:, 0]
        return np.where((n >= self.min_days[resident]) & (n > 0), (lo + hi) / 2, np.nan)

    def deadline(self, resident: IntArray, day: IntArray, usual: FloatArray) -> FloatArray:
        """When not being up on local ``day`` becomes alertable (NaN while the usual time is not learned)."""
        return day * DAY_S - self.population.utc_offset[resident] + usual * 60 + self.grace[resident]

    def _first_up(self, resident: IntArray, ts: FloatArray) -> tuple[np.ndarray, IntArray, FloatArray]:
        """For instants (n,) sorted by (resident, ts): (n,) True at each day's first activity after the morning
        start that the ring has not recorded yet, with every instant's local day and minute of the day."""
        local = ts + self.population.utc_offset[resident]
        day = np.floor(local / DAY_S).astype(np.int64)
        of_day = np.mod(local, DAY_S)
        unseen = self.stamp[resident, day % RING_DAYS] < day
        candidate = np.flatnonzero((of_day >= self.morning[resident]) & unseen)
        r, d = resident[candidate], day[candidate]
        first = np.ones(candidate.shape[0], bool)
        first[1:] = (r[1:] != r[:-1]) | (d[1:] != d[:-1])
        marked = np.zeros(resident.shape[0], bool)
        marked[candidate[first]] = True
        return marked, day, of_day / 60

    def _record(self, resident: IntArray, day: IntArray, minute: FloatArray, ts: FloatArray) -> None:
        slot = day % RING_DAYS
        newer = day > self.stamp[resident, slot]
        r, s = resident[newer], slot[newer]
        self.up[r, s], self.stamp[r, s] = minute[newer], day[newer]
        np.maximum.at(self.up_ts, r, ts[newer])
        self._cache_day[r] = NO_DAY

    def seed(self, resident: IntArray, first: FloatArray, last: FloatArray) -> None:
        """Stored hourly activity (k,) sorted by (resident, first), for the restart rebuild."""
        marked, day, minute = self._first_up(resident, first)
        self._record(resident[marked], day[marked], minute[marked], first[marked])
        np.maximum.at(self.seen.last, resident, last)

    def evaluate(self, frame: Frame) -> Findings:
        res, ts = self.seen.fresh(frame.up)
        if res.shape[0] == 0:
            return Findings.none()
        self.seen.last[res[lasts(res)]] = ts[lasts(res)]
        marked, day, minute = self._first_up(res, ts)
        up = np.flatnonzero(marked)
        r, t, d = res[up], ts[up], day[up]
        usual = np.full(up.shape[0], np.nan)
        for x in np.unique(d).tolist():  # the batch's local days, learned in order
            mine = d == x
            usual[mine] = self.usual(r[mine], d[mine])
            self._record(r[mine], d[mine], minute[up][mine], t[mine])
        due = self.deadline(r, d, usual)
        ongoing = firsts(r) & self.active[r]  # raised earlier (by the clock, or on an earlier day): this ends it
        late = t > due  # NaN (not learned): never late
        raised = late & ~ongoing
        cleared = late | ongoing
        self.active[r] = False
        return Findings.of(r[raised], due[raised], t[raised], due[raised], usual[raised], r[cleared], t[cleared])

    def tick(self, now: float) -> Findings:
        offset = self.population.utc_offset
        everyone = np.arange(offset.shape[0])
        today = local_day(np.full(offset.shape[0], now), offset)
        waiting = ~self.active & (self.stamp[everyone, today % RING_DAYS] != today)
        waiting &= np.mod(now + offset, DAY_S) >= self.morning
        who = np.flatnonzero(waiting)
        stale = who[self._cache_day[who] != today[who]]
        if stale.shape[0]:
            self._cache[stale] = self.usual(stale, today[stale])
            self._cache_day[stale] = today[stale]
        due = self.deadline(who, today[who], self._cache[who])
        fire = due < now
        firing = who[fire]
        self.active[firing] = True
        return Findings.of(firing, due[fire], raised_onset=due[fire], raised_detail=self._cache[firing])

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        up = self.up_ts[positions] > onset
        self.active[positions[~up]] = True
        return positions[up]

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        offset = self.population.utc_offset[position]
        usual = float(detail[0]) * 60 if detail.shape[0] else float("nan")
        text = (
            f"No sign of getting up by {clock(at, offset)}: this resident is usually up by {clock(usual, 0)} "
            f"(median of the last {LEARN_DAYS} days); alerts {minutes(self.grace[position])} later."
        )
        return "Not up by the usual time", text

    def nbytes(self) -> int:
        arrays = (self.up, self.stamp, self.up_ts, self.active, self.grace, self.morning, self.min_days)
        return arrays_nbytes(*arrays, self.seen.last, self._cache_day, self._cache)
