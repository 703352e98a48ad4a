"""Held conditions: a state that lasts between observations until one says it ended, e.g. a bathroom occupied, a
smoke detector in alarm, a room above 26 degC, a wearable reported off the body, a battery below 15 %.

The condition enters on an observation past ``enter`` and leaves on one past ``leave`` (hysteresis in between). It
becomes alertable at exactly ``onset + persist``: found by a later observation or by `tick` (alerts.rules.episodes,
held episodes). A per-device condition (a battery) is kept per device and folded into one alert per resident
(`Tally`), so a resident with two low batteries gets one alert, cleared when both are charged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from alerts._arrays import FloatArray, IntArray, firsts, grown, previous, ragged_arange, sort_fresh
from alerts.frame import Frame
from alerts.residents import Population
from alerts.rules.base import Findings, Parameter, Rule, arrays_nbytes, minutes
from alerts.rules.episodes import Episodes, Tally, codes, last_per_key
from carewatch.catalog import EVENT_ID, METRIC_BY_NAME, METRIC_ID, shown, symbol
from carewatch.model import Severity


@dataclass(frozen=True, slots=True)
class HeldSpec:
    """``title`` and ``text`` are format strings with the fields value, unit, threshold, duration, persist, device."""

    name: str
    severity: Severity
    source: str  # the published source (or the stated practice) of the defaults
    signal: str  # a metric (readings) or, with ``events``, an event kind
    below: bool
    enter: float
    leave: float
    persist_s: float
    title: str
    text: str
    events: bool = False
    clears: bool = True
    per_device: bool = False
    clinician_threshold: bool = False  # a clinician's per-resident limit on the metric replaces ``enter``


class HeldRule(Rule):
    def __init__(self, spec: HeldSpec) -> None:
        super().__init__()
        if (spec.leave < spec.enter) if spec.below else (spec.leave > spec.enter):
            raise ValueError(f"{spec.name}: hysteresis must lie on the safe side of the threshold")
        self.spec = spec
        self.name, self.severity, self.basis, self.clears = spec.name, spec.severity, spec.source, spec.clears
        self.signal_id = EVENT_ID[spec.signal] if spec.events else METRIC_ID[spec.signal]
        if spec.events:
            self.evidence_kinds = (self.signal_id,)
        else:
            self.evidence_metrics = (self.signal_id,)
        if spec.clinician_threshold:
            self.threshold = (spec.signal, "low" if spec.below else "high")
        self.enter = np.empty(0)  # (keys,) keys are residents, or devices for a per-device condition
        self.leave = np.empty(0)
        self.persist = np.empty(0)
        self.value = np.empty(0)  # (keys,) the latest observed value
        self.episodes = Episodes(held=True)
        self.tally = Tally()

    def grow(self, population: Population) -> None:
        super().grow(population)
        keys = population.device_count if self.spec.per_device else len(population)
        self.enter = grown(self.enter, keys, self.spec.enter)
        self.leave = grown(self.leave, keys, self.spec.leave)
        self.persist = grown(self.persist, keys, self.spec.persist_s)
        self.value = grown(self.value, keys, np.nan)
        self.episodes.grow(keys)
        self.tally.grow(len(population))

    def parameters(self) -> dict[str, Parameter]:
        unit = "" if self.spec.events else METRIC_BY_NAME[self.spec.signal].unit
        side = "below" if self.spec.below else "above"
        per_device = self.spec.per_device
        return {
            "enter": Parameter(self.enter, unit, f"the condition starts {side} this value", per_device),
            "leave": Parameter(self.leave, unit, "it ends on the safe side of this value", per_device),
            "persist_s": Parameter(self.persist, "s", "it alerts once it has lasted this long", per_device),
        }

    def set_threshold(self, position: int, value: float | None, in_bed: bool = False) -> None:
        gap = self.spec.leave - self.spec.enter
        enter = self.spec.enter if value is None else value
        self.enter[position], self.leave[position] = enter, enter + gap

    def _observations(self, frame: Frame) -> tuple[IntArray, FloatArray, FloatArray]:
        if self.spec.events:
            e = frame.events
            mine = (e.kind == self.signal_id).nonzero()[0]
            return e.resident[mine], e.ts[mine], e.value[mine]
        if self.spec.per_device:
            s = frame.status
            mine = ((s.metric == self.signal_id) & (s.device >= 0)).nonzero()[0]
            return s.device[mine], s.ts[mine], s.value[mine]
        return frame.readings.of_metric(self.signal_id)

    def evaluate(self, frame: Frame) -> Findings:
        key, ts, value = self._observations(frame)
        if key.shape[0] == 0:  # most batches, for event-driven conditions
            return Findings.none()
        keep = sort_fresh(key, ts, self.episodes.last_ts, value)
        key, ts, value = key[keep], ts[keep], value[keep]
        enter, leave = self.enter[key], self.leave[key]
        entered, left = (value < enter, value >= leave) if self.spec.below else (value > enter, value <= leave)
        stored_value = self.value[key]
        step = self.episodes.advance(key, ts, codes(entered, left), self.persist[key])
        self.value[key] = value  # the last assignment per key wins: observations are sorted by time
        # A condition found alertable by the observation that ended it shows the value it had before.
        before = previous(value, firsts(key), stored_value)
        raised_value = np.where(step.raised_inside, value[step.raised], before[step.raised])
        return self._report(
            key[step.raised], step.raised_at, raised_value, step.raised_onset, key[step.cleared], ts[step.cleared],
            key, ts,
        )  # fmt: skip

    def tick(self, now: float) -> Findings:
        keys, at, onset = self.episodes.tick(now, self.persist)
        none = np.empty(0, np.int64)
        return self._report(keys, at, self.value[keys], onset, none, np.empty(0), none, np.empty(0))

    def _report(
        self, key: IntArray, at: FloatArray, value: FloatArray, onset: FloatArray, gone: IntArray,
        gone_at: FloatArray, seen: IntArray, seen_at: FloatArray,
    ) -> Findings:  # fmt: skip
        if not self.spec.per_device:
            if not self.clears:
                gone, gone_at = gone[:0], gone_at[:0]
            return Findings.of(key, at, value, onset, None, gone, gone_at)
        ptr, residents = self.population.speaks_ptr, self.population.speaks_for
        device = np.concatenate([key, gone])
        owner, k = ragged_arange(ptr[device + 1] - ptr[device])
        resident = residents[ptr[device[owner]] + k]
        when = np.concatenate([at, gone_at])[owner]
        delta = np.where(owner < key.shape[0], 1, -1)
        s_owner, s_k = ragged_arange(ptr[seen + 1] - ptr[seen])
        freed, freed_at = self.tally.release(
            *last_per_key(*_by_key(residents[ptr[seen[s_owner]] + s_k], seen_at[s_owner]))
        )
        resident = np.concatenate([resident, freed])
        when = np.concatenate([when, freed_at])
        delta = np.concatenate([delta, -np.ones(freed.shape[0], np.int64)])
        raised, cleared = self.tally.apply(resident, when, delta)
        src = owner[raised]  # a release is a -1: it never raises
        return Findings.of(
            resident[raised], when[raised], value[src], onset[src], device[src].astype(np.float64),
            resident[cleared] if self.clears else None, when[cleared] if self.clears else None,
        )  # fmt: skip

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        if self.spec.per_device:
            self.tally.force(positions)
            return positions[:0]
        ended = self.episodes.force(positions, onset)
        return positions[ended] if self.clears else positions[:0]

    def evidence_device(self, detail: FloatArray) -> int | None:
        return int(detail[0]) if self.spec.per_device and detail.shape[0] else None

    def facts(self, position: int, detail: FloatArray) -> dict[str, Any]:
        if self.spec.per_device and detail.shape[0]:
            return {"device": self.population.device_ids[int(detail[0])]}
        return {}

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        device = ""
        if detail.shape[0] and np.isfinite(detail[0]):
            device = self.population.device_ids[int(detail[0])]
        key = int(detail[0]) if self.spec.per_device and detail.shape[0] else position
        metric = None if self.spec.events else METRIC_BY_NAME[self.spec.signal]
        unit = "" if metric is None else symbol(metric)  # what operators read: "°C", not UCUM's "Cel"
        fields = {
            "value": f"{value:g}" if metric is None else shown(metric, value), "unit": unit,
            "threshold": f"{self.enter[key]:g}",
            "duration": minutes(at - onset), "persist": minutes(self.persist[key]), "device": device,
        }  # fmt: skip
        return self.spec.title.format(**fields), self.spec.text.format(**fields)

    def nbytes(self) -> int:
        arrays = (self.enter, self.leave, self.persist, self.value)
        return arrays_nbytes(*arrays) + self.episodes.nbytes() + self.tally.nbytes()


def _by_key(key: IntArray, ts: FloatArray) -> tuple[IntArray, FloatArray]:
    order = np.lexsort((ts, key))
    return key[order], ts[order]
