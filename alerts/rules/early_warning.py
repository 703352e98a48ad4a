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

A score is computed once a minute per resident, when the minute is complete (a later reading has arrived), at the
minute's end, from the five measured parameters (RR, SpO2, systolic BP, pulse, temperature), and only when all five
are present: a partial set under-scores, and the RCP scores complete sets. Supplemental oxygen (``o2`` = 1) adds its
2 points and switches SpO2 scale 2 to its oxygen column for residents a clinician marked for scale 2; consciousness
(``avpu`` = 1: new confusion or not alert) adds 3 points where it is reported. Chart 2's levels become two rules:

- ``news2_urgent``: aggregate 5 or more, or a single parameter scoring 3 ("urgent response" / "urgent ward-based
  response"). Clears when the aggregate is 3 or less with no parameter at 3 (4 keeps a raised alert: hysteresis).
- ``news2_emergency``: aggregate 7 or more ("emergency response"). Clears at 5 or less (6 keeps it).

An emergency is an escalation inside an urgent episode: both stay open while the score is 7+, and the emergency
clears first when it falls back to 5-6. A resident observed by spot checks only can be given persist_s = 0.

A clinician may document a resident-specific escalation (``carewatch.storage.base.News2Escalation``: a chronic
condition, e.g. COPD on home oxygen, that keeps the score at 5-7): the aggregate from which that resident's NEWS2 is
urgent and an emergency, and whether a single 3 alerts by itself (``Escalations``). Each level then clears 2 below
its entry, as the defaults do, and the alert's explanation names the escalation, who set it, when and why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from alerts import news2
from alerts._arrays import FloatArray, IntArray, firsts, grown, last_index, lasts, ragged_arange, run_start
from alerts.frame import Frame
from alerts.residents import Population
from alerts.rules.base import Findings, Parameter, Rule, arrays_nbytes, minutes
from alerts.rules.episodes import Episodes, codes
from alerts.rules.ring import SlotRing, Timeline
from alerts.signals import resting
from carewatch.catalog import METRIC_ID
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
DETAIL = ("rr", "spo2", "scale2", "o2", "sbp", "hr", "confused", "temp", "total")


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
# anything lower.
BIN_VALUE = np.concatenate([np.concatenate([[e[0] - 1.0], e]) for e in FINE_EDGES])


def fine_bin(m: int, value: FloatArray) -> IntArray:
    """(n,) the bin (0 .. BINS[m] - 1) of values (n,) of the m-th measured column."""
    return np.searchsorted(FINE_EDGES[m], value, side="right").astype(np.int64)


@dataclass(frozen=True, slots=True)
class Scored:
    """The scoring instants of one frame, (p,) each, sorted by (resident, ts): ``complete`` sets only have
    meaningful ``total``/``max_single``; ``detail`` (p, 9) the scored values in DETAIL order (a measured parameter
    scored from its median shows the lowest value of the scored band)."""

    resident: IntArray
    ts: FloatArray
    total: np.ndarray
    max_single: np.ndarray
    complete: np.ndarray
    detail: FloatArray


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
    """Shared by both NEWS2 rules (scored once per frame). State: ``ring`` the last WINDOW_SLOTS minutes of each
    resident as counts per fine bin of each measured parameter; ``latest`` (R, 7) newest value per parameter and
    ``latest_ts`` (R, 7) its time (-inf: never); ``last_ts`` (R,) newest reading; ``scale2`` (R,) bool; and the
    levels both rules alert at (``escalations``)."""

    def __init__(self) -> None:
        self.ring = SlotRing(WINDOW_SLOTS, N_BINS)
        self.latest = np.empty((0, len(METRICS)))
        self.latest_ts = np.empty((0, len(METRICS)))
        self.last_ts = np.empty(0)
        self.scale2 = np.empty(0, bool)
        self.escalations = Escalations()
        self._frame: Frame | None = None
        self._scored: Scored | None = None

    def grow(self, population: Population) -> None:
        old, capacity = self.last_ts.shape[0], len(population)
        self.ring.grow(capacity)
        self.latest = grown(self.latest, capacity, np.nan)
        self.latest_ts = grown(self.latest_ts, capacity, -np.inf)
        self.last_ts = grown(self.last_ts, capacity, -np.inf)
        self.scale2 = grown(self.scale2, capacity, False)
        self.escalations.grow(capacity)
        residents = population.residents
        self.scale2[old:] = np.fromiter((r.spo2_scale == 2 for r in residents[old:]), bool, capacity - old)

    def nbytes(self) -> int:
        own = arrays_nbytes(self.latest, self.latest_ts, self.last_ts, self.scale2)
        return self.ring.nbytes() + own + self.escalations.nbytes()

    def __getstate__(self) -> dict[str, Any]:  # a saved state (alerts.checkpoint) holds no batch
        return {**self.__dict__, "_frame": None, "_scored": None}

    def score(self, frame: Frame) -> Scored:
        if frame is self._frame and self._scored is not None:
            return self._scored
        self._frame, self._scored = frame, self._score(frame)
        return self._scored

    def _score(self, frame: Frame) -> Scored:
        res, ts, value, col = frame.readings.of_metrics(METRIC_IDS)
        order = np.lexsort((ts, res))  # stable: at one instant, by column, then value (each run's order)
        res, ts, value, col = res[order], ts[order], value[order], col[order]
        repeat = np.zeros(res.shape[0], bool)
        repeat[1:] = (res[1:] == res[:-1]) & (ts[1:] == ts[:-1]) & (col[1:] == col[:-1])
        keep = ~repeat & (ts > self.last_ts[res])
        measured = IS_MEASURED[col].nonzero()[0]  # at rest: the measured parameters' readings, not o2 or avpu
        keep[measured] &= resting(frame.exertion, res[measured], ts[measured])
        res, ts, value, col = res[keep], ts[keep], value[keep], col[keep]
        if res.shape[0] == 0:
            return _no_scores()
        slot = np.floor(ts / SLOT_S).astype(np.int64)
        line = self._count(res, slot, value, col)
        if line is None:  # every reading in its resident's minute being filled: no minute completed
            self._remember(res, ts, value, col)
            return _no_scores()
        L = self.ring.length
        owner, j = ragged_arange(line.length - L)  # completed minutes: the previous newest, then all but the newest
        pos = line.base[owner] + L - 1 + j
        filled = line.sums[pos].sum(axis=1) > 0
        pos, key = pos[filled], line.key[owner[filled]]
        at = (line.slot[pos] + 1) * SLOT_S
        window = self.ring.windows(line, pos, L, 1)[:, 0, :]  # (p, N_BINS)
        self.ring.store(line)
        newest = self._newest_before(res, ts, value, col, key, at)  # (p, 7), NaN where none is recent enough
        self._remember(res, ts, value, col)
        low, high = newest.copy(), newest.copy()  # the two middle readings' values (their bins' lowest)
        for m, c in enumerate(MEASURED.tolist()):
            bins = window[:, BIN_START[m] : BIN_START[m] + BINS[m]]
            n = bins.sum(axis=1)
            cum = np.cumsum(bins, axis=1)
            for values, k in ((low, (n - 1) // 2), (high, n // 2)):
                b = (cum <= k[:, None]).sum(axis=1)
                median = BIN_VALUE[BIN_START[m] + np.minimum(b, BINS[m] - 1)]
                values[:, c] = np.where(n > 0, median, values[:, c])
        scale2 = self.scale2[key]
        oxygen = low[:, 2] >= 0.5
        v, p = np.concatenate([low, high]), key.shape[0]  # both middles scored in one call
        s = news2.score_parameters(v[:, 0], v[:, 1], np.tile(scale2, 2), np.tile(oxygen, 2), v[:, 3], v[:, 4],
                                   v[:, 5], v[:, 6])  # fmt: skip
        both = np.stack([s.rr, s.spo2, s.air_or_oxygen, s.sbp, s.hr, s.consciousness, s.temp], axis=1)
        points_a, points_b = both[:p], both[p:]
        points = np.minimum(points_a, points_b)
        values = np.where(points_a <= points_b, low, high)
        complete = np.asarray(~np.isnan(values[:, MEASURED]).any(axis=1))
        total = points.sum(axis=1)
        detail = np.column_stack([
            values[:, 0], values[:, 1], scale2, oxygen, values[:, 3], values[:, 4], values[:, 5], values[:, 6], total,
        ])  # fmt: skip
        return Scored(key, at, total.astype(np.int64), points.max(axis=1).astype(np.int64), complete, detail)

    def _count(self, res: IntArray, slot: IntArray, value: FloatArray, col: np.ndarray) -> Timeline | None:
        """Count readings (n,) sorted by resident into their minute's fine bins (alerts.rules.ring): in place for
        residents whose readings all lie in their newest minute (most), a timeline for the others (None if none)."""
        field = np.full(res.shape[0], -1)  # the reading's fine bin; -1: a parameter not scored from a median
        for m, c in enumerate(MEASURED.tolist()):  # five parameters, not readings
            rows = (col == c).nonzero()[0]
            field[rows] = BIN_START[m] + fine_bin(m, value[rows])
        stays = self.ring.in_newest(res, slot)
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
    ) -> FloatArray:
        """(p, 7) each parameter's newest value before each scoring instant (``key``, ``at``) (p,), from the batch's
        rows (k >= 1, sorted by resident, time) or the stored newest; NaN if older than MAX_AGE_S. Every
        (parameter, instant) pair is one query, all answered by one sort."""
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
        v = np.where(in_batch, value[row], self.latest[key[i], c])
        t = np.where(in_batch, ts[row], self.latest_ts[key[i], c])
        out = np.full((n, c_n), np.nan)
        out[i, c] = np.where(at[i] - t <= MAX_AGE_S[c], v, np.nan)
        return out

    def _remember(self, res: IntArray, ts: FloatArray, value: FloatArray, col: np.ndarray) -> None:
        """Store the newest value of every (resident, parameter) among readings sorted by (resident, time)."""
        cell = res * len(METRICS) + col  # the flat index into latest (R, 7)
        by_cell = np.argsort(cell, kind="stable")  # in time order within each cell
        last = by_cell[lasts(cell[by_cell])]
        np.put(self.latest, cell[last], value[last])
        np.put(self.latest_ts, cell[last], ts[last])
        newest = lasts(res)
        self.last_ts[res[newest]] = ts[newest]


def _no_scores() -> Scored:
    none = np.empty(0, np.int64)
    return Scored(none, np.empty(0), none, none, np.empty(0, bool), np.empty((0, len(DETAIL))))


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
        self.persist_s = EMERGENCY_PERSIST_S if emergency else URGENT_PERSIST_S
        self.persist = np.empty(0)
        self.episodes = Episodes(held=False)

    def grow(self, population: Population) -> None:
        super().grow(population)
        if not self.emergency:  # the urgent rule owns the shared scorer
            self.scorer.grow(population)
        self.persist = grown(self.persist, len(population), self.persist_s)
        self.episodes.grow(len(population))

    def parameters(self) -> dict[str, Parameter]:
        return {"persist_s": Parameter(self.persist, "s", "the response level must last this long to alert")}

    def evaluate(self, frame: Frame) -> Findings:
        s = self.scorer.score(frame)
        levels = self.scorer.escalations
        enter = (levels.emergency_from if self.emergency else levels.urgent_from)[s.resident]
        entered, left = s.total >= enter, s.total <= leave_level(enter)
        if not self.emergency:
            red = (s.max_single >= news2.RED_SCORE) & levels.red_score[s.resident]
            entered, left = entered | red, left & ~red
        ok = s.complete.nonzero()[0]  # an incomplete set says nothing (it neither continues nor ends a level)
        res, ts = s.resident[ok], s.ts[ok]
        gap = np.full(ok.shape[0], MAX_GAP_S)
        step = self.episodes.advance(res, ts, codes(entered[ok], left[ok]), self.persist[res], gap)
        raised = ok[step.raised]
        return Findings.of(
            res[step.raised], step.raised_at, s.total[raised], step.raised_onset, s.detail[raised],
            res[step.cleared], ts[step.cleared],
        )  # fmt: skip

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        return positions[self.episodes.force(positions, onset)]

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        d = detail
        one = news2.score_parameters(
            d[0:1], d[1:2], d[2:3] >= 0.5, d[3:4] >= 0.5, d[4:5], d[5:6], d[6:7], d[7:8]
        )  # fmt: skip
        levels = self.scorer.escalations
        if self.emergency:
            level = f"{levels.emergency_from[position]} or more"
        else:
            red = ", or 3 in one parameter" if levels.red_score[position] else ""
            level = f"{levels.urgent_from[position]} or more{red}"
        title = f"NEWS2 {int(d[8])}" + (" (emergency response)" if self.emergency else " (urgent response)")
        persist = minutes(self.persist[position])
        text = (
            f"{news2.explain(one, 0)}; each vital sign scored from its median over the last {WINDOW_SLOTS} minutes "
            f"(shown: the lowest value of the scored band). NEWS2 {level} for {minutes(at - onset)} (alerts after "
            f"{persist}){levels.describe(position)}."
        )
        return title, text

    def facts(self, position: int, detail: FloatArray) -> dict[str, Any]:
        facts = super().facts(position, detail)
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
