"""Scoring the detection evaluation (bench/eval_scenarios.py): alert openings matched against the ground truth.

Pure: no I/O. The rules of the match (docs/detection.md):

- An *opening* is a new alert or an automatically resolved one reopened within the flap window (the lifecycle
  reopens rather than duplicates): each is a separate raise of the rule for the resident.
- An incident's *window* is ``[start - EARLY_S, end + GRACE_S]``. The incident is *detected* when an opening of its
  ``expected_rule`` (or a higher level of the same score, ``GroundTruth.found_by``: an emergency holds the urgent
  NEWS2 alert back, alerts.rules.early_warning) for its resident falls in the window; its *latency* is the first
  such opening minus ``start``.
  It is also detected, *already alerted* (no latency), when that rule's alert for the resident was live as the
  window began: opened before it and not resolved (one open alert per resident and rule, so none can open anew; a
  battery planted low in a wearable whose battery ran low in ordinary life and has not been charged since).
- An opening is *matched* when it falls in the window of an incident of the same resident that names its rule as
  expected or ``also``; *precision* of a rule = its matched openings / all its openings. Unmatched openings are
  false alerts.
- Incidents whose window has not closed when the run ends are not scored (and their openings are not false).
- Ordinary life that rightly raises an alert (a background episode naming a rule: a wearable's battery running
  low before its morning charge) is not an incident: an opening in its window is matched (not false), but it does
  not count toward recall, and its resident stays incident-free.
- *False alerts per resident-day* are counted on the residents with no incident in the run: every opening there
  that ordinary life does not explain is false, over their number times the simulated days.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from simulators.scenarios.base import NO_RULE, GroundTruth

GRACE_S = 600.0  # after an incident's end: the alert of a condition that lasted to the end still arrives then
EARLY_S = 1.0  # before its start: the simulator's tick holding an incident's start is affected as a whole
DAY_S = 86_400.0
WEEK_DAYS = 7.0
GOAL_RECALL = 0.99
GOAL_FALSE_PER_WEEK = 1.0


@dataclass(frozen=True, slots=True, order=True)
class Opening:
    """One raise of a rule for a resident, at data time ``at``, with the alert's explanation (for a post-mortem)."""

    alert_id: int
    resident_id: str
    rule: str
    at: float
    explanation: str = field(default="", compare=False)
    until: float = field(default=math.inf, compare=False)  # when it was next resolved (inf: live at the end)


def ratio(part: float, whole: float) -> float:
    """part / whole, NaN where there is nothing to divide by."""
    return part / whole if whole else math.nan


