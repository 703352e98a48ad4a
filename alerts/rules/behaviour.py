"""Behaviour rules learned per resident: no activity when activity is expected, not up by the usual time.

Activity comes from alerts.signals (room sensors, steps, wearable movement). Both rules learn from the resident's
own last ``LEARN_DAYS`` local days, kept in small rings stamped with the local day number (``RING_DAYS`` slots, a
few more than learned, so that a silence spanning midnight still sees the 14 days before it):

- ``hours`` (R, RING_DAYS) uint32: bit h set when there was activity in local hour h of that day; ``away`` (R,
  RING_DAYS) uint32: bit h set when the resident was out for all of it. An hour is *expected active* on day d when
  it was active or spent out on at least ``share`` of the learned days before d that monitored it, once
  ``min_days`` of them did. A day monitored an hour when it had activity at or before it and at or after it: the
  day monitoring began at 22:27 says nothing of 12:00 (counted, it made an hour active on 6 of 7 whole days fall
  short of 80 % of 8), nor does a day that ends early (in hospital) of its evening. An hour spent out counts as an
  active one: out is up and about. Counted as silent, a resident out at 11:00 on 2 of 7 days had no usual activity
  then; left out of the count, one out at 11:00 on 5 of 8 days had too few days at home to judge it (both were
  evaluation misses). An hour the resident was out for only part of holds their departure or return: it is active.
- Out (``out_since`` (R,), NaN at home): from a front door's change (`Frame.entrance`) that came after the last
  activity inside (`Frame.inside`: the room sensors but the front door) until the next activity inside. The
  wearable's activity (steps, movement) neither starts nor ends it: it goes out with the resident. At one instant,
  activity inside wins. A silence that begins with the resident out is not a silence at home: it runs no clock.
- ``up`` (R, RING_DAYS): local minute of the day's getting up; the usual time on day d is the median over the
  learned days before d. Getting up is being out of bed *and staying out*. A *candidate* is the first sign of being
  up (leaving the bed, or activity outside the bedroom: alerts.signals, ``Frame.up``; a sleeper turning over is
  seen by the bedroom PIR and is not one) after ``morning`` (04:00) and after the last return to bed (a bed
  sensor's occupied sample). It is the day's getting up, at its own time, unless the resident is back in bed
  before ``confirm_s`` (30 min) has passed: a night toilet visit after 04:00 is not getting up (counting it made
  the learned time early and let a visit on a not-up morning count as being up). A resident without a bed sensor
  of their own cannot be seen going back to bed: their candidates are confirmed at once. ``pending`` (R,) holds a
  candidate not yet confirmed (at most one per resident: the wait ends at the next morning start at the latest).

The profile that judges a moment is always the one *as of that moment's day*, computed from the stamped ring, and a
batch is learned day by day (a loop over the few local days in a batch, not over readings): so how data was cut
into batches and when the clock ticked change nothing. No activity alerts once a silence has covered ``quiet_s`` of
the resident's expected-active hours (a silence at night, or in hours this resident is often quiet, does not count)
and the resident is not in bed: a silence that began with them in bed does not run the clock at all, and leaving
the bed is activity, so the clock starts again then. In bed is the shared state of alerts.signals (``Frame.in_bed``):
a bed sensor attributed to them alone said occupied, and no sign of being up came after it (an empty sample, or
activity outside the bedroom: a missed exit or a sensor stuck at occupied does not silence the rule past the next
such activity). The state changes only at activity (a level repeat changes nothing), so the state at a silence's
start is the state throughout it.
Both conditions are gaps in time, found two ways with the same result: by the clock (`tick`) while the silence lasts,
and by later data when it arrives late. An alert opens at the deterministic instant the condition became true (for
not up, the deadline: the usual time plus ``grace_s``) and clears at the next activity (for not up, at the
getting-up time, once confirmed). Not up is confirmed or cancelled by the resident's later observations or by the
clock (`tick` at the candidate's confirmation time); while a candidate from before the deadline may still be
confirmed, the rule does not alert, and a later observation or tick that finds the resident still not up (no
candidate, or one back in bed) raises the alert at the deadline.
"""

from __future__ import annotations

import numpy as np

