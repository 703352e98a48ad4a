"""What a rule is: dense per-resident state, evaluated for all residents at once on each committed batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from carewatch.model import Resident, Severity


@dataclass(frozen=True, slots=True)
class VitalsFrame:
    """One committed batch's plausible (non-artefact) readings of known residents, as arrays.

    resident: (n,) int64 position in the ResidentIndex; metric: (n,) int16 catalogue id (carewatch.catalog.METRIC_ID);
    ts: (n,) float64 epoch seconds; value: (n,) float64 in the metric's canonical unit. Any order.
    """

    resident: np.ndarray
    metric: np.ndarray
    ts: np.ndarray
    value: np.ndarray

    @classmethod
    def empty(cls) -> VitalsFrame:
        return cls(np.empty(0, np.int64), np.empty(0, np.int16), np.empty(0), np.empty(0))

    def latest(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(resident, metric, ts, value), each (k,): the newest reading of every (resident, metric) pair."""
        order = np.lexsort((self.ts, self.metric, self.resident))
        resident, metric = self.resident[order], self.metric[order]
        last = np.ones(len(order), bool)
        last[:-1] = (resident[1:] != resident[:-1]) | (metric[1:] != metric[:-1])
        return resident[last], metric[last], self.ts[order][last], self.value[order][last]


@dataclass(frozen=True, slots=True)
class Findings:
    """What a rule found in one batch: conditions that became alertable and conditions that cleared.

    raised_*: (k,) arrays: resident position, time the condition became alertable, the value then, and the
    condition's onset; cleared_*: (m,) arrays: resident position and time the condition cleared.
    """

    raised_resident: np.ndarray
    raised_ts: np.ndarray
    raised_value: np.ndarray
    raised_onset: np.ndarray
    cleared_resident: np.ndarray
    cleared_ts: np.ndarray


class Rule(Protocol):
    name: str
    severity: Severity
    metric: str | None  # the metric whose readings are the evidence of its alerts
    basis: str  # the published source of its defaults, shown with each alert

    def grow(self, capacity: int, residents: list[Resident]) -> None:
        """Make room for `capacity` residents; set per-resident parameters of new ones from their registry entry."""

    def evaluate(self, frame: VitalsFrame) -> Findings:
        """Advance the state of every resident in the frame and report what changed."""

    def mark_active(self, positions: np.ndarray, onset: np.ndarray) -> None:
        """These residents (k,) have a live alert of this rule since `onset` (k,) (loaded at start-up): the episode
        continues, it is not raised again."""

    def explain(self, value: float, onset: float, at: float, position: int) -> tuple[str, str]:
        """(title, explanation) for a raised condition, in words an operator understands."""