@dataclass(slots=True)
class RuleFigures:
    incidents: int = 0
    detected: int = 0
    latencies: list[float] = field(default_factory=list)
    openings: int = 0
    matched: int = 0
    already_alerted: int = 0  # of ``detected``: the rule's alert live as the incident began

    @property
    def recall(self) -> float:
        return ratio(self.detected, self.incidents)

    @property
    def precision(self) -> float:
        return ratio(self.matched, self.openings)

    def latency(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else math.nan


@dataclass(frozen=True, slots=True)
class Score:
    rules: dict[str, RuleFigures]
    missed: list[GroundTruth]
    false_alerts: list[Opening]  # unmatched openings, any resident
    quiet_false: int  # openings on incident-free residents
    quiet_resident_days: float
    resident_days: float
    unscored: int  # incidents still open (window not closed) when the run ended
    silent: list[GroundTruth]  # incidents that expect no alert (artefact bursts)
    silent_alerted: int  # of those, how many had an unmatched opening during them
    ordinary: list[GroundTruth]  # background episodes that rightly raise an alert (a battery running low)
    ordinary_alerted: int  # of those, how many did

    @property
    def incidents(self) -> int:
        return sum(f.incidents for f in self.rules.values())

    @property
    def detected(self) -> int:
        return sum(f.detected for f in self.rules.values())

    @property
    def recall(self) -> float:
        return ratio(self.detected, self.incidents)

    @property
    def false_per_resident_day(self) -> float:
        return ratio(self.quiet_false, self.quiet_resident_days)

    @property
    def goals_met(self) -> bool:
        return self.recall >= GOAL_RECALL and self.false_per_resident_day * WEEK_DAYS <= GOAL_FALSE_PER_WEEK


def within(truth: GroundTruth, at: float) -> bool:
    return truth.start - EARLY_S <= at <= truth.end + GRACE_S


def score(openings: Sequence[Opening], truths: Sequence[GroundTruth], residents: Sequence[str], start: float,
          end: float) -> Score:  # fmt: skip
    """Match ``openings`` against the incidents of ``truths`` (background episodes are ignored) for a run of
    ``residents`` over ``[start, end)``."""
    incidents = [t for t in truths if not t.background]
    ordinary = [t for t in truths if t.background and t.expected_rule != NO_RULE]
    by_resident = _by_resident(incidents)
    ordinary_of = _by_resident(ordinary)
    rules: dict[str, RuleFigures] = {}
    false_alerts: list[Opening] = []
    explained: set[Opening] = set()  # openings ordinary life accounts for
    for o in openings:
        figures = rules.setdefault(o.rule, RuleFigures())
        figures.openings += 1
        mine = by_resident.get(o.resident_id, [])
        if _expects(mine, o):
            figures.matched += 1
        elif _expects(ordinary_of.get(o.resident_id, []), o):
            figures.matched += 1
            explained.add(o)
        elif not any(t.end + GRACE_S > end and within(t, o.at) for t in mine):  # not an unfinished incident's
            false_alerts.append(o)
    scored = [t for t in incidents if t.end + GRACE_S <= end]
    missed: list[GroundTruth] = []
    for t in alerting(scored):
        figures = rules.setdefault(t.expected_rule, RuleFigures())
        figures.incidents += 1
        hits = [o.at for o in openings if o.resident_id == t.resident_id and o.rule in t.found_by and within(t, o.at)]
        if hits:
            figures.detected += 1
            figures.latencies.append(min(hits) - t.start)
        elif any(o.resident_id == t.resident_id and o.rule in t.found_by and o.at < t.start - EARLY_S < o.until
                 for o in openings):  # fmt: skip
            figures.detected += 1
            figures.already_alerted += 1
        else:
            missed.append(t)
    silent = [t for t in scored if t.expected_rule == NO_RULE]
    silent_alerted = sum(any(o.resident_id == t.resident_id and within(t, o.at) for o in false_alerts) for t in silent)
    quiet = set(residents) - set(by_resident)
    days = (end - start) / DAY_S
    return Score(
        rules=dict(sorted(rules.items())), missed=missed, false_alerts=false_alerts,
        quiet_false=sum(o.resident_id in quiet and o not in explained for o in openings),
        quiet_resident_days=len(quiet) * days, resident_days=len(residents) * days,
        unscored=len(incidents) - len(scored), silent=silent, silent_alerted=silent_alerted, ordinary=ordinary,
        ordinary_alerted=sum(any(_expects([t], o) for o in explained) for t in ordinary),
    )  # fmt: skip


def alerting(truths: Sequence[GroundTruth]) -> list[GroundTruth]:
    """The truths that expect an alert."""
    return [t for t in truths if t.expected_rule != NO_RULE]


def on_residents(truths: Sequence[GroundTruth], missed: Sequence[GroundTruth], residents: Collection[str],
                 end: float) -> list[tuple[GroundTruth, bool]]:  # fmt: skip
    """The scored incidents expecting an alert on ``residents`` (a run ending at ``end``), each with whether it was
    found (not in ``missed``), by start."""
    mine = [t for t in alerting(truths) if not t.background and t.resident_id in residents and t.end + GRACE_S <= end]
    return [(t, t not in missed) for t in sorted(mine, key=lambda t: t.start)]


def _by_resident(truths: Sequence[GroundTruth]) -> dict[str, list[GroundTruth]]:
    grouped: dict[str, list[GroundTruth]] = {}
    for t in truths:
        grouped.setdefault(t.resident_id, []).append(t)
    return grouped


def _expects(truths: Sequence[GroundTruth], o: Opening) -> bool:
    """Whether one of ``truths`` (the resident's) names the opening's rule and holds its time."""
    return any(o.resident_id == t.resident_id and o.rule in (t.expected_rule, *t.also) and within(t, o.at)
               for t in truths)  # fmt: skip


def poisson_upper(k: int, confidence: float = 0.95) -> float:
    """The exact (Garwood) upper confidence limit of a Poisson mean after observing ``k`` events."""
    tail = (1 - confidence) / 2
    lo, hi = 0.0, 10.0 + 10.0 * k
    for _ in range(100):  # bisection on P(X <= k; mu) = tail, which falls as mu grows
        mu = (lo + hi) / 2
        cdf = sum(math.exp(-mu + i * math.log(mu) - math.lgamma(i + 1)) for i in range(k + 1))
        lo, hi = (mu, hi) if cdf > tail else (lo, mu)
    return (lo + hi) / 2


def _minutes(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds / 60:7.1f}"


def _ratio(value: float) -> str:
    return "    -" if math.isnan(value) else f"{value:5.3f}"


def report(s: Score) -> str:
    """The per-rule table and the totals against the goals, as printed."""
    lines = [
        f"{'rule':<16} {'incid.':>6} {'found':>5} {'recall':>6} {'lat. median':>11} {'p90 (min)':>9}"
        f" {'alerts':>6} {'matched':>7} {'precision':>9} {'false':>5}",
    ]
    false_by_rule: dict[str, int] = {}
    for o in s.false_alerts:
        false_by_rule[o.rule] = false_by_rule.get(o.rule, 0) + 1
    for rule, f in s.rules.items():
        lines.append(
            f"{rule:<16} {f.incidents:>6} {f.detected:>5} {_ratio(f.recall):>6} {_minutes(f.latency(50)):>11}"
            f" {_minutes(f.latency(90)):>9} {f.openings:>6} {f.matched:>7} {_ratio(f.precision):>9}"
            f" {false_by_rule.get(rule, 0):>5}"
        )
    weekly = s.false_per_resident_day * WEEK_DAYS
    upper = poisson_upper(s.quiet_false) / s.quiet_resident_days * WEEK_DAYS if s.quiet_resident_days else math.nan
    recall_ok = "met" if s.recall >= GOAL_RECALL else "NOT met"
    false_ok = "met" if weekly <= GOAL_FALSE_PER_WEEK else "NOT met"
    lines += [
        "",
        f"recall: {s.detected}/{s.incidents} = {_ratio(s.recall)} (goal >= {GOAL_RECALL}: {recall_ok});"
        f" {s.unscored} incidents still open at the end, not scored; found already alerted (the rule's alert live"
        f" as the incident began): {sum(f.already_alerted for f in s.rules.values())}",
        f"false alerts on incident-free residents: {s.quiet_false} in {s.quiet_resident_days:.1f} resident-days ="
        f" {s.false_per_resident_day:.3f}/resident-day = {weekly:.2f}/resident-week (95 % upper {upper:.2f};"
        f" goal <= {GOAL_FALSE_PER_WEEK}: {false_ok})",
        f"unmatched alerts, all residents: {len(s.false_alerts)} in {s.resident_days:.1f} resident-days;"
        f" artefact bursts (no alert expected): {s.silent_alerted} of {len(s.silent)} raised one",
        f"ordinary life that rightly alerts (batteries running low before their charge, not incidents):"
        f" {s.ordinary_alerted} of {len(s.ordinary)} alerted",
    ]
    return "\n".join(lines)
