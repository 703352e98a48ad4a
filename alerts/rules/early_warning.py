"""NEWS2 triggers (Royal College of Physicians 2017) on continuous data, for all residents at once.

NEWS2 scores a set of *observations*: the vital signs a nurse records at one time from a patient at rest, repeated
12-hourly at a score of 0, 4-6-hourly at 1-4, at least hourly at 5-6 or a single 3, and continuously only from 7
(RCP 2017, Chart 2 and "Frequency of monitoring"). A wearable gives a reading every few seconds; scored one by one,
the noise of each sample, a sleeper's low-normal values for a few minutes and an arm moving under the optical sensor
each reach a band edge, and a resident with a pulse of 58 and a systolic pressure of 116 awake scores 5 several times
a night. Two design choices make a score of continuous data stand for an observation (design reasoning, not a
published standard; NEWS2 has not been validated on continuous wearable data):

- **Each parameter is scored from the median of its last 5 minutes** (``WINDOW_SLOTS`` slots of ``SLOT_S``): the
  value a nurse's observation of a minute or so would see, robust to single samples (half of them would have to be
  past a band edge). A parameter with no reading in the window (a cuff or thermometer every 15-60 minutes) takes its
  newest value if recent enough (``MAX_AGE_S``), as before; supplemental oxygen and consciousness are flags and take
  their newest value. With an even number of readings the two middle readings may lie in different bands; the
  parameter then scores the lower of their two scores (half of the window must reach a band to score it).
- **The response level must persist**: ``news2_urgent`` (aggregate 5-6, or 3 in any single parameter) for
  ``URGENT_PERSIST_S`` (10 minutes: the RCP's observation interval at this level is an hour, so a 10-minute
  confirmation delays the response by a fraction of it), ``news2_emergency`` (7 or more) for
  ``EMERGENCY_PERSIST_S`` (2 minutes: kept prompt, as the RCP's response to 7+ is an emergency one). The persistence
  counts only scoring instants at the level (alerts.rules.episodes): a minute below it restarts the clock.
- **Observations at rest.** A nurse takes them from a resting patient; walking takes a COPD resident's
  respiration to 25 or more (a red score) and a hypertensive resident's systolic pressure up. The five measured
  parameters' readings during exertion and for ``RECOVERY_S`` after (alerts.signals, as for the threshold rules
  at rest) are left out of the medians and of the newest values; a minute with none scores nothing, and a pause in
  the scores longer than ``MAX_GAP_S`` restarts the persistence. Low values on exertion (a COPD resident's
  desaturation on effort) are the threshold rules' to alert (``spo2_low`` is never deferred).

A score is computed once a minute per resident, for each minute with a reading, at the start of the minute after
the next (``LATE_SLOTS``), once a reading of that minute has arrived: a reading stamped up to a minute before the
resident's newest one (a cuff or thermometer apart from the watch, a watch that stamps a blood pressure at the start of
the measurement) still counts in its own minute, however the data is batched. A reading is used when it is newer than
the newest of its own parameter (a duplicate or a redelivery changes nothing), whatever the other parameters' times.

The five measured parameters (RR, SpO2, systolic BP, pulse, temperature) present are summed. Points are never
negative, so a partial set's sum is a **floor** of the aggregate: a partial set at a level is at least at it and
enters it (a watch-only resident at pulse 115, respiration 23, SpO2 91 scores at least 7). To end a level, a
parameter it lacks counts with the points of its last reading if that was taken within ``OBSERVED_S`` (12 hours, the
RCP's longest observation interval): the last we know of it (a blood pressure of 88 two hours ago holds an alert open
until the pressure is measured again; the morning's normal one does not hold a recovered resident's alert all day);
one not measured for 12 hours is not part of this resident's observations and counts nothing. A partial set below the
entry but not low enough to end a level keeps a raised alert and does not count toward the persistence. Supplemental
oxygen (``o2`` = 1) adds its 2 points and switches SpO2 scale 2 to its oxygen column for residents a clinician marked
for scale 2; consciousness (``avpu`` = 1: new confusion or not alert) adds 3 points where it is reported. Chart 2's
levels become two rules:

- ``news2_urgent``: aggregate 5 or more ("urgent response"), or a single parameter scoring 3 ("urgent ward-based
  response"). Clears when the aggregate is 3 or less with no parameter at 3 (4 keeps a raised alert: hysteresis).
- ``news2_emergency``: aggregate 7 or more ("emergency response"). Clears at 5 or less (6 keeps it).

One alert per deterioration: the urgent alert does not open at a score at the emergency level or while the emergency
alert is open; its persistence still counts, so when the emergency ends at 5-6 the urgent alert opens at once. An
urgent alert already open when the score reaches 7 stays open beside the emergency (the escalation). The explanation
gives each parameter's points with the band its median lay in and its newest reading (the median is kept as band
counts, not values), or the newest reading it was scored from; ``facts`` carry the same inputs.
A resident observed by spot checks only can be given persist_s = 0.

A clinician may document a resident-specific escalation (``carewatch.storage.base.News2Escalation``: a chronic
condition, e.g. COPD on home oxygen, that keeps the score at 5-7): the aggregate from which that resident's NEWS2 is
urgent and an emergency, and whether a single 3 alerts by itself (``Escalations``). Each level then clears 2 below
its entry, as the defaults do, and the alert's explanation names the escalation, who set it, when and why.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from alerts import news2
from alerts._arrays import BoolArray, FloatArray, IntArray, firsts, grown, last_index, lasts, ragged_arange, run_start
from alerts.frame import Frame
from alerts.residents import Population
from alerts.rules.base import Findings, Parameter, Rule, arrays_nbytes, minutes
from alerts.rules.episodes import Episodes, codes
from alerts.rules.ring import SlotRing, Timeline
from alerts.signals import resting
from carewatch.catalog import METRIC_BY_NAME, METRIC_ID
from carewatch.model import Severity
from carewatch.storage.base import NEWS2_EMERGENCY_FROM, NEWS2_URGENT_FROM, News2Escalation

# Column order: news2.PARAMETERS ("rr", "spo2", "air_or_oxygen", "sbp", "hr", "consciousness", "temp").
METRICS = ("rr", "spo2", "o2", "sbp", "hr", "avpu", "temp")
METRIC_IDS = np.array([METRIC_ID[m] for m in METRICS], np.int16)
MEASURED = np.array([0, 1, 3, 4, 6])  # the columns that must all be present for a score (scored from a median)
IS_MEASURED = np.isin(np.arange(len(METRICS)), MEASURED)  # (7,) by column
# A wearable reports RR, SpO2 and pulse every few seconds: older than 10 minutes is no longer the patient's state.
# Blood pressure and temperature are taken less often (cuff, thermometer): an hour-old value still counts, as the
# RCP's minimum observation frequency for low scores is 12-hourly and 1-hourly for urgent ones.
MAX_AGE_S = np.array([600.0, 600.0, 3600.0, 3600.0, 600.0, 3600.0, 3600.0])
SLOT_S = 60.0  # one score a minute
WINDOW_SLOTS = 5  # each parameter's median over the last 5 minutes
# A minute is scored once a reading of a minute LATE_SLOTS later has arrived, at that later minute's start: a reading
# stamped up to a minute before the resident's newest one (a cuff or thermometer apart from the watch, a watch that
# stamps a blood pressure at the measurement's start) still counts in its own minute, however the data is batched.
LATE_SLOTS = 1
RING_SLOTS = WINDOW_SLOTS + LATE_SLOTS  # the window of the oldest minute not yet scored, and the newest minute
# A missing parameter measured in the last 12 hours (the RCP's longest observation interval, at a score of 0) is one
# this resident is observed with: a set without it is only a floor and cannot end a level; one not measured for 12
# hours (a watch-only resident's blood pressure) is not, and the floor is all there is.
OBSERVED_S = 12 * 3600.0
URGENT_PERSIST_S = 600.0
EMERGENCY_PERSIST_S = 120.0
MAX_GAP_S = 900.0  # scoring instants further apart than this restart the persistence clock
HYSTERESIS = 2  # a level clears this far below its entry: 7 -> 5 or less, 5 -> 3 or less (the defaults' gaps)
BASIS = (
    "Royal College of Physicians. National Early Warning Score (NEWS) 2, London: RCP, 2017: Chart 1 (scoring, SpO2 "
    "scale 2 for hypercapnic respiratory failure, +2 for supplemental oxygen, +3 for new confusion) and Chart 2 "
    "(aggregate 5-6 or a single 3: urgent response; 7 or more: emergency response); on continuous data each "
    "parameter is scored from its 5-minute median and the level must persist (10 min urgent, 2 min emergency)"
)
# A raised alert's detail: the aggregate (a floor unless complete), whether the set was complete, SpO2's scale, then
# per parameter (METRICS order) its newest value before the scoring instant, that value's time, its points and the
# fine bin its median lay in (-1: scored from the newest value, or missing).
PER_PARAMETER = ("value", "ts", "points", "bin")
DETAIL = ("total", "complete", "scale2", *(f"{m}_{f}" for m in METRICS for f in PER_PARAMETER))
NAMES = {"rr": "RR", "spo2": "SpO2", "o2": "oxygen", "sbp": "SBP", "hr": "HR", "avpu": "consciousness", "temp": "temp"}
UNITS = {"rr": "/min", "spo2": "%", "sbp": " mmHg", "hr": "/min", "temp": " \N{DEGREE SIGN}C"}  # as operators read them
SPOKEN = {"rr": "respiration", "spo2": "SpO2", "sbp": "blood pressure", "hr": "pulse", "temp": "temperature"}


def _fine_edges() -> tuple[FloatArray, ...]:
    """Per measured column, the union of its charts' band edges: every bin lies inside one band of each chart (SpO2
    has three: scale 1, scale 2 on air and on oxygen), so a bin's lowest value scores what any value in it does."""
    spo2 = np.unique(
        np.concatenate([news2.SPO2_SCALE1.edges, news2.SPO2_SCALE2_AIR.edges, news2.SPO2_SCALE2_OXYGEN.edges])
    )
    return (news2.RR.edges, spo2, news2.SBP.edges, news2.HR.edges, news2.TEMP.edges)


