"""NEWS2 triggers (Royal College of Physicians 2017), scored at every reading time for all residents at once.

At each instant a resident has a new reading of any NEWS2 parameter, the newest value of every parameter is taken
(forward-filled within the batch, continuing from the stored newest values) if it is recent enough
(``MAX_AGE_S``); the set is scored with alerts.news2 when the five measured parameters (RR, SpO2, systolic BP,
pulse, temperature) are all present: a partial set under-scores, and the RCP scores complete sets. Supplemental
oxygen (``o2`` = 1) adds its 2 points and switches SpO2 scale 2 to its oxygen column for residents a clinician marked
for scale 2; consciousness (``avpu`` = 1: new confusion or not alert) adds 3 points where it is reported.

Chart 2's response levels become two rules:

- ``news2_urgent``: aggregate 5 or more, or a single parameter scoring 3 ("urgent response" / "urgent ward-based
  response"). Clears when the aggregate is 3 or less with no parameter at 3 (4 keeps the state: hysteresis).
- ``news2_emergency``: aggregate 7 or more ("emergency response"). Clears at 5 or less (6 keeps the state).

An emergency is an escalation inside an urgent episode: both stay open while the score is 7+, and the emergency
clears first when it falls back to 5-6. Each must persist ``persist_s`` (default 120 s: two minutes of continuous
monitoring, so that one noisy reading at a band edge does not alert); a resident observed by spot checks only can
be given persist_s = 0. Scale 2 and supplemental oxygen follow the resident's registry entry and ``o2`` readings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alerts import news2
from alerts._arrays import FloatArray, IntArray, firsts, grown, lasts, run_start
from alerts.frame import Frame
from alerts.residents import Population
from alerts.rules.base import Findings, Parameter, Rule, arrays_nbytes, minutes
from alerts.rules.episodes import Episodes, codes
from carewatch.catalog import METRIC_ID
from carewatch.model import Severity

# Column order: news2.PARAMETERS ("rr", "spo2", "air_or_oxygen", "sbp", "hr", "consciousness", "temp").
METRICS = ("rr", "spo2", "o2", "sbp", "hr", "avpu", "temp")
METRIC_IDS = np.array([METRIC_ID[m] for m in METRICS], np.int16)
MEASURED = np.array([0, 1, 3, 4, 6])  # the columns that must all be present for a score
# A wearable reports RR, SpO2 and pulse every few seconds: older than 10 minutes is no longer the patient's state.
# Blood pressure and temperature are taken less often (cuff, thermometer): an hour-old value still counts, as the
# RCP's minimum observation frequency for low scores is 12-hourly and 1-hourly for urgent ones.
MAX_AGE_S = np.array([600.0, 600.0, 3600.0, 3600.0, 600.0, 3600.0, 3600.0])
PERSIST_S = 120.0
MAX_GAP_S = 900.0  # scoring instants further apart than this restart the persistence clock
BASIS = (
    "Royal College of Physicians. National Early Warning Score (NEWS) 2, London: RCP, 2017: Chart 1 (scoring, SpO2 "
    "scale 2 for hypercapnic respiratory failure, +2 for supplemental oxygen, +3 for new confusion) and Chart 2 "
    "(aggregate 5-6 or a single 3: urgent response; 7 or more: emergency response)"
)
DETAIL = ("rr", "spo2", "scale2", "o2", "sbp", "hr", "confused", "temp", "total")


@dataclass(frozen=True, slots=True)
class Scored:
    """The scoring instants of one frame, (p,) each, sorted by (resident, ts): ``complete`` sets only have
    meaningful ``total``/``max_single``; ``detail`` (p, 9) the inputs in DETAIL order."""

    resident: IntArray
    ts: FloatArray
    total: np.ndarray
    max_single: np.ndarray
    complete: np.ndarray
    detail: FloatArray


class News2Scorer:
    """Shared by both NEWS2 rules (scored once per frame). State: ``latest`` (R, 7) newest value per parameter and
    ``latest_ts`` (R, 7) its time (-inf: never); ``last_ts`` (R,) newest scoring instant; ``scale2`` (R,) bool."""

    def __init__(self) -> None:
        self.latest = np.empty((0, len(METRICS)))
        self.latest_ts = np.empty((0, len(METRICS)))
        self.last_ts = np.empty(0)
        self.scale2 = np.empty(0, bool)
        self._frame: Frame | None = None
        self._scored: Scored | None = None

    def grow(self, population: Population) -> None:
        old, capacity = self.last_ts.shape[0], len(population)
        self.latest = grown(self.latest, capacity, np.nan)
        self.latest_ts = grown(self.latest_ts, capacity, -np.inf)
        self.last_ts = grown(self.last_ts, capacity, -np.inf)
        self.scale2 = grown(self.scale2, capacity, False)
        residents = population.residents
        self.scale2[old:] = np.fromiter((r.spo2_scale == 2 for r in residents[old:]), bool, capacity - old)

    def nbytes(self) -> int:
        return arrays_nbytes(self.latest, self.latest_ts, self.last_ts, self.scale2)

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
        res, ts, value, col = res[keep], ts[keep], value[keep], col[keep]
        instant = np.ones(res.shape[0], bool)
        instant[:-1] = (res[1:] != res[:-1]) | (ts[1:] != ts[:-1])  # the last row of each (resident, ts)
        at = np.flatnonzero(instant)
        p_res, p_ts = res[at], ts[at]
        # Each instant's reading rows in a row of (p, 7), then forward-filled down a resident's instants, all
        # parameters at once: the newest reading of each at or before the instant (else the stored value).
        starts = np.ones(res.shape[0], bool)
        starts[1:] = instant[:-1]
        here = np.full((at.shape[0], len(METRICS)), -1)
        here[np.cumsum(starts) - 1, col] = np.arange(res.shape[0])  # one per (instant, parameter): no repeats
        src = np.maximum.accumulate(here, axis=0)
        found = src >= run_start(firsts(res))[at][:, None]
        v = np.where(found, value[src], self.latest[p_res])
        t = np.where(found, ts[src], self.latest_ts[p_res])
        values = np.where(p_ts[:, None] - t <= MAX_AGE_S, v, np.nan)
        newest = lasts(p_res)
        self.latest[p_res[newest]], self.latest_ts[p_res[newest]] = v[newest], t[newest]
        last = lasts(res)
        self.last_ts[res[last]] = ts[last]
        oxygen = values[:, 2] >= 0.5
        scale2 = self.scale2[p_res]
        scores = news2.score_parameters(
            values[:, 0], values[:, 1], scale2, oxygen, values[:, 3], values[:, 4], values[:, 5], values[:, 6]
        )
        complete = np.asarray(~np.isnan(values[:, MEASURED]).any(axis=1))
        detail = np.column_stack([
            values[:, 0], values[:, 1], scale2, oxygen, values[:, 3], values[:, 4], values[:, 5], values[:, 6],
            scores.total,
        ])  # fmt: skip
        return Scored(p_res, p_ts, scores.total.astype(np.int64), scores.max_single.astype(np.int64), complete, detail)


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
        self.enter_total, self.leave_total = (7, 5) if emergency else (5, 3)
        self.persist = np.empty(0)
        self.episodes = Episodes(held=False)

    def grow(self, population: Population) -> None:
        super().grow(population)
        if not self.emergency:  # the urgent rule owns the shared scorer
            self.scorer.grow(population)
        self.persist = grown(self.persist, len(population), PERSIST_S)
        self.episodes.grow(len(population))

    def parameters(self) -> dict[str, Parameter]:
        return {"persist_s": Parameter(self.persist, "s", "the response level must last this long to alert")}

    def evaluate(self, frame: Frame) -> Findings:
        s = self.scorer.score(frame)
        if self.emergency:
            entered, left = s.total >= self.enter_total, s.total <= self.leave_total
        else:
            red = s.max_single >= news2.RED_SCORE
            entered, left = (s.total >= self.enter_total) | red, (s.total <= self.leave_total) & ~red
        code = codes(entered & s.complete, left & s.complete)
        gap = np.full(s.resident.shape[0], MAX_GAP_S)
        step = self.episodes.advance(s.resident, s.ts, code, self.persist[s.resident], gap)
        return Findings.of(
            s.resident[step.raised], step.raised_at, s.total[step.raised], step.raised_onset,
            s.detail[step.raised], s.resident[step.cleared], s.ts[step.cleared],
        )  # fmt: skip

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        return positions[self.episodes.force(positions, onset)]

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        d = detail
        one = news2.score_parameters(
            d[0:1], d[1:2], d[2:3] >= 0.5, d[3:4] >= 0.5, d[4:5], d[5:6], d[6:7], d[7:8]
        )  # fmt: skip
        level = "7 or more" if self.emergency else "5 or more, or 3 in one parameter"
        title = f"NEWS2 {int(d[8])}" + (" (emergency response)" if self.emergency else " (urgent response)")
        persist = minutes(self.persist[position])
        text = f"{news2.explain(one, 0)}. NEWS2 {level} for {minutes(at - onset)} (alerts after {persist})."
        return title, text

    def nbytes(self) -> int:
        own = arrays_nbytes(self.persist) + self.episodes.nbytes()
        return own + (0 if self.emergency else self.scorer.nbytes())
