"""Sustained-threshold rules with hysteresis and persistence, e.g. "SpO2 below 90 % for 60 s".

A condition *enters* when a reading crosses `enter`, stays while readings remain on the wrong side of `leave`
(hysteresis: values between the two keep the previous state), and becomes alertable once it has lasted `persist_s`.
A gap longer than `max_gap_s` between readings restarts it (no "sustained" across a device that was off).
Everything is evaluated for all residents at once: no Python loop over readings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from alerts.rules.base import Findings, VitalsFrame
from carewatch.catalog import METRIC_BY_NAME, METRIC_ID
from carewatch.model import Resident, Severity

HOLD = -1  # a reading between `enter` and `leave`: the condition keeps its previous state


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


class ThresholdRule:
    def __init__(self, spec: ThresholdSpec) -> None:
        if (spec.leave < spec.enter) if spec.below else (spec.leave > spec.enter):
            raise ValueError(f"{spec.name}: hysteresis must lie on the safe side of the threshold")
        self.spec = spec
        self.name = spec.name
        self.severity = spec.severity
        self.metric: str | None = spec.metric
        self.basis = spec.source
        self._metric_id = METRIC_ID[spec.metric]
        self.enter = np.empty(0)  # (capacity,) per-resident thresholds (a clinician may change them)
        self.leave = np.empty(0)
        self.last_ts = np.empty(0)  # (capacity,) newest reading evaluated; older ones are ignored
        self.inside = np.empty(0, bool)  # (capacity,) condition present after the last reading
        self.onset = np.empty(0)  # (capacity,) when the present condition began (NaN if none)
        self.active = np.empty(0, bool)  # (capacity,) alertable (an alert was raised for this episode)

    def grow(self, capacity: int, residents: list[Resident]) -> None:
        old = len(self.last_ts)
        if capacity > old:
            extra = capacity - old
            self.enter = np.concatenate([self.enter, np.full(extra, self.spec.enter)])
            self.leave = np.concatenate([self.leave, np.full(extra, self.spec.leave)])
            self.last_ts = np.concatenate([self.last_ts, np.full(extra, -np.inf)])
            self.inside = np.concatenate([self.inside, np.zeros(extra, bool)])
            self.onset = np.concatenate([self.onset, np.full(extra, np.nan)])
            self.active = np.concatenate([self.active, np.zeros(extra, bool)])
        if self.spec.for_resident is not None:
            for position in range(old, min(capacity, len(residents))):
                self.set_thresholds(position, *self.spec.for_resident(residents[position]))

    def set_thresholds(self, position: int, enter: float, leave: float) -> None:
        self.enter[position], self.leave[position] = enter, leave

    def mark_active(self, positions: np.ndarray, onset: np.ndarray) -> None:
        self.active[positions] = True
        self.inside[positions] = True
        self.onset[positions] = onset

    def evaluate(self, frame: VitalsFrame) -> Findings:
        res, ts, value = self._fresh_sorted(frame)
        n = len(res)
        index = np.arange(n)
        first = np.ones(n, bool)
        first[1:] = res[1:] != res[:-1]

        # Hysteresis: 1 in, 0 out, HOLD keeps the previous reading's state (or the stored one at a resident's first).
        enter, leave = self.enter[res], self.leave[res]
        entered, left = (value < enter, value >= leave) if self.spec.below else (value > enter, value <= leave)
        code = np.where(entered, 1, np.where(left, 0, HOLD))
        code = np.where(first & (code == HOLD), self.inside[res].astype(code.dtype), code)
        inside = code[np.maximum.accumulate(np.where(code != HOLD, index, 0))] == 1

        prev_ts = _previous(ts, first, self.last_ts[res])
        prev_inside = _previous(inside, first, self.inside[res])
        gap = np.isfinite(prev_ts) & (ts - prev_ts > self.spec.max_gap_s)
        restarted = inside & (~prev_inside | gap)
        carried = inside & first & ~restarted  # an episode continuing from an earlier batch
        episode_start = np.maximum.accumulate(np.where(restarted | carried, index, 0))
        onset = np.where(inside, np.where(carried, self.onset[res], ts)[episode_start], np.nan)
        was_active = (carried & self.active[res])[episode_start]  # alerted already, in an earlier batch

        active = inside & ((ts - onset >= self.spec.persist_s) | was_active)
        prev_active = _previous(active, first, self.active[res])
        raised = active & ~prev_active
        cleared = ~active & prev_active

        last = np.ones(n, bool)
        last[:-1] = first[1:]
        r = res[last]
        self.last_ts[r], self.inside[r], self.onset[r], self.active[r] = (
            ts[last],
            inside[last],
            onset[last],
            active[last],
        )
        return Findings(res[raised], ts[raised], value[raised], onset[raised], res[cleared], ts[cleared])

    def _fresh_sorted(self, frame: VitalsFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This rule's readings sorted by (resident, time), without repeats and without readings older than
        what was already evaluated: the order of readings in a batch, and duplicated readings, change nothing."""
        mine = frame.metric == self._metric_id
        res, ts, value = frame.resident[mine], frame.ts[mine], frame.value[mine]
        order = np.lexsort((value, ts, res))
        res, ts, value = res[order], ts[order], value[order]
        repeat = np.zeros(len(res), bool)
        repeat[1:] = (res[1:] == res[:-1]) & (ts[1:] == ts[:-1])
        keep = ~repeat & (ts > self.last_ts[res])
        return res[keep], ts[keep], value[keep]

    def explain(self, value: float, onset: float, at: float, position: int) -> tuple[str, str]:
        metric = METRIC_BY_NAME[self.spec.metric]
        side = "below" if self.spec.below else "above"
        title = f"{metric.label} {value:g} {metric.unit}"
        text = (
            f"{metric.label} {side} {self.enter[position]:g} {metric.unit} for {at - onset:.0f} s "
            f"(alerts after {self.spec.persist_s:g} s); latest {value:g} {metric.unit}."
        )
        return title, text


def _previous(values: np.ndarray, first: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """values shifted by one within each resident's run; a resident's first takes its stored state."""
    shifted = np.empty_like(values)
    shifted[1:] = values[:-1]
    shifted[first] = stored[first]
    return shifted