FINE_EDGES = _fine_edges()
BINS = np.array([e.shape[0] + 1 for e in FINE_EDGES])
BIN_START = np.cumsum(BINS) - BINS
N_BINS = int(BINS.sum())
# A value standing for each bin: its lowest chart value (an edge belongs to the upper band), below the first edge
# anything lower; and each bin's bounds (a value v lies in it when BIN_LOW <= v < BIN_HIGH).
BIN_VALUE = np.concatenate([np.concatenate([[e[0] - 1.0], e]) for e in FINE_EDGES])
BIN_LOW = np.concatenate([np.concatenate([[-np.inf], e]) for e in FINE_EDGES])
BIN_HIGH = np.concatenate([np.concatenate([e, [np.inf]]) for e in FINE_EDGES])


def fine_bin(m: int, value: FloatArray) -> IntArray:
    """(n,) the bin (0 .. BINS[m] - 1) of values (n,) of the m-th measured column."""
    return np.searchsorted(FINE_EDGES[m], value, side="right").astype(np.int64)


@dataclass(frozen=True, slots=True)
class Scored:
    """The scoring instants of one frame, (p,) each, sorted by (resident, ts): ``total`` the sum of the parameters
    present (the aggregate of a complete set, a floor of it otherwise) and ``max_single``; ``complete`` every measured
    parameter present; ``stale`` the points the missing parameters' last readings within OBSERVED_S score (what ends
    a level counts them too) and ``stale_red`` whether one of them is a red score. Per parameter (p, 7) in METRICS
    order: ``points``; ``newest`` value before the instant (NaN: none within MAX_AGE_S) and ``newest_ts`` its time
    (-inf: none); ``bin`` the fine bin of the median scored (-1: none)."""

    resident: IntArray
    ts: FloatArray
    total: IntArray
    max_single: IntArray
    complete: BoolArray
    stale: IntArray
    stale_red: BoolArray
    points: IntArray
    newest: FloatArray
    newest_ts: FloatArray
    bin: IntArray
    scale2: BoolArray

    def detail(self, rows: IntArray) -> FloatArray:
        """(k, len(DETAIL)) of the instants ``rows`` (k,)."""
        per = np.stack([self.newest[rows], self.newest_ts[rows], self.points[rows], self.bin[rows]], axis=2)
        head = np.column_stack([self.total[rows], self.complete[rows], self.scale2[rows]])
        return np.concatenate([head, per.reshape(rows.shape[0], 4 * len(METRICS))], axis=1)


