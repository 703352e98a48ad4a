"""Sustained-threshold rules with hysteresis and persistence, e.g. "SpO2 below 90 % for 60 s".

A condition *enters* when a reading crosses `enter`, stays while readings remain on the wrong side of `leave`
(hysteresis: values between the two keep the previous state), and becomes alertable once it has lasted `persist_s`.
A gap longer than `max_gap_s` between readings restarts the persistence clock (no "sustained" across a device that was
off). Sampled episodes (alerts.rules.episodes): everything is evaluated for all residents at once. The persistence
clock runs only while readings are beyond `enter`; the band between `enter` and `leave` only keeps a raised alert.

*At rest.* Respiration and blood pressure rise with exertion, and their limits are for a resting person: a walk of
a few minutes takes a COPD resident's respiration, or a hypertensive resident's systolic pressure, past them (the
pulse limit, 130/min, is not one ordinary walking reaches: docs/rules.md). For the "high" rules marked
``at_rest``, a reading while the wearable says the body is moving (alerts.signals, exertion: steps, a moving
accelerometer block) or within ``RECOVERY_S`` after does not count toward the persistence (it neither starts nor
continues a run); it still clears a raised alert, and an alert already raised stays raised through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from alerts._arrays import FloatArray, IntArray, fresh, grown
from alerts.frame import Frame
from alerts.residents import Population
from alerts.rules.base import Findings, Parameter, Rule, arrays_nbytes, minutes
from alerts.rules.episodes import Episodes, codes
from alerts.signals import latest_at
from carewatch.catalog import METRIC_BY_NAME, METRIC_ID
from carewatch.model import Resident, Severity

# Blood pressure is measured after at least 5 minutes of quiet rest (2017 ACC/AHA hypertension guideline, Whelton et
# al., Hypertension 2018;71:e13-e115, Table 8; NICE NG136 asks for the person seated and relaxed), and respiration is
# counted at rest; a design choice to use the same 5 minutes as the recovery after any body movement.
RECOVERY_S = 300.0


@dataclass(frozen=True, slots=True)
class ThresholdSpec:
    name: str
    metric: str
    below: bool  # True: alert on low values (SpO2), False: on high values (heart rate)
    enter: float
    leave: float
    persist_s: float
    max_gap_s: float
    severity: Severity
    source: str  # where the default threshold comes from
    for_resident: Callable[[Resident], tuple[float, float]] | None = None  # per-resident (enter, leave) defaults
    at_rest: bool = False  # readings during exertion and RECOVERY_S after do not count toward the persistence


class ThresholdRule(Rule):
    def __init__(self, spec: ThresholdSpec) -> None:
        super().__init__()
        if (spec.leave < spec.enter) if spec.below else (spec.leave > spec.enter):
            raise ValueError(f"{spec.name}: hysteresis must lie on the safe side of the threshold")
        self.spec = spec
        self.name = spec.name
        self.severity = spec.severity
        self.basis = spec.source
        self.metric = spec.metric
        self.metric_id = METRIC_ID[spec.metric]
        self.evidence_metrics = (self.metric_id,)
        self.threshold = (spec.metric, "low" if spec.below else "high")
        self.enter = np.empty(0)  # (capacity,) per-resident thresholds (a clinician may change them)
        self.leave = np.empty(0)
        self.persist = np.empty(0)
        self.episodes = Episodes(held=False)

    def grow(self, population: Population) -> None:
        super().grow(population)
        old, capacity = self.enter.shape[0], len(population)
        self.enter = grown(self.enter, capacity, self.spec.enter)
        self.leave = grown(self.leave, capacity, self.spec.leave)
        self.persist = grown(self.persist, capacity, self.spec.persist_s)
        self.episodes.grow(capacity)
        if self.spec.for_resident is not None:
            for position in range(old, capacity):  # registration, not the batch path
                self.set_thresholds(position, *self.spec.for_resident(population.residents[position]))

    def set_thresholds(self, position: int, enter: float, leave: float) -> None:
        self.enter[position], self.leave[position] = enter, leave

    def set_threshold(self, position: int, value: float | None) -> None:
        if value is None:
            spec = self.spec
            default = (spec.enter, spec.leave)
            if spec.for_resident is not None:
                default = spec.for_resident(self.population.residents[position])
            self.set_thresholds(position, *default)
            return
        gap = abs(self.spec.leave - self.spec.enter)  # keep the default hysteresis around the clinician's limit
        self.set_thresholds(position, value, value + gap if self.spec.below else value - gap)

    def parameters(self) -> dict[str, Parameter]:
        side = "below" if self.spec.below else "above"
        unit = METRIC_BY_NAME[self.metric].unit
        return {
            "enter": Parameter(self.enter, unit, f"the condition starts {side} this value"),
            "leave": Parameter(self.leave, unit, "it ends on the safe side of this value (hysteresis)"),
            "persist_s": Parameter(self.persist, "s", "it alerts once it has lasted this long"),
        }

    def evaluate(self, frame: Frame) -> Findings:
        res, ts, value = frame.readings.of_metric(self.metric_id)
        keep = fresh(res, ts, self.episodes.last_ts)
        res, ts, value = res[keep], ts[keep], value[keep]
        enter, leave = self.enter[res], self.leave[res]
        entered, left = (value < enter, value >= leave) if self.spec.below else (value > enter, value <= leave)
        if self.spec.at_rest:
            entered &= ts - latest_at(frame.exertion, res, ts) > RECOVERY_S
        gap = np.full(res.shape[0], self.spec.max_gap_s)
        step = self.episodes.advance(res, ts, codes(entered, left), self.persist[res], gap)
        return Findings.of(
            res[step.raised], step.raised_at, value[step.raised], step.raised_onset,
            cleared_resident=res[step.cleared], cleared_ts=ts[step.cleared],
        )  # fmt: skip

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        return positions[self.episodes.force(positions, onset)]

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        metric = METRIC_BY_NAME[self.metric]
        side = "below" if self.spec.below else "above"
        title = f"{metric.label} {value:g} {metric.unit}"
        text = (
            f"{metric.label} {side} {self.enter[position]:g} {metric.unit} for {minutes(at - onset)} "
            f"(alerts after {minutes(self.persist[position])}); latest {value:g} {metric.unit}."
        )
        return title, text

    def nbytes(self) -> int:
        return arrays_nbytes(self.enter, self.leave, self.persist) + self.episodes.nbytes()
