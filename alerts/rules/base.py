"""What a rule is: dense per-resident state, evaluated for all residents at once on each committed batch (and, for
conditions that time alone can make true, on each tick of the clock)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from alerts._arrays import FloatArray, IntArray
from alerts.frame import Frame
from alerts.residents import Population
from carewatch.catalog import METRICS
from carewatch.model import Severity
from carewatch.storage.base import Threshold


@dataclass(frozen=True, slots=True)
class Findings:
    """What a rule found: conditions that became alertable and conditions that cleared.

    raised_*: (k,) resident position, time the condition became alertable, the value then, the condition's onset,
    and ``raised_detail`` (k, d) rule-specific numbers for the explanation; cleared_*: (m,) resident position and
    time the condition cleared.
    """

    raised_resident: IntArray
    raised_ts: FloatArray
    raised_value: FloatArray
    raised_onset: FloatArray
    raised_detail: FloatArray
    cleared_resident: IntArray
    cleared_ts: FloatArray

    @classmethod
    def of(
        cls,
        raised_resident: np.ndarray | None = None,
        raised_ts: np.ndarray | None = None,
        raised_value: np.ndarray | None = None,
        raised_onset: np.ndarray | None = None,
        raised_detail: np.ndarray | None = None,
        cleared_resident: np.ndarray | None = None,
        cleared_ts: np.ndarray | None = None,
    ) -> Findings:
        """Findings with absent parts empty; value, onset and detail default to NaN, the raise time, no columns."""
        res = np.empty(0, np.int64) if raised_resident is None else np.asarray(raised_resident, np.int64)
        k = res.shape[0]
        at = np.empty(0) if raised_ts is None else np.asarray(raised_ts, np.float64)
        value = np.full(k, np.nan) if raised_value is None else np.asarray(raised_value, np.float64)
        onset = at.copy() if raised_onset is None else np.asarray(raised_onset, np.float64)
        if raised_detail is None:
            detail = np.empty((k, 0))
        else:
            detail = np.asarray(raised_detail, np.float64)
            detail = detail.reshape(k, 1) if detail.ndim == 1 else detail
        cleared = np.empty(0, np.int64) if cleared_resident is None else np.asarray(cleared_resident, np.int64)
        cleared_at = np.empty(0) if cleared_ts is None else np.asarray(cleared_ts, np.float64)
        return cls(res, at, value, onset, detail, cleared, cleared_at)

    @classmethod
    def none(cls) -> Findings:
        return cls.of()

    def __len__(self) -> int:
        return int(self.raised_resident.shape[0] + self.cleared_resident.shape[0])


@dataclass(frozen=True, slots=True)
class Parameter:
    """A per-resident (or per-device) setting a clinician or an administrator may change. ``values`` is the rule's
    own array (capacity,): writing to it changes the rule."""

    values: np.ndarray
    unit: str
    about: str
    per_device: bool = False


class Rule:
    """A family of alert rules; each instance is one registry entry with its own state.

    Subclasses set ``name``, ``severity``, ``basis`` (the published source of the defaults), ``clears`` (False:
    the alert stays until an operator resolves it), the evidence (catalogue ids of the metrics and event kinds whose
    rows back an alert) and, for rules a clinician's per-resident limit overrides, ``threshold`` = (metric, side).
    """

    name: str
    severity: Severity
    basis: str
    clears: bool = True
    evidence_metrics: tuple[int, ...] = ()
    evidence_kinds: tuple[int, ...] = ()
    threshold: tuple[str, str] | None = None  # (metric, "low" | "high") of carewatch.storage.base.Threshold
    bed_limits = False  # True: the rule takes a clinician's limit for the time in bed too (ThresholdContext.IN_BED)
    detail_names: tuple[str, ...] = ()  # the columns of Findings.raised_detail, shown as facts with an alert

    def __init__(self) -> None:
        self.population = Population()
        # The clinicians' limits in force by (position, in_bed), for rules with ``threshold``: who set each, when, why
        self.documented: dict[tuple[int, bool], Threshold] = {}

    def grow(self, population: Population) -> None:
        """Make room for every resident and device of ``population`` (positions never change); set the parameters
        of new ones from their registry entries."""
        self.population = population

    def evaluate(self, frame: Frame) -> Findings:
        """Advance the state of every resident in the frame and report what changed."""
        raise NotImplementedError

    def tick(self, now: float) -> Findings:
        """Conditions that time alone made alertable by ``now`` (a device gone quiet, a bathroom still occupied)."""
        return Findings.none()

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        """These residents (k,) have a live alert of this rule since ``onset`` (k,), loaded at start-up after the
        replay of recent data: the episode continues and is not raised again. Returns the positions whose replayed
        data shows the condition ended after the alert opened (the engine reports them cleared)."""
        return np.empty(0, np.int64)

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        """(title, explanation) for a raised condition, in words an operator understands."""
        raise NotImplementedError

    def parameters(self) -> dict[str, Parameter]:
        """The settable per-resident (or per-device) parameters, by name."""
        return {}

    def primary_metric(self, detail: FloatArray) -> str | None:
        """The metric whose readings are an alert's main evidence (None: several, or none)."""
        return METRICS[self.evidence_metrics[0]].name if len(self.evidence_metrics) == 1 else None

    def evidence_device(self, detail: FloatArray) -> int | None:
        """The device (position) whose own readings are an alert's evidence, for a per-device condition; None: the
        resident's readings are."""
        return None

    def basis_of(self, position: int, detail: FloatArray) -> str:
        """The basis of one raised condition: the published source of the defaults, unless a limit of the
        resident's own replaced them."""
        return self.basis

    def facts(self, position: int, detail: FloatArray) -> dict[str, Any]:
        """The numbers behind a raised condition, by name, for its evidence."""
        return {
            n: (float(v) if np.isfinite(v) else None) for n, v in zip(self.detail_names, detail.tolist(), strict=False)
        }

    def set_threshold(self, position: int, value: float | None, in_bed: bool = False) -> None:
        """A clinician's limit on ``threshold``'s side for this resident (None: back to the default); ``in_bed``: the
        limit for the time in bed (None: none, the other applies in bed too), for rules with ``bed_limits``."""

    def nbytes(self) -> int:
        """Bytes of state (parameters included)."""
        return 0


def arrays_nbytes(*arrays: np.ndarray) -> int:
    return sum(a.nbytes for a in arrays)


def minutes(seconds: float) -> str:
    """A duration as an operator reads it: 45 s, 12 min, 2 h 5 min."""
    if not np.isfinite(seconds):
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