def leave_level(enter: IntArray) -> IntArray:
    """(n,) the aggregate at or below which a level entered at ``enter`` (n,) clears (not below 0)."""
    return np.maximum(enter - HYSTERESIS, 0).astype(np.int64)


class Escalations:
    """The aggregate from which each resident's NEWS2 is urgent and an emergency, and whether a single 3 alerts:
    ``urgent_from``, ``emergency_from`` (R,) int, ``red_score`` (R,) bool; ``documented`` the clinicians'
    escalations in force by position (the defaults elsewhere)."""

    def __init__(self) -> None:
        self.urgent_from = np.empty(0, np.int64)
        self.emergency_from = np.empty(0, np.int64)
        self.red_score = np.empty(0, bool)
        self.documented: dict[int, News2Escalation] = {}

    def grow(self, capacity: int) -> None:
        self.urgent_from = grown(self.urgent_from, capacity, NEWS2_URGENT_FROM)
        self.emergency_from = grown(self.emergency_from, capacity, NEWS2_EMERGENCY_FROM)
        self.red_score = grown(self.red_score, capacity, True)

    def apply(self, wanted: dict[int, News2Escalation]) -> None:
        """The escalations now in force by position (all of them: a resident missing here reverts to the
        defaults). Only changes are written."""
        for position in self.documented.keys() - wanted.keys():
            self._set(position, NEWS2_URGENT_FROM, NEWS2_EMERGENCY_FROM, True)
        for position, e in wanted.items():
            if self.documented.get(position) != e:
                self._set(position, e.urgent_from, e.emergency_from, e.red_score)
        self.documented = dict(wanted)

    def _set(self, position: int, urgent_from: int, emergency_from: int, red_score: bool) -> None:
        self.urgent_from[position], self.emergency_from[position] = urgent_from, emergency_from
        self.red_score[position] = red_score

    def describe(self, position: int) -> str:
        """The end of an alert's explanation: nothing for the defaults, else "; this resident's escalation: ..."."""
        e = self.documented.get(position)
        if e is None:
            return ""
        single = "" if e.red_score else ", a single 3 does not alert by itself"
        day = time.strftime("%Y-%m-%d", time.gmtime(e.set_at))
        return (
            f"; this resident's escalation: urgent from {e.urgent_from}, emergency from {e.emergency_from}{single}"
            f" ({e.set_by}, {day}: {e.reason})"
        )

    def nbytes(self) -> int:
        return arrays_nbytes(self.urgent_from, self.emergency_from, self.red_score)