from alerts._arrays import (
    NO_INDEX,
    BoolArray,
    FloatArray,
    IntArray,
    firsts,
    grown,
    last_index,
    lasts,
    previous,
    ragged_arange,
    run_start,
    sort_fresh,
)
from alerts.frame import Frame, Points
from alerts.residents import DEVICE_KINDS, Population
from alerts.rules.base import Findings, Parameter, Rule, arrays_nbytes, minutes
from alerts.rules.safety import clock
from alerts.signals import in_bed_at, latest_at
from carewatch.catalog import EVENT_ID
from carewatch.model import DeviceKind, Severity

LEARN_DAYS = 14
RING_DAYS = LEARN_DAYS + 3
DAY_S, HOUR_S = 86_400.0, 3600.0
NO_DAY = np.iinfo(np.int64).min // 2
# Getting up is out of bed and staying out: a night toilet visit (out of bed, to the bathroom, back within minutes)
# is not. Half an hour is several times such a visit, and short against the hour of grace (a design choice).
CONFIRM_S = 30 * 60.0
BED = EVENT_ID["bed"]
BED_SENSOR = DEVICE_KINDS.index(DeviceKind.BED)


def local_day(ts: FloatArray, offset: FloatArray) -> IntArray:
    return np.floor((ts + offset) / DAY_S).astype(np.int64)


def _active_span(hours: np.ndarray) -> tuple[IntArray, IntArray]:
    """The first and last local hour with activity of each day's hour bits (uint32, any shape; 0 where none)."""
    bits = np.maximum(hours.astype(np.int64), 1)
    return np.log2(bits & -bits).astype(np.int64), np.floor(np.log2(bits)).astype(np.int64)


def _home_instants(inside: Points, entrance: Points, last: FloatArray) -> tuple[IntArray, FloatArray, BoolArray]:
    """Instants at home (n,) sorted by (resident, ts), one per instant, newer than ``last`` (R,), and whether only
    the front door changed then (activity inside wins at one instant)."""
    res = np.concatenate([inside.resident, entrance.resident])
    ts = np.concatenate([inside.ts, entrance.ts])
    door = np.repeat([False, True], [inside.ts.shape[0], entrance.ts.shape[0]])
    keep = sort_fresh(res, ts, last, door)
    return res[keep], ts[keep], door[keep]


