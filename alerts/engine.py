"""The alert engine: a committed batch in, as numpy arrays; findings out, for every rule and all residents at once.

Pure: no I/O. It runs on the ingest writer's thread, right after the commit, so only that thread touches its arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from alerts.residents import MISSING, ResidentIndex
from alerts.rules import Rule, VitalsFrame
from carewatch.catalog import METRIC_ID, METRICS
from carewatch.model import Alert, AlertDraft, Batch, ReadingRow, Resident

EVIDENCE_MAX_READINGS = 120  # readings stored with an alert; the full window stays queryable in the history


@dataclass(frozen=True, slots=True)
class Cleared:
    resident_id: str
    rule: str
    at: float


class AlertEngine:
    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)
        self.index = ResidentIndex()

    def add_residents(self, residents: Sequence[Resident]) -> None:
        if self.index.add(residents):
            for rule in self.rules:
                rule.grow(len(self.index), self.index.residents)

    def mark_live(self, alerts: Sequence[Alert]) -> None:
        """Live alerts loaded at start-up: their conditions continue, they are not raised again."""
        for rule in self.rules:
            mine = [(self.index.position(a.resident_id), a.opened_at) for a in alerts if a.rule == rule.name]
            known = [(p, t) for p, t in mine if p != MISSING]
            if known:
                positions, onsets = zip(*known, strict=True)
                rule.mark_active(np.array(positions), np.array(onsets))

    def latest(self, frame: VitalsFrame) -> dict[str, dict[str, list[float]]]:
        """resident_id -> metric -> [ts, value] of the newest reading of each in the frame."""
        resident, metric, ts, value = frame.latest()
        latest: dict[str, dict[str, list[float]]] = {}
        for p, m, t, v in zip(resident.tolist(), metric.tolist(), ts.tolist(), value.tolist(), strict=True):
            latest.setdefault(self.index.residents[p].resident_id, {})[METRICS[m].name] = [t, v]
        return latest

    def frame(self, readings: Sequence[ReadingRow]) -> VitalsFrame:
        """The batch's plausible readings of known residents as arrays (artefacts never reach a rule)."""
        if not readings:
            return VitalsFrame.empty()
        ts, _, _, resident, metric, value, _, artefact = zip(*readings, strict=True)
        position = self.index.positions(resident)
        usable = (position != MISSING) & ~np.array(artefact, dtype=bool)
        return VitalsFrame(
            resident=position[usable],
            metric=np.fromiter((METRIC_ID[m] for m in metric), np.int16, len(metric))[usable],
            ts=np.array(ts, dtype=np.float64)[usable],
            value=np.array(value, dtype=np.float64)[usable],
        )

    def process(self, batch: Batch) -> tuple[list[AlertDraft], list[Cleared]]:
        return self.evaluate(self.frame(batch.readings))

    def evaluate(self, frame: VitalsFrame) -> tuple[list[AlertDraft], list[Cleared]]:
        drafts: list[AlertDraft] = []
        cleared: list[Cleared] = []
        for rule in self.rules:
            found = rule.evaluate(frame)
            for position, at, value, onset in zip(
                found.raised_resident.tolist(),
                found.raised_ts.tolist(),
                found.raised_value.tolist(),
                found.raised_onset.tolist(),
                strict=True,
            ):  # fmt: skip  (a loop over alerts, which are rare, not over readings)
                drafts.append(self._draft(rule, frame, position, at, value, onset))
            cleared.extend(
                Cleared(self.index.residents[p].resident_id, rule.name, t)
                for p, t in zip(found.cleared_resident.tolist(), found.cleared_ts.tolist(), strict=True)
            )
        return drafts, cleared

    def _draft(
        self, rule: Rule, frame: VitalsFrame, position: int, at: float, value: float, onset: float
    ) -> AlertDraft:
        resident = self.index.residents[position]
        title, explanation = rule.explain(value, onset, at, position)
        return AlertDraft(
            resident_id=resident.resident_id, site_id=resident.site_id, rule=rule.name, severity=rule.severity,
            opened_at=at, title=title, explanation=explanation,
            evidence=_evidence(rule, frame, position, onset, at),
        )  # fmt: skip


def _evidence(rule: Rule, frame: VitalsFrame, position: int, onset: float, at: float) -> dict[str, Any]:
    metric = rule.metric
    mask = (frame.resident == position) & (frame.ts >= onset) & (frame.ts <= at)
    if metric is not None:
        mask &= frame.metric == METRIC_ID[metric]
    order = np.argsort(frame.ts[mask])[-EVIDENCE_MAX_READINGS:]
    readings = np.column_stack([frame.ts[mask][order], frame.value[mask][order]]).tolist()
    return {"metric": metric, "window": [onset, at], "readings": readings, "basis": rule.basis}
