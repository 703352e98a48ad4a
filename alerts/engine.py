"""The alert engine: a committed batch in, as numpy arrays; findings out, for every rule and all residents at once.

Pure apart from `rebuild` (which reads the store): it runs on the ingest writer's thread, right after the commit
(`evaluate`) and about once a second (`tick`), so only that thread touches its arrays. Time is always an argument:
no rule reads the clock.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from alerts._arrays import FloatArray, IntArray
from alerts.frame import Frame, Readings, Status, build
from alerts.residents import MISSING, Population, ResidentIndex
from alerts.rules import Rule
from alerts.rules.base import Findings
from alerts.rules.baseline import METRICS as BASELINE_METRICS
from alerts.rules.baseline import BaselineRule
from alerts.rules.devices import DeviceOfflineRule
from alerts.rules.early_warning import News2Rule
from alerts.rules.trend import TrendRule
from alerts.signals import Signals
from carewatch.catalog import EVENT_KINDS, METRICS
from carewatch.model import Alert, AlertDraft, Batch, Device, ReadingRow, Resident, Site
from carewatch.storage.base import News2Escalation, Store, Threshold, ThresholdContext

if TYPE_CHECKING:
    from alerts.rebuild import AlertedBefore

log = logging.getLogger(__name__)

EVIDENCE_MAX_READINGS = 120  # readings stored with an alert; the full window stays queryable in the history
EVIDENCE_WINDOW_S = 15 * 60.0  # the batch's readings this far back from the alert are its evidence


@dataclass(frozen=True, slots=True)
class Cleared:
    resident_id: str
    rule: str
    at: float


Found = tuple[list[AlertDraft], list[Cleared]]  # what a batch, a tick or a start gives the lifecycle


class AlertEngine:
    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)
        self.by_name = {rule.name: rule for rule in self.rules}
        if len(self.by_name) != len(self.rules):
            raise ValueError("rule names must be unique")
        self.population = Population()
        self.signals = Signals()
        self.unattributed = 0  # rows of shared sensors that spoke for no single resident (alerts.frame)
        self.alerted_before: AlertedBefore | None = None  # after a rebuild: checks the first tick's findings
        self._clinician: dict[tuple[str, int, bool], float] = {}  # (rule, resident, in bed) -> a clinician's limit
        self._rows: _RowsByResident | None = None  # the evidence index of the latest batch that raised

    def __getstate__(self) -> dict[str, Any]:  # a saved state (alerts.checkpoint) holds no batch
        return {**self.__dict__, "_rows": None}

    @property
    def index(self) -> ResidentIndex:
        return self.population.index

    # Registry ----------------------------------------------------------------------------------------------
    def add_residents(
        self, residents: Sequence[Resident], sites: Sequence[Site] = (), devices: Sequence[Device] = ()
    ) -> None:
        """Add or update residents, their sites (time zones) and devices; new ones get every rule's defaults."""
        self.population.update(residents, sites, devices)
        self.signals.grow(self.population)
        for rule in self.rules:
            rule.grow(self.population)

    def set_parameter(self, rule: str, resident_id: str, name: str, value: float) -> None:
        """Set one resident's parameter of a rule (for a per-device parameter: on every device that speaks for
        them). Raises KeyError for an unknown rule, resident or parameter."""
        position = self.index.position(resident_id)
        if position == MISSING:
            raise KeyError(f"unknown resident {resident_id!r}")
        parameter = self.by_name[rule].parameters()[name]
        where = self.population.devices_of(position) if parameter.per_device else position
        parameter.values[where] = value

    def apply_thresholds(self, thresholds: Iterable[Threshold]) -> None:
        """The clinicians' per-resident limits now in force (all of them: a limit missing here reverts to the
        rule's default, an in-bed one to the limit that applies otherwise). Only changes are applied. In-bed limits
        go to the rules that take them (``Rule.bed_limits``: the vital-sign thresholds); others ignore them."""
        wanted: dict[tuple[str, int, bool], float] = {}
        records: dict[tuple[str, int, bool], Threshold] = {}
        sides = {rule.threshold: rule for rule in self.rules if rule.threshold is not None}
        for t in thresholds:
            position = self.index.position(t.resident_id)
            if position == MISSING:
                continue
            in_bed = t.context == ThresholdContext.IN_BED
            for side, value in (("low", t.low), ("high", t.high)):
                rule = sides.get((t.metric, side))
                if rule is not None and value is not None and (rule.bed_limits or not in_bed):
                    wanted[(rule.name, position, in_bed)] = float(value)
                    records[(rule.name, position, in_bed)] = t
        for (name, position, in_bed), value in wanted.items():
            if self._clinician.get((name, position, in_bed)) != value:
                self.by_name[name].set_threshold(position, value, in_bed)
        for name, position, in_bed in self._clinician.keys() - wanted.keys():
            self.by_name[name].set_threshold(position, None, in_bed)
        for rule in sides.values():  # who set each limit, when and why, for the explanations
            rule.documented = {}
        for (name, position, in_bed), t in records.items():
            self.by_name[name].documented[(position, in_bed)] = t
        self._clinician = wanted

    def apply_news2_escalations(self, escalations: Iterable[News2Escalation]) -> None:
        """The clinicians' per-resident NEWS2 escalations now in force (all of them: a resident missing here
        reverts to the RCP's levels). Only changes are applied."""
        wanted = {self.index.position(e.resident_id): e for e in escalations}
        wanted.pop(MISSING, None)
        for rule in self.rules:
            if isinstance(rule, News2Rule) and not rule.emergency:  # one scorer (and its levels) for both rules
                rule.scorer.escalations.apply(wanted)

    # The batch path ----------------------------------------------------------------------------------------
    def frame(self, batch: Batch | Sequence[ReadingRow]) -> Frame:
        """The batch's rows as arrays (artefacts and unknown residents dropped; shared sensors attributed)."""
        if not isinstance(batch, Batch):
            batch = Batch(readings=list(batch))
        return build(batch, self.population)

    def process(self, batch: Batch) -> Found:
        return self.evaluate(self.frame(batch))

    def evaluate(self, frame: Frame) -> Found:
        """Run every rule on one batch. Returns the conditions that became alertable and those that cleared."""
        frame = self.signals.derive(frame)
        self.unattributed += frame.unattributed
        drafts: list[AlertDraft] = []
        cleared: list[Cleared] = []
        for rule in self.rules:
            self._report(rule, rule.evaluate(frame), frame, drafts, cleared)
        return drafts, cleared

    def tick(self, now: float) -> Found:
        """Time-driven evaluation (a device gone quiet, no activity when expected), about once a second."""
        self.population.refresh_offsets(now)
        drafts: list[AlertDraft] = []
        cleared: list[Cleared] = []
        empty = Frame()
        for rule in self.rules:
            self._report(rule, rule.tick(now), empty, drafts, cleared)
        if self.alerted_before is not None:  # what the time stopped made true: alerted before the restart?
            drafts, self.alerted_before = self.alerted_before.unalerted(drafts), None
        return drafts, cleared

    def latest(self, frame: Frame) -> dict[str, dict[str, list[float]]]:
        """resident_id -> metric -> [ts, value] of the newest reading of each in the frame."""
        resident, metric, ts, value = frame.readings.latest()
        residents = self.index.residents
        latest: dict[str, dict[str, list[float]]] = {}
        for p, m, t, v in zip(resident.tolist(), metric.tolist(), ts.tolist(), value.tolist(), strict=True):
            latest.setdefault(residents[p].resident_id, {})[METRICS[m].name] = [t, v]
        return latest

    # Start-up ----------------------------------------------------------------------------------------------
    def mark_live(self, alerts: Sequence[Alert], now: float | None = None) -> list[Cleared]:
        """Live alerts loaded at start-up (after `rebuild` replayed recent data): their conditions continue and are
        not raised again. Returns those whose replayed data shows the condition ended (at ``now``, else at the
        alert's opening)."""
        cleared: list[Cleared] = []
        for rule in self.rules:
            mine = [(self.index.position(a.resident_id), a.opened_at) for a in alerts if a.rule == rule.name]
            known = [(p, t) for p, t in mine if p != MISSING]
            if not known:
                continue
            positions, onsets = (np.array(x) for x in zip(*known, strict=True))
            ended = rule.mark_active(positions.astype(np.int64), onsets.astype(np.float64))
            if rule.clears:
                at = {int(p): t for p, t in known}
                for p in ended.tolist():
                    resident_id = self.index.residents[p].resident_id
                    cleared.append(Cleared(resident_id, rule.name, now if now is not None else at[p]))
        return cleared

    def seed_day_sums(self, resident: IntArray, column: IntArray, day: IntArray, numbers: FloatArray) -> None:
        """Stored day aggregates for the restart rebuild: ``numbers`` (k, 3) = readings, sum and sum of squares of
        metric ``column`` (k,) of alerts.rules.baseline.METRICS on UTC ``day`` (k,), for every rule that learns from
        them: the baseline, and a trend's usual level."""
        for rule in self.rules:
            if isinstance(rule, BaselineRule):
                rule.seed(resident, column, day, numbers)
            elif isinstance(rule, TrendRule) and rule.spec.metric in BASELINE_METRICS:
                here = column == BASELINE_METRICS.index(rule.spec.metric)
                rule.seed(resident[here], day[here], numbers[here, 0], numbers[here, 1])

    def devices_seen(self) -> dict[str, float]:
        """device_id -> the time of the newest row the engine has had from it (any row, artefacts included: the
        offline rule's record, seeded by the rebuild); empty without that rule."""
        rule = next((r for r in self.rules if isinstance(r, DeviceOfflineRule)), None)
        if rule is None:
            return {}
        ids, seen = self.population.device_ids, rule.last_seen
        return {ids[d]: float(seen[d]) for d in np.isfinite(seen).nonzero()[0].tolist()}

    def rebuild(self, store: Store, now: float) -> Found:
        """Rebuild the state from recent stored data, then load the live alerts (alerts.rebuild). Returns the
        conditions the process before never alerted and the live alerts whose condition ended; the first `tick`
        after it reports only what the process before had not alerted either."""
        from alerts.rebuild import rebuild

        return rebuild(self, store, now)

    def nbytes(self) -> dict[str, int]:
        """Bytes of state by part: the signals (fall detector, sensor-off, activity) and each rule."""
        parts = {"signals": self.signals.nbytes()}
        parts.update((rule.name, rule.nbytes()) for rule in self.rules)
        return parts

    # Reporting ---------------------------------------------------------------------------------------------
    def _report(
        self, rule: Rule, found: Findings, frame: Frame, drafts: list[AlertDraft], cleared: list[Cleared]
    ) -> None:
        if not len(found):
            return
        residents = self.index.residents
        rows = self._rows_of(frame) if found.raised_resident.shape[0] else None
        for position, at, value, onset, detail in zip(
            found.raised_resident.tolist(),
            found.raised_ts.tolist(),
            found.raised_value.tolist(),
            found.raised_onset.tolist(),
            found.raised_detail,
            strict=True,
        ):  # fmt: skip  (a loop over alerts, which are rare, not over readings)
            assert rows is not None
            drafts.append(self._draft(rule, rows, position, at, value, onset, detail))
        if rule.clears:
            cleared.extend(
                Cleared(residents[p].resident_id, rule.name, t)
                for p, t in zip(found.cleared_resident.tolist(), found.cleared_ts.tolist(), strict=True)
            )

    def _rows_of(self, frame: Frame) -> _RowsByResident:
        if self._rows is None or self._rows.frame is not frame:  # one index per batch, for all its alerts
            self._rows = _RowsByResident.of(frame)
        return self._rows

    def _draft(
        self, rule: Rule, rows: _RowsByResident, position: int, at: float, value: float, onset: float,
        detail: np.ndarray,
    ) -> AlertDraft:  # fmt: skip
        resident = self.index.residents[position]
        title, explanation = rule.explain(position, at, value, onset, detail)
        return AlertDraft(
            resident_id=resident.resident_id, site_id=resident.site_id, rule=rule.name, severity=rule.severity,
            opened_at=at, title=title, explanation=explanation,
            evidence=_evidence(rule, rows, position, onset, at, detail),
            onset=onset if math.isfinite(onset) and onset < at else None,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _RowsByResident:
    """A frame's readings and events ordered by (resident, time), with each resident's range: an alert's evidence
    is found in O(log n) plus its own rows, however many alerts a batch raises."""

    frame: Frame
    readings: np.ndarray  # (n,) order of frame.readings by (resident, ts)
    events: np.ndarray  # (m,) order of frame.events by (resident, ts)

    @classmethod
    def of(cls, frame: Frame) -> _RowsByResident:
        r, e = frame.readings, frame.events
        return cls(frame, np.lexsort((r.ts, r.resident)), np.lexsort((e.ts, e.resident)))

    def readings_of(self, position: int) -> np.ndarray:
        lo, hi = np.searchsorted(self.frame.readings.resident[self.readings], [position, position + 1])
        return self.readings[lo:hi]

    def events_of(self, position: int) -> np.ndarray:
        lo, hi = np.searchsorted(self.frame.events.resident[self.events], [position, position + 1])
        return self.events[lo:hi]


def _evidence(
    rule: Rule, rows: _RowsByResident, position: int, onset: float, at: float, detail: np.ndarray
) -> dict[str, Any]:
    start = onset if math.isfinite(onset) and onset <= at else at - EVIDENCE_WINDOW_S
    start = max(start, at - EVIDENCE_WINDOW_S)
    series: dict[str, list[list[float]]] = {}
    device = rule.evidence_device(detail)
    if rule.evidence_metrics:
        if device is None:
            r: Readings | Status = rows.frame.readings
            mine = rows.readings_of(position)  # in time order
        else:  # a per-device condition (a battery, a wearable not worn): that device's own status readings
            r = rows.frame.status
            mine = (r.device == device).nonzero()[0]
            mine = mine[np.argsort(r.ts[mine], kind="stable")]
        mine = mine[(r.ts[mine] >= start) & (r.ts[mine] <= at) & np.isin(r.metric[mine], rule.evidence_metrics)]
        for m in np.unique(r.metric[mine]).tolist():
            these = mine[r.metric[mine] == m][-EVIDENCE_MAX_READINGS:]
            series[METRICS[m].name] = np.column_stack([r.ts[these], r.value[these]]).tolist()
    events: list[list[Any]] = []
    if rule.evidence_kinds:
        e = rows.frame.events
        mine = rows.events_of(position)
        mine = mine[(e.ts[mine] >= start) & (e.ts[mine] <= at) & np.isin(e.kind[mine], rule.evidence_kinds)]
        mine = mine[-EVIDENCE_MAX_READINGS:]
        kinds, ts, values = e.kind[mine].tolist(), e.ts[mine].tolist(), e.value[mine].tolist()
        events = [[t, EVENT_KINDS[k], v] for t, k, v in zip(ts, kinds, values, strict=True)]
    metric = rule.primary_metric(detail)
    evidence: dict[str, Any] = {
        "metric": metric, "window": [start, at], "readings": series.get(metric, []) if metric else [],
        "basis": rule.basis_of(position, detail), "facts": rule.facts(position, detail),
    }  # fmt: skip
    if len(series) > 1 or (series and metric is None):
        evidence["series"] = series
    if events:
        evidence["events"] = events
    return evidence