def _bit(bits: np.ndarray, h: int) -> np.ndarray:
    """Bit ``h`` of uint32 hour masks (any shape) as bool."""
    return ((bits >> np.uint32(h)) & np.uint32(1)).astype(bool)


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
            "learned from the resident's own last 14 days: silence at home of 2 h in an hour of the day that had "
            "activity on at least 80 % of the days, or that they spent out (left through the front door: up and "
            "about), not counting time in bed (their own bed sensor occupied, no activity elsewhere since: an early "
            "night is not a silence) nor time out (left through the front door, no activity inside since); an "
            "activity-pattern telecare practice with bed occupancy and door sensors; no published default"
        )
        self.seen = _Activity()
        self.hours = np.zeros((0, RING_DAYS), np.uint32)
        self.stamp = np.zeros((0, RING_DAYS), np.int64)
        self.away = np.zeros((0, RING_DAYS), np.uint32)  # bit h: out for all of local hour h of the slot's day
        self.out_since = np.empty(0)  # (R,) when the current outing began; NaN at home
        self.active = np.empty(0, bool)
        self.in_bed = np.empty(0, bool)  # (R,) in bed after the latest batch (alerts.signals: Frame.in_bed.after)
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
        self.away = grown(self.away, n, 0)
        self.out_since = grown(self.out_since, n, np.nan)
        self.active = grown(self.active, n, False)
        self.in_bed = grown(self.in_bed, n, False)
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
        local = ts + self.population.utc_offset[resident]
        hour = (np.mod(local, DAY_S) // HOUR_S).astype(np.uint32)
        self._mark(self.hours, resident, np.floor(local / DAY_S).astype(np.int64), np.left_shift(np.uint32(1), hour))

    def learn_away(self, resident: IntArray, start: FloatArray, end: FloatArray) -> None:
        """Set the away bits of the local hours wholly inside outings [start, end) (k,), on the days the ring holds
        before each one's end."""
        offset = self.population.utc_offset[resident]
        last_day = local_day(end, offset)
        lo = np.maximum(np.ceil((start + offset) / HOUR_S), (last_day - RING_DAYS + 1) * 24).astype(np.int64)
        hi = np.floor((end + offset) / HOUR_S).astype(np.int64)  # hours [lo, hi) are wholly out
        n_days = np.where(hi > lo, (hi - 1) // 24 - lo // 24 + 1, 0)
        owner, k = ragged_arange(n_days)
        day = lo[owner] // 24 + k
        first = np.maximum(lo[owner] - day * 24, 0)
        stop = np.minimum(hi[owner] - day * 24, 24)
        bits = ((np.int64(1) << stop) - (np.int64(1) << first)).astype(np.uint32)
        self._mark(self.away, resident[owner], day, bits)

    def _mark(self, bits: np.ndarray, resident: IntArray, day: IntArray, mask: np.ndarray) -> None:
        """OR ``mask`` (n,) uint32 into ``bits`` (``hours`` or ``away``) at (resident, day) (n,). The newest day
        per (resident, slot) owns the slot (a new day clears both); older days that map to it are dropped."""
        if resident.shape[0] == 0:
            return
        slot = day % RING_DAYS
        pair, inverse = np.unique(resident * RING_DAYS + slot, return_inverse=True)
        newest = np.full(pair.shape[0], NO_DAY)
        np.maximum.at(newest, inverse, day)
        r, s = pair // RING_DAYS, pair % RING_DAYS
        owner = np.maximum(self.stamp[r, s], newest)
        reset = owner > self.stamp[r, s]
        self.hours[r[reset], s[reset]] = 0
        self.away[r[reset], s[reset]] = 0
        self.stamp[r, s] = owner
        keep = day == owner[inverse]
        np.bitwise_or.at(bits, (resident[keep], slot[keep]), mask[keep])
        self._due_for[resident] = np.nan

    def seed_home(self, inside: Points, entrance: Points) -> None:
        """Stored activity inside and front-door changes, any order, for the restart rebuild: the outings among them
        are learned and the newest says whether the resident is out."""
        self.learn_away(*self._outings(*_home_instants(inside, entrance, np.full(self.out_since.shape[0], -np.inf))))

    def _outings(self, res: IntArray, ts: FloatArray, entrance: BoolArray) -> tuple[IntArray, FloatArray, FloatArray]:
        """Walk instants (n,) at home sorted by (resident, ts), one per instant (``entrance``: only the front door
        changed then): update ``out_since`` and return the outings they end, resident, start and end (k,)."""
        first = firsts(res)
        carried = self.out_since[res]
        departs = entrance & ~previous(entrance, first, ~np.isnan(carried))  # a front door after activity inside
        latest = last_index(departs)
        since = np.where(latest >= run_start(first), ts[np.maximum(latest, 0)], carried)
        since = np.where(entrance, since, np.nan)  # (n,) the outing in force after each instant
        before = previous(since, first, carried)
        ends = ~entrance & ~np.isnan(before)
        last = lasts(res)
        self.out_since[res[last]] = since[last]
        return res[ends], before[ends], ts[ends]

    def out_at(self, entrance: Points, inside: Points, resident: IntArray, ts: FloatArray) -> BoolArray:
        """(k,) whether residents (k,) are out at ``ts`` (k,), given the batch's fresh instants of the front door
        alone and inside and, before them, the state carried from earlier batches."""
        door = latest_at(entrance, resident, ts)
        home = latest_at(inside, resident, ts)
        return np.where(np.isinf(door) & np.isinf(home), ~np.isnan(self.out_since[resident]), door > home)

    def seed(self, resident: IntArray, first: FloatArray, last: FloatArray) -> None:
        """Stored hourly activity (k,): first and last event of each bucket, for the restart rebuild."""
        self.learn(resident, first)
        np.maximum.at(self.seen.last, resident, last)

    def expected(self, resident: IntArray, day: IntArray) -> np.ndarray:
        """(k, 24) bool: the expected-active local hours of residents (k,) as of local ``day`` (k,); none until
        ``min_days`` days have monitored an hour."""
        stamp, hours, away = self.stamp[resident], self.hours[resident], self.away[resident]
        learned = _learned(stamp, day) & (hours != 0)
        first, last = _active_span(hours)
        share, min_days = self.share[resident], self.min_days[resident]
        expected = np.empty((resident.shape[0], 24), bool)
        for h in range(24):  # hours of the day, not residents
            monitored = learned & (first <= h) & (last >= h)
            n_days = monitored.sum(axis=1)
            active = ((_bit(hours, h) | _bit(away, h)) & monitored).sum(axis=1)  # out for all of it: up and about
            expected[:, h] = (n_days >= min_days) & (n_days > 0) & (active >= share * n_days)
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
        self.in_bed = frame.in_bed.after
        res, ts = self.seen.fresh(frame.activity)
        if res.shape[0] == 0:
            return Findings.none()
        first, last = firsts(res), lasts(res)
        prev = previous(ts, first, self.seen.last[res])
        due = np.full(res.shape[0], np.inf)
        candidate = np.isfinite(prev) & (prev + self.quiet[res] < ts)  # a silence long enough to matter
        candidate[candidate] = ~in_bed_at(frame.in_bed, res[candidate], prev[candidate])  # in bed: not a silence
        h_res, h_ts, door = _home_instants(frame.inside, frame.entrance, self.seen.last)
        out = self.out_at(Points(h_res[door], h_ts[door]), Points(h_res[~door], h_ts[~door]), res[candidate],
                          prev[candidate])  # fmt: skip
        candidate[candidate] = ~out  # out: not a silence at home
        o_res, o_start, o_end = self._outings(h_res, h_ts, door)
        o_day = local_day(o_end, self.population.utc_offset[o_res])
        offset = self.population.utc_offset[res]
        day = local_day(ts, offset)
        for d in np.unique(day).tolist():  # the batch's local days (one or two), learned in order
            mine = day == d
            ended = o_day == d  # outings that ended this day: their days before it judge this day's silences
            self.learn_away(o_res[ended], o_start[ended], o_end[ended])
            c = (mine & candidate).nonzero()[0]
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
        at_home = np.isnan(self.out_since)
        silent = (~self.active & ~self.in_bed & at_home & np.isfinite(last) & (last + self.quiet < now)).nonzero()[0]
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
        offset, today = self.population.utc_offset[position], self.population.now
        text = (
            f"No activity since {clock(value, offset, today)}: by {clock(at, offset, today)} the silence at home has "
            f"covered {minutes(self.quiet[position])} of the hours in which this resident is usually active (activity "
            f"in the hour, or out, on at least {self.share[position]:.0%} of the last {LEARN_DAYS} days)."
        )
        return "No activity when usually active", text

    def nbytes(self) -> int:
        arrays = (self.hours, self.stamp, self.active, self.in_bed, self.quiet, self.share)
        return arrays_nbytes(*arrays, self.min_days, self.seen.last, self._due, self._due_for, self.away,
                             self.out_since)  # fmt: skip


class NotUpRule(Rule):
    def __init__(self) -> None:
        super().__init__()
        self.name, self.severity = "not_up", Severity.WARNING
        self.basis = (
            "learned from the resident's own last 14 days: median time of getting up after 04:00 (leaving the bed, "
            "or activity outside the bedroom, and not back in bed within 30 minutes: a night toilet visit takes a "
            "few minutes and is not getting up), plus 60 minutes (a morning-check telecare practice; no published "
            "default; the 30 minutes are a design choice)"
        )
        self.detail_names = ("usual_minute",)
        self.seen = _Activity()
        self.up = np.zeros((0, RING_DAYS))  # local minute of the day's getting up (a confirmed candidate)
        self.stamp = np.zeros((0, RING_DAYS), np.int64)
        self.up_ts = np.empty(0)  # (R,) time of the latest getting up
        self.pending = np.empty(0)  # (R,) a candidate out of bed, not yet confirmed (NaN: none)
        self.active = np.empty(0, bool)
        self.grace = np.empty(0)
        self.morning = np.empty(0)
        self.confirm = np.empty(0)
        self.min_days = np.empty(0)
        self.has_bed = np.empty(0, bool)  # (R,) a bed sensor speaks for the resident alone
        self._cache_day = np.empty(0, np.int64)  # tick's cache: the usual time valid for this day
        self._cache = np.empty(0)

    def grow(self, population: Population) -> None:
        super().grow(population)
        n = len(population)
        self.seen.grow(n)
        self.up = grown(self.up, n, np.nan)
        self.stamp = grown(self.stamp, n, NO_DAY)
        self.up_ts = grown(self.up_ts, n, -np.inf)
        self.pending = grown(self.pending, n, np.nan)
        self.active = grown(self.active, n, False)
        self.grace = grown(self.grace, n, HOUR_S)
        self.morning = grown(self.morning, n, 4 * HOUR_S)
        self.confirm = grown(self.confirm, n, CONFIRM_S)
        self.min_days = grown(self.min_days, n, 5.0)
        self._cache_day = grown(self._cache_day, n, NO_DAY)
        self._cache = grown(self._cache, n, np.nan)
        ptr = population.speaks_ptr
        alone = (population.device_kind == BED_SENSOR) & (np.diff(ptr) == 1)
        self.has_bed = np.zeros(n, bool)
        self.has_bed[population.speaks_for[ptr[:-1][alone]]] = True

    def parameters(self) -> dict[str, Parameter]:
        return {
            "grace_s": Parameter(self.grace, "s", "time after the usual getting-up time before alerting"),
            "morning_s": Parameter(self.morning, "s", "local time from which activity counts as getting up"),
            "confirm_s": Parameter(self.confirm, "s", "out of bed this long (not back in bed) to count as up"),
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

    def confirmed_at(self, resident: IntArray, candidate: FloatArray) -> FloatArray:
        """(k,) when candidates (k,) are confirmed unless the resident is back in bed before: ``confirm_s`` later,
        at once without a bed sensor (a return to bed is invisible), and at the latest at the next morning start
        (so that one day's getting up is settled before the next day's can begin)."""
        offset = self.population.utc_offset[resident]
        next_morning = (local_day(candidate, offset) + 1) * DAY_S - offset + self.morning[resident]
        wait = np.where(self.has_bed[resident], self.confirm[resident], 0.0)
        return np.minimum(candidate + wait, next_morning)

    def seed(self, resident: IntArray, ts: FloatArray, in_bed: BoolArray) -> None:
        """Stored signs (k,), any order, for the restart rebuild: up signs (``in_bed`` False: a bed exit, activity
        outside the bedroom) and bed sensors' occupied samples (True). Learned as a batch is; nothing reported."""
        self._advance(*self._fresh(resident, ts, in_bed))

    def evaluate(self, frame: Frame) -> Findings:
        ev = frame.events
        bed = (ev.kind == BED) & (ev.value >= 0.5)
        resident = np.concatenate([frame.up.resident, ev.resident[bed]])
        ts = np.concatenate([frame.up.ts, ev.ts[bed]])
        in_bed = np.repeat([False, True], [frame.up.ts.shape[0], int(bed.sum())])
        return self._advance(*self._fresh(resident, ts, in_bed))

    def _fresh(self, resident: IntArray, ts: FloatArray, in_bed: BoolArray) -> tuple[IntArray, FloatArray, BoolArray]:
        """Observations sorted by (resident, ts), one per instant (in bed wins: a sign of being up at the instant
        of a return to bed starts nothing), newer than what was evaluated."""
        keep = sort_fresh(resident, ts, self.seen.last, ~in_bed)
        return resident[keep], ts[keep], in_bed[keep]

    def _advance(self, res: IntArray, ts: FloatArray, in_bed: BoolArray) -> Findings:
        """The walk of observations (n,) sorted by (resident, ts), one per instant: candidates, their confirmation
        or cancellation, the getting-up times learned and what they say about alerts, day by day."""
        if res.shape[0] == 0:
            return Findings.none()
        self.seen.last[res[lasts(res)]] = ts[lasts(res)]
        res, ts, in_bed, real = self._with_pending(res, ts, in_bed)
        offset = self.population.utc_offset[res]
        day = local_day(ts, offset)
        judged = (np.mod(ts + offset, DAY_S) >= self.morning[res]) & (self.stamp[res, day % RING_DAYS] < day)
        c, resolved, confirmed = self._candidates(res, ts, in_bed, day, judged)
        unresolved_from, unresolved_until = _open_candidate(res, ts, c, resolved)
        ups = c[confirmed]
        judged &= real
        parts: list[Findings] = []
        for x in np.unique(np.concatenate([day[judged], day[ups]])).tolist():  # the batch's local days, in order
            obs = (judged & (day == x)).nonzero()[0]
            g = ups[day[ups] == x]
            who = np.unique(np.concatenate([res[obs], res[g]]))
            due, usual = self._due(who, np.full(who.shape[0], x))
            at = np.searchsorted(who, res[obs])
            # Not up is known at an observation after the deadline, unless a candidate from before it is unresolved.
            blocked = (ts[obs] < unresolved_until[obs]) & (unresolved_from[obs] <= due[at])
            noticed = np.zeros(who.shape[0], bool)
            noticed[at[(ts[obs] > due[at]) & ~blocked]] = True
            up = np.full(who.shape[0], np.nan)
            up[np.searchsorted(who, res[g])] = ts[g]
            parts.append(self._settle(who, np.full(who.shape[0], x), up, due, usual, noticed))
        return _joined(parts)

    def _with_pending(
        self, res: IntArray, ts: FloatArray, in_bed: BoolArray
    ) -> tuple[IntArray, FloatArray, BoolArray, BoolArray]:
        """The observations with these residents' pending candidates first, as the up signs they were; (n,) each,
        sorted by (resident, ts), and ``real`` (n,): False for the pending ones (judged when they came)."""
        carried = np.unique(res)
        carried = carried[~np.isnan(self.pending[carried])]
        real = np.concatenate([np.ones(res.shape[0], bool), np.zeros(carried.shape[0], bool)])
        res = np.concatenate([res, carried])
        ts = np.concatenate([ts, self.pending[carried]])
        in_bed = np.concatenate([in_bed, np.zeros(carried.shape[0], bool)])
        self.pending[carried] = np.nan
        order = np.lexsort((ts, res))
        return res[order], ts[order], in_bed[order], real[order]

    def _candidates(
        self, res: IntArray, ts: FloatArray, in_bed: BoolArray, day: IntArray, judged: BoolArray
    ) -> tuple[IntArray, FloatArray, BoolArray]:
        """The candidates among observations (n,) (``judged``: after the morning start of a day not learned yet):
        indices (c,), when each was resolved (c,) (back in bed, or confirmed; inf: still pending, kept in
        ``pending``), and which were confirmed (c,). Only a day's first confirmed candidate and those before it."""
        n = res.shape[0]
        eligible = (~in_bed & judged).nonzero()[0]
        stretch = np.cumsum(in_bed)[eligible]  # out of bed since the last return to bed
        r_e, d_e = res[eligible], day[eligible]
        first = np.ones(eligible.shape[0], bool)
        first[1:] = (r_e[1:] != r_e[:-1]) | (d_e[1:] != d_e[:-1]) | (stretch[1:] != stretch[:-1])
        c = eligible[first]
        # Cancelled by the next occupied sample before its confirmation time; confirmed by a later observation.
        next_bed = np.minimum.accumulate(np.where(in_bed, np.arange(n), n)[::-1])[::-1][c]
        back = ts[np.minimum(next_bed, n - 1)]
        ends = self.confirmed_at(res[c], ts[c])
        cancelled = (next_bed < n) & (res[np.minimum(next_bed, n - 1)] == res[c]) & (back < ends)
        newest = ts[lasts(res).nonzero()[0]][np.cumsum(firsts(res)) - 1]  # (n,) each resident's newest
        confirmed = ~cancelled & (newest[c] >= ends)
        before = np.cumsum(confirmed) - confirmed
        keep = before == before[run_start(firsts(res[c]) | firsts(day[c]))]  # no confirmed one earlier that day
        c, back, ends, cancelled, confirmed = c[keep], back[keep], ends[keep], cancelled[keep], confirmed[keep]
        waiting = ~cancelled & ~confirmed
        self.pending[res[c[waiting]]] = ts[c[waiting]]
        return c, np.where(cancelled, back, np.where(confirmed, ends, np.inf)), confirmed

    def _due(self, resident: IntArray, day: IntArray) -> tuple[FloatArray, FloatArray]:
        usual = self.usual(resident, day)
        return self.deadline(resident, day, usual), usual

    def _settle(self, resident: IntArray, day: IntArray, up: FloatArray, due: FloatArray, usual: FloatArray,
                noticed: np.ndarray) -> Findings:  # fmt: skip
        """Residents (k,) on local ``day`` (k,): getting up at ``up`` (NaN: none known), and whether later data or
        the clock has shown them still not up after the deadline ``due`` (``noticed``). Raises at the deadline,
        clears at getting up, records it."""
        known = ~np.isnan(up)
        not_up = np.where(known, up > due, noticed)
        raised = not_up & ~self.active[resident]
        cleared = known & (not_up | self.active[resident])
        self.active[resident] = np.where(known, False, self.active[resident] | raised)
        r, t = resident[known], up[known]
        self._record(r, day[known], np.mod(t + self.population.utc_offset[r], DAY_S) / 60, t)
        return Findings.of(
            resident[raised], due[raised], up[raised], due[raised], usual[raised], resident[cleared], up[cleared]
        )

    def _record(self, resident: IntArray, day: IntArray, minute: FloatArray, ts: FloatArray) -> None:
        slot = day % RING_DAYS
        newer = day > self.stamp[resident, slot]
        r, s = resident[newer], slot[newer]
        self.up[r, s], self.stamp[r, s] = minute[newer], day[newer]
        np.maximum.at(self.up_ts, r, ts[newer])
        self._cache_day[r] = NO_DAY

    def tick(self, now: float) -> Findings:
        offset = self.population.utc_offset
        # Candidates the clock confirms: nobody back in bed by their confirmation time.
        due_now = (~np.isnan(self.pending)).nonzero()[0]
        if due_now.shape[0]:
            due_now = due_now[self.confirmed_at(due_now, self.pending[due_now]) <= now]
        settled = Findings.none()
        if due_now.shape[0]:
            up = self.pending[due_now]
            self.pending[due_now] = np.nan
            day = local_day(up, offset[due_now])
            due, usual = self._due(due_now, day)
            settled = self._settle(due_now, day, up, due, usual, np.zeros(due_now.shape[0], bool))
        everyone = np.arange(offset.shape[0])
        today = local_day(np.full(offset.shape[0], now), offset)
        waiting = ~self.active & (self.stamp[everyone, today % RING_DAYS] != today)
        waiting &= np.mod(now + offset, DAY_S) >= self.morning
        who = waiting.nonzero()[0]
        stale = who[self._cache_day[who] != today[who]]
        if stale.shape[0]:
            self._cache[stale] = self.usual(stale, today[stale])
            self._cache_day[stale] = today[stale]
        due = self.deadline(who, today[who], self._cache[who])
        fire = (due < now) & ~(self.pending[who] <= due)  # a candidate out of bed before the deadline may be up
        firing = who[fire]
        self.active[firing] = True
        ticked = Findings.of(firing, due[fire], raised_onset=due[fire], raised_detail=self._cache[firing])
        return _joined([settled, ticked])

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        up = self.up_ts[positions] > onset
        self.active[positions[~up]] = True
        return positions[up]

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        offset, today = self.population.utc_offset[position], self.population.now
        usual = float(detail[0]) * 60 if detail.shape[0] else float("nan")
        text = (
            f"No sign of getting up by {clock(at, offset, today)}: this resident is usually up by {clock(usual, 0)} "
            f"(median of the last {LEARN_DAYS} days); alerts {minutes(self.grace[position])} later."
        )
        if self.has_bed[position]:
            text += f" Out of bed and back in it within {minutes(self.confirm[position])} (a toilet visit) is not up."
        return "Not up by the usual time", text

    def nbytes(self) -> int:
        arrays = (self.up, self.stamp, self.up_ts, self.pending, self.active, self.grace, self.morning)
        return arrays_nbytes(*arrays, self.confirm, self.min_days, self.has_bed, self.seen.last, self._cache_day,
                             self._cache)  # fmt: skip


def _open_candidate(res: IntArray, ts: FloatArray, c: IntArray, resolved: FloatArray) -> tuple[FloatArray, FloatArray]:
    """For observations (n,) sorted by (resident, ts): the time of each one's current candidate (the resident's
    latest at or before it, indices ``c`` (k,)) and when that was resolved (``resolved`` (k,)); inf and -inf where
    there is none."""
    is_c = np.zeros(res.shape[0], bool)
    is_c[c] = True
    current = last_index(is_c)
    mine = (current != NO_INDEX) & (res[np.maximum(current, 0)] == res)
    rank = np.cumsum(is_c) - 1  # the current candidate's position in ``c``
    unresolved_from = np.where(mine, ts[np.maximum(current, 0)], np.inf)
    return unresolved_from, np.where(mine, np.append(resolved, -np.inf)[rank], -np.inf)


def _joined(parts: list[Findings]) -> Findings:
    """Findings of several steps, one after the other."""
    parts = [f for f in parts if len(f)]
    if not parts:
        return Findings.none()
    fields = zip(*((f.raised_resident, f.raised_ts, f.raised_value, f.raised_onset, f.raised_detail,
                    f.cleared_resident, f.cleared_ts) for f in parts), strict=True)  # fmt: skip
    return Findings.of(*(np.concatenate(x) for x in fields))