class News2Scorer:
    """Shared by both NEWS2 rules (scored once per frame, both levels advanced together). State: ``ring`` the last
    RING_SLOTS minutes of each resident as counts per fine bin of each measured parameter; ``latest`` (R, 7) newest
    value per parameter and ``latest_ts`` (R, 7) its time (-inf: never); ``scale2`` (R,) bool; and the levels both
    rules alert at (``escalations``)."""

    def __init__(self) -> None:
        self.ring = SlotRing(RING_SLOTS, N_BINS)
        self.latest = np.empty((0, len(METRICS)))
        self.latest_ts = np.empty((0, len(METRICS)))
        self.scale2 = np.empty(0, bool)
        self.escalations = Escalations()
        self.levels: dict[bool, News2Rule] = {}  # by emergency: the two rules, which register themselves
        self._frame: Frame | None = None
        self._scored: Scored | None = None
        self._found: tuple[Findings, Findings] | None = None

    def grow(self, population: Population) -> None:
        old, capacity = self.scale2.shape[0], len(population)
        self.ring.grow(capacity)
        self.latest = grown(self.latest, capacity, np.nan)
        self.latest_ts = grown(self.latest_ts, capacity, -np.inf)
        self.scale2 = grown(self.scale2, capacity, False)
        self.escalations.grow(capacity)
        residents = population.residents
        self.scale2[old:] = np.fromiter((r.spo2_scale == 2 for r in residents[old:]), bool, capacity - old)

    def nbytes(self) -> int:
        own = arrays_nbytes(self.latest, self.latest_ts, self.scale2)
        return self.ring.nbytes() + own + self.escalations.nbytes()

    def __getstate__(self) -> dict[str, Any]:  # a saved state (alerts.checkpoint) holds no batch
        return {**self.__dict__, "_frame": None, "_scored": None, "_found": None}

    def score(self, frame: Frame) -> Scored:
        if frame is not self._frame or self._scored is None:
            self._frame, self._scored, self._found = frame, self._score(frame), None
        return self._scored

    def findings(self, frame: Frame, emergency: bool) -> Findings:
        """One level's findings in this frame. The emergency level is advanced first: the urgent alert does not
        open at a score at the emergency level or while the emergency alert is open (its persistence still counts,
        so it opens as soon as the score is back in its own band)."""
        s = self.score(frame)
        if self._found is None:
            found_emergency, open_emergency = self.levels[True].advance(s, None)
            blocked = open_emergency | (s.total >= self.escalations.emergency_from[s.resident])
            self._found = (self.levels[False].advance(s, blocked)[0], found_emergency)
        return self._found[emergency]

    def _score(self, frame: Frame) -> Scored:
        res, ts, value, col = frame.readings.of_metrics(METRIC_IDS)
        order = np.lexsort((ts, res))  # stable: at one instant, by column, then value (each run's order)
        res, ts, value, col = res[order], ts[order], value[order], col[order]
        repeat = np.zeros(res.shape[0], bool)
        repeat[1:] = (res[1:] == res[:-1]) & (ts[1:] == ts[:-1]) & (col[1:] == col[:-1])
        keep = ~repeat & (ts > self.latest_ts[res, col])  # new for its own parameter, whatever the others' times
        measured = IS_MEASURED[col].nonzero()[0]  # at rest: the measured parameters' readings, not o2 or avpu
        keep[measured] &= resting(frame.exertion, res[measured], ts[measured])
        res, ts, value, col = res[keep], ts[keep], value[keep], col[keep]
        if res.shape[0] == 0:
            return _no_scores()
        slot = np.floor(ts / SLOT_S).astype(np.int64)
        line = self._count(res, slot, value, col)
        if line is None:  # every reading in its resident's newest minute or before: no minute completed
            self._remember(res, ts, value, col)
            return _no_scores()
        W = WINDOW_SLOTS
        owner, j = ragged_arange(line.length - (W - 1))  # from the oldest minute a window fits (the one not scored)
        pos = line.base[owner] + W - 1 + j
        # Minutes old - LATE_SLOTS .. new - 1 - LATE_SLOTS complete now (a ring position is never older than that).
        due = (line.slot[pos] <= line.new[owner] - 1 - LATE_SLOTS) & (line.sums[pos].sum(axis=1) > 0)
        pos, key = pos[due], line.key[owner[due]]
        at = (line.slot[pos] + 1 + LATE_SLOTS) * SLOT_S
        window = self.ring.windows(line, pos, W, 1)[:, 0, :]  # (p, N_BINS)
        self.ring.store(line, whole=True)
        newest, newest_ts = self._newest_before(res, ts, value, col, key, at)  # (p, 7) each
        self._remember(res, ts, value, col)
        recent = np.where(at[:, None] - newest_ts <= MAX_AGE_S, newest, np.nan)
        low, high = recent.copy(), recent.copy()  # the two middle readings' values (their bins' lowest)
        low_bin, high_bin = np.full(recent.shape, -1), np.full(recent.shape, -1)
        for m, c in enumerate(MEASURED.tolist()):
            bins = window[:, BIN_START[m] : BIN_START[m] + BINS[m]]
            n = bins.sum(axis=1)
            cum = np.cumsum(bins, axis=1)
            for values, where, k in ((low, low_bin, (n - 1) // 2), (high, high_bin, n // 2)):
                b = BIN_START[m] + np.minimum((cum <= k[:, None]).sum(axis=1), BINS[m] - 1)
                values[:, c] = np.where(n > 0, BIN_VALUE[b], values[:, c])
                where[:, c] = np.where(n > 0, b, -1)
        scale2 = self.scale2[key]
        oxygen = low[:, 2] >= 0.5
        v, p = np.concatenate([low, high]), key.shape[0]  # both middles scored in one call
        s = news2.score_parameters(v[:, 0], v[:, 1], np.tile(scale2, 2), np.tile(oxygen, 2), v[:, 3], v[:, 4],
                                   v[:, 5], v[:, 6])  # fmt: skip
        both = np.stack([s.rr, s.spo2, s.air_or_oxygen, s.sbp, s.hr, s.consciousness, s.temp], axis=1)
        points_a, points_b = both[:p], both[p:]
        points = np.minimum(points_a, points_b).astype(np.int64)
        scored_bin = np.where(points_a <= points_b, low_bin, high_bin)
        missing = np.isnan(low[:, MEASURED])
        complete = np.asarray(~missing.any(axis=1))
        stale, stale_red = self._stale_points(newest, newest_ts, at, missing, scale2, oxygen)
        total, max_single = points.sum(axis=1), points.max(axis=1)
        return Scored(key, at, total, max_single, complete, stale, stale_red, points, recent, newest_ts, scored_bin,
                      scale2)  # fmt: skip

    @staticmethod
    def _stale_points(
        newest: FloatArray, newest_ts: FloatArray, at: FloatArray, missing: BoolArray, scale2: BoolArray,
        oxygen: BoolArray,
    ) -> tuple[IntArray, BoolArray]:  # fmt: skip
        """(p,) the points of the missing measured parameters' last readings within OBSERVED_S, and whether one is a
        red score (the last we know of them, for ending a level)."""
        observed = missing & (at[:, None] - newest_ts[:, MEASURED] <= OBSERVED_S)
        v = np.full(newest.shape, np.nan)
        v[:, MEASURED] = np.where(observed, newest[:, MEASURED], np.nan)
        s = news2.score_parameters(v[:, 0], v[:, 1], scale2, oxygen, v[:, 3], v[:, 4], v[:, 5], v[:, 6])
        points = np.stack([s.rr, s.spo2, s.sbp, s.hr, s.temp], axis=1).astype(np.int64)  # MEASURED's order
        return points.sum(axis=1), points.max(axis=1, initial=0) >= news2.RED_SCORE

    def _count(self, res: IntArray, slot: IntArray, value: FloatArray, col: np.ndarray) -> Timeline | None:
        """Count readings (n,) sorted by resident into their minute's fine bins (alerts.rules.ring): in place for
        residents whose readings all lie in their newest minute or before (most), a timeline for the others (None if
        none). A reading older than its resident's ring (stamped minutes before the newest one) is not counted."""
        field = np.full(res.shape[0], -1)  # the reading's fine bin; -1: a parameter not scored from a median
        for m, c in enumerate(MEASURED.tolist()):  # five parameters, not readings
            rows = (col == c).nonzero()[0]
            field[rows] = BIN_START[m] + fine_bin(m, value[rows])
        field[slot <= self.ring.newest[res] - RING_SLOTS] = -1
        starts = firsts(res).nonzero()[0]
        within = np.maximum.reduceat(slot, starts) <= self.ring.newest[res[starts]]
        stays = np.repeat(within, np.diff(np.append(starts, res.shape[0])))  # no minute of theirs moved past
        here = (stays & (field >= 0)).nonzero()[0]
        self.ring.count(self.ring.flat, self.ring.rows(res[here], slot[here]), field[here])
        moves = (~stays).nonzero()[0]
        if moves.shape[0] == 0:
            return None
        line = self.ring.timeline(res[moves], slot[moves])
        binned = field[moves] >= 0
        self.ring.count(line.sums, line.position[binned], field[moves][binned])
        return line

    def _newest_before(
        self, res: IntArray, ts: FloatArray, value: FloatArray, col: np.ndarray, key: IntArray, at: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """(p, 7) each parameter's newest value before each scoring instant (``key``, ``at``) (p,) and its time
        (-inf: none), from the batch's rows (k >= 1, sorted by resident, time) or the stored newest (all before
        ``at``: a later reading would have completed the minute). Every (parameter, instant) pair is one query, all
        answered by one sort."""
        k, n, c_n = res.shape[0], key.shape[0], len(METRICS)
        span = int(max(res.max(), key.max(initial=0))) + 1
        q_col = np.repeat(np.arange(c_n), n)
        group = np.concatenate([col * span + res, q_col * span + np.tile(key, c_n)])
        when = np.concatenate([ts, np.tile(at, c_n)])
        query = np.arange(k + n * c_n) >= k
        order = np.lexsort((~query, when, group))  # a query at a reading's instant comes first (strictly before)
        latest = last_index(~query[order])
        found = latest >= run_start(firsts(group[order]))
        asked = query[order]
        q = order[asked] - k
        c, i = q_col[q], q % max(n, 1)
        row = np.minimum(order[np.maximum(latest, 0)][asked], k - 1)
        in_batch = found[asked]
        values, times = np.full((n, c_n), np.nan), np.full((n, c_n), -np.inf)
        values[i, c] = np.where(in_batch, value[row], self.latest[key[i], c])
        times[i, c] = np.where(in_batch, ts[row], self.latest_ts[key[i], c])
        return values, times

    def _remember(self, res: IntArray, ts: FloatArray, value: FloatArray, col: np.ndarray) -> None:
        """Store the newest value of every (resident, parameter) among readings sorted by (resident, time) (each
        newer than the stored one of its parameter)."""
        cell = res * len(METRICS) + col  # the flat index into latest (R, 7)
        by_cell = np.argsort(cell, kind="stable")  # in time order within each cell
        last = by_cell[lasts(cell[by_cell])]
        np.put(self.latest, cell[last], value[last])
        np.put(self.latest_ts, cell[last], ts[last])


def _no_scores() -> Scored:
    none, no = np.empty(0, np.int64), np.empty(0, bool)
    per = np.empty((0, len(METRICS)))
    return Scored(none, np.empty(0), none, none, no, none, no, per.astype(np.int64), per, per, per.astype(np.int64), no)


class News2Rule(Rule):
    """One Chart 2 response level (see the module docstring)."""

    def __init__(self, name: str, scorer: News2Scorer, emergency: bool) -> None:
        super().__init__()
        self.name = name
        self.scorer = scorer
        self.emergency = emergency
        self.severity = Severity.CRITICAL if emergency else Severity.URGENT
        self.basis = BASIS
        self.evidence_metrics = tuple(int(m) for m in METRIC_IDS)
        self.detail_names = DETAIL
        self.persist_s = EMERGENCY_PERSIST_S if emergency else URGENT_PERSIST_S
        self.persist = np.empty(0)
        self.episodes = Episodes(held=False)
        scorer.levels[emergency] = self

    def grow(self, population: Population) -> None:
        super().grow(population)
        if not self.emergency:  # the urgent rule owns the shared scorer
            self.scorer.grow(population)
        self.persist = grown(self.persist, len(population), self.persist_s)
        self.episodes.grow(len(population))

    def parameters(self) -> dict[str, Parameter]:
        return {"persist_s": Parameter(self.persist, "s", "the response level must last this long to alert")}

    def evaluate(self, frame: Frame) -> Findings:
        return self.scorer.findings(frame, self.emergency)

    def advance(self, s: Scored, blocked: BoolArray | None) -> tuple[Findings, BoolArray]:
        """Advance this level over the scoring instants ``s``: its findings, and (p,) whether its alert is open after
        each instant. Where ``blocked`` (p,), the alert does not open (its persistence still counts).

        A set enters the level by the sum of its parameters present (a floor of the aggregate: a partial set at the
        level is at least at it) and leaves it when that sum and the ``stale`` points of the parameters it lacks are
        low enough: a partial set between the two neither ends a level nor counts toward it."""
        levels = self.scorer.escalations
        enter = (levels.emergency_from if self.emergency else levels.urgent_from)[s.resident]
        entered, left = s.total >= enter, s.total + s.stale <= leave_level(enter)
        if not self.emergency:
            red = levels.red_score[s.resident] & (s.max_single >= news2.RED_SCORE)
            stale_red = levels.red_score[s.resident] & s.stale_red
            entered, left = entered | red, left & ~red & ~stale_red
        persist = self.persist[s.resident]
        if blocked is not None:
            persist = np.where(blocked, np.inf, persist)
        before = self.episodes.active[s.resident]
        gap = np.full(s.resident.shape[0], MAX_GAP_S)
        step = self.episodes.advance(s.resident, s.ts, codes(entered, left), persist, gap)
        change = np.full(s.resident.shape[0], -1)
        change[step.raised], change[step.cleared] = 1, 0
        last = last_index(change >= 0)
        decided = last >= run_start(firsts(s.resident))
        open_after = np.where(decided, change[np.maximum(last, 0)] == 1, before)
        findings = Findings.of(
            s.resident[step.raised], step.raised_at, s.total[step.raised], step.raised_onset, s.detail(step.raised),
            s.resident[step.cleared], s.ts[step.cleared],
        )  # fmt: skip
        return findings, open_after

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        return positions[self.episodes.force(positions, onset)]

    def response(self, position: int, total: int) -> str:
        """RCP Chart 2's response for this alert: an emergency one, else an urgent one at the aggregate, else (a
        single 3 below it) an urgent ward-based one."""
        if self.emergency:
            return "emergency response"
        return (
            "urgent response"
            if total >= self.scorer.escalations.urgent_from[position]
            else "urgent ward-based response"
        )

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        f = self.facts(position, detail)
        total, floor = f["total"], f["floor"]
        levels = self.scorer.escalations
        if self.emergency:
            level = f"{levels.emergency_from[position]} or more"
        else:
            red = ", or 3 in one parameter" if levels.red_score[position] else ""
            level = f"{levels.urgent_from[position]} or more{red}"
        score = f"at least {total}" if floor else str(total)
        title = f"NEWS2 {score} ({self.response(position, total)})"
        parts = [_described(name, p) for name, p in f["inputs"].items()]
        unmeasured = " and ".join(SPOKEN[m] for m in f["missing"])
        missing = f" ({unmeasured} not measured: the aggregate is at least this)" if floor else ""
        persist = minutes(self.persist[position])
        text = (
            f"NEWS2 {score}{missing}: {', '.join(parts)}; {self.response(position, total)}. Each vital sign scored at "
            f"rest from its median over the last {WINDOW_SLOTS} minutes (the band the median lay in; the newest "
            f"reading beside it), or its newest reading if none. NEWS2 {level} for {minutes(at - onset)} (alerts "
            f"after {persist}){levels.describe(position)}."
        )
        return f"{title}", text

    def facts(self, position: int, detail: FloatArray) -> dict[str, Any]:
        """The NEWS2 inputs: per parameter the value scored (its newest reading, the band of its median), that
        reading's time and the points; the aggregate, whether it is a floor and the parameters missing."""
        d = detail.tolist()
        inputs: dict[str, dict[str, Any]] = {}
        missing = []
        for k, m in enumerate(METRICS):
            value, ts, points, b = d[3 + 4 * k : 7 + 4 * k]
            b = int(b)
            if m in UNITS and b < 0 and math.isnan(value):
                missing.append(m)
                continue
            one: dict[str, Any] = {"points": int(points)}
            if not math.isnan(value):
                one |= {"value": value, "time": ts}
            if m in UNITS:
                one["unit"] = METRIC_BY_NAME[m].unit  # UCUM, as the evidence and FHIR carry units
                one["scored_from"] = "median" if b >= 0 else "newest"
                if b >= 0:
                    one["median_band"] = _band(m, b)
            inputs[m] = one
        facts: dict[str, Any] = {
            "total": int(d[0]), "floor": not d[1], "missing": missing, "spo2_scale": 2 if d[2] else 1, "inputs": inputs,
        }  # fmt: skip
        e = self.scorer.escalations.documented.get(position)
        if e is not None:  # the clinician's levels in force, for machine-readable consumers too
            facts["escalation"] = {
                "urgent_from": e.urgent_from, "emergency_from": e.emergency_from, "red_score": e.red_score,
                "reason": e.reason, "set_by": e.set_by, "set_at": e.set_at,
            }  # fmt: skip
        return facts

    def nbytes(self) -> int:
        own = arrays_nbytes(self.persist) + self.episodes.nbytes()
        return own + (0 if self.emergency else self.scorer.nbytes())


def _band(metric: str, b: int) -> list[float | None]:
    """[lowest, highest] chart value of fine bin ``b`` of a measured ``metric`` (None: open-ended)."""
    table = {"rr": news2.RR, "spo2": news2.SPO2_SCALE1, "sbp": news2.SBP, "hr": news2.HR, "temp": news2.TEMP}[metric]
    step = 0.5 / 10**table.decimals
    low, high = float(BIN_LOW[b]), float(BIN_HIGH[b])
    return [
        round(low + step, table.decimals) if math.isfinite(low) else None,
        round(high - step, table.decimals) if math.isfinite(high) else None,
    ]


def _described(metric: str, p: dict[str, Any]) -> str:
    """One parameter as an explanation shows it: "SpO2 median 88-91% (newest 91%) -> 3", "SBP 128 mmHg -> 0"."""
    points = p["points"]
    if metric == "o2":
        return f"{'oxygen' if points else 'air'} -> {points}"
    if metric == "avpu":
        if "value" not in p:
            return "consciousness not reported -> 0"
        return f"{'new confusion/V/P/U' if points else 'alert'} -> {points}"
    unit = UNITS[metric]
    newest = f"{p['value']:g}{unit}" if "value" in p else "?"
    if "median_band" not in p:
        return f"{NAMES[metric]} {newest} (newest reading) -> {points}"
    low, high = p["median_band"]
    if low is not None and high is not None:
        band = f"{low:g}" if low == high else f"{low:g}-{high:g}"  # a bin one reading step wide: the value itself
    else:
        band = f"{high:g} or less" if low is None else f"{low:g} or more"
    return f"{NAMES[metric]} median {band}{unit} (newest {newest}) -> {points}"
