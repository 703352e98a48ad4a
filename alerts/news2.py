"""NEWS2 (National Early Warning Score 2) for many residents at once, pure numpy.

Source: Royal College of Physicians. *National Early Warning Score (NEWS) 2: Standardising the
assessment of acute-illness severity in the NHS.* Updated report of a working party. London: RCP,
December 2017. Chart 1 ("The NEWS2 scoring system") gives the bands; Chart 2 ("NEWS2 thresholds
and triggers") the clinical-risk levels.

Rounding rule. The chart is written at a resolution of 1 (breaths/min, %, mmHg, beats/min) and
0.1 degC. A value between two chart rows (a wearable's 8.5 breaths/min, a thermometer's 35.05 degC)
is banded as if first rounded half up to that resolution: 8.5 -> 9, 35.05 -> 35.1, 35.049 -> 35.0.
No rounding arithmetic is done: the edge between two bands lies half a step below the upper band's
first chart value (8.5, 35.05, ...) and a value equal to an edge falls in the upper band, so the
decimal 35.05 compares equal to its edge exactly.

Every array in this module is 1-D with one entry per resident (or per reading set), shape ``(n,)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "CONSCIOUSNESS_POINTS",
    "HR",
    "OXYGEN_POINTS",
    "PARAMETERS",
    "RED_SCORE",
    "RESPONSE_TEXT",
    "RR",
    "SBP",
    "SPO2_SCALE1",
    "SPO2_SCALE2_AIR",
    "SPO2_SCALE2_OXYGEN",
    "TEMP",
    "Band",
    "BandTable",
    "News2Readings",
    "News2Scores",
    "Response",
    "band_points",
    "explain",
    "score_parameters",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Int8Array = npt.NDArray[np.int8]
Int16Array = npt.NDArray[np.int16]

_INF: Final = math.inf


@dataclass(frozen=True, slots=True)
class Band:
    """One chart row: values ``lower..upper`` (inclusive, at the table's resolution) score ``points``."""

    lower: float
    upper: float
    points: int


@dataclass(frozen=True, slots=True, eq=False)
class BandTable:
    """A parameter's chart rows in ascending order, compiled to edges for ``np.searchsorted``.

    ``decimals`` is the chart resolution (0 -> whole units, 1 -> tenths). ``edges`` has shape
    ``(len(bands) - 1,)`` and ``points`` shape ``(len(bands),)``; band ``k`` covers
    ``edges[k-1] <= x < edges[k]``.
    """

    name: str
    decimals: int
    bands: tuple[Band, ...]
    edges: FloatArray = field(init=False, repr=False)
    points: Int8Array = field(init=False, repr=False)

    def __post_init__(self) -> None:
        scale = 10**self.decimals
        open_ends = len(self.bands) >= 2 and self.bands[0].lower == -_INF and self.bands[-1].upper == _INF
        # Chart values in steps of the resolution; inner bands are finite on both sides.
        lowers = [round(b.lower * scale) for b in self.bands[1:]]
        uppers = [round(b.upper * scale) for b in self.bands[:-1]]
        contiguous = all(u + 1 == lo for u, lo in zip(uppers, lowers, strict=True))
        ascending = all(lo <= hi for lo, hi in zip(lowers[:-1], uppers[1:], strict=True))
        if not (open_ends and contiguous and ascending):
            raise ValueError(f"{self.name}: bands must be contiguous and ascending at 10**-{self.decimals}")
        # (k - 0.5) / scale is the correctly rounded double nearest the decimal half-step, e.g. 35.05.
        edges = np.array([(lo - 0.5) / scale for lo in lowers], dtype=np.float64)
        points = np.array([b.points for b in self.bands], dtype=np.int8)
        edges.setflags(write=False)
        points.setflags(write=False)
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "points", points)


# RCP 2017 Chart 1, "Respiration rate (per minute)": <=8 -> 3, 9-11 -> 1, 12-20 -> 0, 21-24 -> 2, >=25 -> 3.
RR: Final = BandTable("RR", 0, (Band(-_INF, 8, 3), Band(9, 11, 1), Band(12, 20, 0), Band(21, 24, 2), Band(25, _INF, 3)))
# Chart 1, "SpO2 Scale 1 (%)": <=91 -> 3, 92-93 -> 2, 94-95 -> 1, >=96 -> 0 (same on air or oxygen).
SPO2_SCALE1: Final = BandTable(
    "SpO2 scale 1", 0, (Band(-_INF, 91, 3), Band(92, 93, 2), Band(94, 95, 1), Band(96, _INF, 0))
)
# Chart 1, "SpO2 Scale 2 (%)", on air: <=83 -> 3, 84-85 -> 2, 86-87 -> 1, 88-92 and ">=93 on air" -> 0.
SPO2_SCALE2_AIR: Final = BandTable(
    "SpO2 scale 2 (air)", 0, (Band(-_INF, 83, 3), Band(84, 85, 2), Band(86, 87, 1), Band(88, _INF, 0))
)
# Chart 1, "SpO2 Scale 2 (%)", on oxygen: as on air up to 88-92 -> 0, then 93-94 -> 1, 95-96 -> 2, >=97 -> 3.
SPO2_SCALE2_OXYGEN: Final = BandTable(
    "SpO2 scale 2 (oxygen)",
    0,
    (
        Band(-_INF, 83, 3),
        Band(84, 85, 2),
        Band(86, 87, 1),
        Band(88, 92, 0),
        Band(93, 94, 1),
        Band(95, 96, 2),
        Band(97, _INF, 3),
    ),
)
# Chart 1, "Systolic blood pressure (mmHg)": <=90 -> 3, 91-100 -> 2, 101-110 -> 1, 111-219 -> 0, >=220 -> 3.
SBP: Final = BandTable(
    "SBP", 0, (Band(-_INF, 90, 3), Band(91, 100, 2), Band(101, 110, 1), Band(111, 219, 0), Band(220, _INF, 3))
)
# Chart 1, "Pulse (per minute)": <=40 -> 3, 41-50 -> 1, 51-90 -> 0, 91-110 -> 1, 111-130 -> 2, >=131 -> 3.
HR: Final = BandTable(
    "HR",
    0,
    (
        Band(-_INF, 40, 3),
        Band(41, 50, 1),
        Band(51, 90, 0),
        Band(91, 110, 1),
        Band(111, 130, 2),
        Band(131, _INF, 3),
    ),
)
# Chart 1, "Temperature (degC)": <=35.0 -> 3, 35.1-36.0 -> 1, 36.1-38.0 -> 0, 38.1-39.0 -> 1, >=39.1 -> 2.
TEMP: Final = BandTable(
    "temp",
    1,
    (
        Band(-_INF, 35.0, 3),
        Band(35.1, 36.0, 1),
        Band(36.1, 38.0, 0),
        Band(38.1, 39.0, 1),
        Band(39.1, _INF, 2),
    ),
)
# Chart 1, "Air or oxygen?": air -> 0, oxygen -> 2.
OXYGEN_POINTS: Final = 2
# Chart 1, "Consciousness": alert -> 0; new confusion (C), responds only to voice or pain, or
# unresponsive (VPU) -> 3.
CONSCIOUSNESS_POINTS: Final = 3
# Chart 2: "red score", a score of 3 in any single parameter.
RED_SCORE: Final = 3

# Column order of ``News2Scores.missing`` and of ``explain``.
PARAMETERS: Final = ("rr", "spo2", "air_or_oxygen", "sbp", "hr", "consciousness", "temp")


class Response(IntEnum):
    """RCP 2017 Chart 2 clinical-risk levels, ordered so that the larger level wins."""

    LOW = 0  # aggregate 0-4 and no single parameter scoring 3
    LOW_MEDIUM = 1  # a "red score": 3 in any single parameter, aggregate 0-4
    MEDIUM = 2  # aggregate 5-6: key threshold for urgent response
    HIGH = 3  # aggregate >= 7: urgent or emergency response


RESPONSE_TEXT: Final = {
    Response.LOW: "low risk: ward-based response",
    Response.LOW_MEDIUM: "low-medium risk (red score): urgent ward-based response",
    Response.MEDIUM: "medium risk: urgent response",
    Response.HIGH: "high risk: emergency response",
}

# Chart 2 aggregate thresholds: totals >= 5 are MEDIUM, >= 7 are HIGH.
_TOTAL_EDGES: Final = np.array([5, 7], dtype=np.int16)
_TOTAL_LEVELS: Final = np.array([Response.LOW, Response.MEDIUM, Response.HIGH], dtype=np.int8)


@dataclass(frozen=True, slots=True, eq=False)
class News2Readings:
    """Validated inputs, all shape ``(n,)``: measurements float64 (NaN = missing), flags bool.

    ``confused`` is float64: 1 = new confusion/V/P/U, 0 = alert, NaN = not assessed.
    """

    rr: FloatArray
    spo2: FloatArray
    spo2_scale2: BoolArray
    on_oxygen: BoolArray
    sbp: FloatArray
    hr: FloatArray
    confused: FloatArray
    temp: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class News2Scores:
    """Per-parameter points ``(n,)`` int8 (missing -> 0), and the aggregate.

    ``total`` (n,) int16; ``max_single`` (n,) int8; ``n_missing`` (n,) int8; ``response`` (n,) int8
    holding ``Response`` values; ``missing`` (n, len(PARAMETERS)) bool in ``PARAMETERS`` order;
    ``readings`` the validated inputs (for ``explain``).
    """

    rr: Int8Array
    spo2: Int8Array
    air_or_oxygen: Int8Array
    sbp: Int8Array
    hr: Int8Array
    consciousness: Int8Array
    temp: Int8Array
    total: Int16Array
    max_single: Int8Array
    n_missing: Int8Array
    response: Int8Array
    missing: BoolArray
    readings: News2Readings


def band_points(table: BandTable, values: FloatArray) -> Int8Array:
    """Points for ``values`` (n,) float64 under ``table``: (n,) int8, NaN -> 0."""
    idx = np.searchsorted(table.edges, values, side="right")
    return np.where(np.isnan(values), np.int8(0), table.points[idx]).astype(np.int8)


def _measure(name: str, x: npt.ArrayLike) -> FloatArray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D with shape (n,), got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name} must be a float or integer array (NaN = missing), got dtype {a.dtype}")
    out = a.astype(np.float64)
    bad = np.isinf(out).nonzero()[0]
    if bad.size:
        raise ValueError(f"{name} is infinite at index {int(bad[0])}; use NaN for a missing value")
    return out


def _flag(name: str, x: npt.ArrayLike) -> BoolArray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D with shape (n,), got shape {a.shape}")
    if a.dtype != np.bool_:
        raise ValueError(f"{name} must be a bool array, got dtype {a.dtype}")
    return a.copy()


def _consciousness(x: npt.ArrayLike) -> FloatArray:
    a = np.asarray(x)
    if a.dtype == np.bool_:
        return _measure("confused", a.astype(np.float64))
    out = _measure("confused", a)
    bad = (~(np.isnan(out) | (out == 0) | (out == 1))).nonzero()[0]
    if bad.size:
        raise ValueError(f"confused must be bool, or 0/1 with NaN = not assessed; index {int(bad[0])} is {out[bad[0]]}")
    return out


def _readings(
    rr: npt.ArrayLike,
    spo2: npt.ArrayLike,
    spo2_scale2: npt.ArrayLike,
    on_oxygen: npt.ArrayLike,
    sbp: npt.ArrayLike,
    hr: npt.ArrayLike,
    confused: npt.ArrayLike,
    temp: npt.ArrayLike,
) -> News2Readings:
    r = News2Readings(
        rr=_measure("rr", rr),
        spo2=_measure("spo2", spo2),
        spo2_scale2=_flag("spo2_scale2", spo2_scale2),
        on_oxygen=_flag("on_oxygen", on_oxygen),
        sbp=_measure("sbp", sbp),
        hr=_measure("hr", hr),
        confused=_consciousness(confused),
        temp=_measure("temp", temp),
    )
    arrays: dict[str, npt.NDArray[np.generic]] = {f.name: getattr(r, f.name) for f in fields(r)}
    if len({a.shape for a in arrays.values()}) > 1:
        detail = ", ".join(f"{name}={a.shape[0]}" for name, a in arrays.items())
        raise ValueError(f"all inputs must have the same length n, got {detail}")
    for a in arrays.values():
        a.setflags(write=False)
    return r


def _spo2_points(r: News2Readings) -> Int8Array:
    """SpO2 points (n,) int8: scale 1, or scale 2 for marked residents (its top depends on oxygen)."""
    scale2 = np.where(r.on_oxygen, band_points(SPO2_SCALE2_OXYGEN, r.spo2), band_points(SPO2_SCALE2_AIR, r.spo2))
    return np.where(r.spo2_scale2, scale2, band_points(SPO2_SCALE1, r.spo2)).astype(np.int8)


def _response(total: Int16Array, max_single: Int8Array) -> Int8Array:
    """Chart 2 level (n,) int8: the aggregate's level, raised to LOW_MEDIUM by any single red score."""
    by_total = _TOTAL_LEVELS[np.searchsorted(_TOTAL_EDGES, total, side="right")]
    red = np.where(max_single >= RED_SCORE, np.int8(Response.LOW_MEDIUM), np.int8(Response.LOW))
    return np.maximum(by_total, red).astype(np.int8)


def score_parameters(
    rr: npt.ArrayLike,
    spo2: npt.ArrayLike,
    spo2_scale2: npt.ArrayLike,
    on_oxygen: npt.ArrayLike,
    sbp: npt.ArrayLike,
    hr: npt.ArrayLike,
    confused: npt.ArrayLike,
    temp: npt.ArrayLike,
) -> News2Scores:
    """Score NEWS2 for ``n`` reading sets; every argument has shape ``(n,)``.

    ``rr`` breaths/min, ``spo2`` %, ``sbp`` mmHg, ``hr`` beats/min, ``temp`` degC: float or integer,
    NaN = missing (scores 0, counted in ``n_missing``); see the module docstring for the rounding rule.
    ``spo2_scale2`` bool: a clinician has marked the resident for SpO2 scale 2 (confirmed hypercapnic
    respiratory failure). ``on_oxygen`` bool: on supplemental oxygen. ``confused`` bool, or float 0/1
    with NaN = not assessed: *new* confusion, or responds only to voice or pain, or unresponsive
    (long-standing dementia is not new confusion).

    Raises ``ValueError`` unless every argument is 1-D, all have one length, and none is infinite.
    """
    r = _readings(rr, spo2, spo2_scale2, on_oxygen, sbp, hr, confused, temp)
    on_air_or_oxygen_is_always_known = np.zeros(r.rr.shape, dtype=np.bool_)
    missing = np.stack(
        [
            np.isnan(r.rr),
            np.isnan(r.spo2),
            on_air_or_oxygen_is_always_known,
            np.isnan(r.sbp),
            np.isnan(r.hr),
            np.isnan(r.confused),
            np.isnan(r.temp),
        ],
        axis=1,
    )  # (n, len(PARAMETERS)) bool
    points = np.stack(
        [
            band_points(RR, r.rr),
            _spo2_points(r),
            np.where(r.on_oxygen, OXYGEN_POINTS, 0).astype(np.int8),
            band_points(SBP, r.sbp),
            band_points(HR, r.hr),
            np.where(r.confused == 1, CONSCIOUSNESS_POINTS, 0).astype(np.int8),
            band_points(TEMP, r.temp),
        ]
    )  # (len(PARAMETERS), n) int8: one contiguous row per parameter
    total = points.sum(axis=0, dtype=np.int16)
    max_single = points.max(axis=0).astype(np.int8)
    n_missing = missing.sum(axis=1, dtype=np.int8)
    response = _response(total, max_single)
    for a in (points, total, max_single, n_missing, response, missing):
        a.setflags(write=False)
    return News2Scores(
        rr=points[0],
        spo2=points[1],
        air_or_oxygen=points[2],
        sbp=points[3],
        hr=points[4],
        consciousness=points[5],
        temp=points[6],
        total=total,
        max_single=max_single,
        n_missing=n_missing,
        response=response,
        missing=missing,
        readings=r,
    )


def _value(label: str, value: float, points: int, unit: str = "") -> str:
    if math.isnan(value):
        return f"{label} missing"
    return f"{label} {value:g}{unit} -> {points}"


def explain(scores: News2Scores, i: int) -> str:
    """Resident ``i``'s score in words: ``"NEWS2 7 (RR 25 -> 3, ...): high risk: emergency response"``."""
    n = scores.total.shape[0]
    if not -n <= i < n:
        raise IndexError(f"resident index {i} out of range for {n} scored reading sets")
    r = scores.readings
    scale = 2 if r.spo2_scale2[i] else 1
    confused = float(r.confused[i])
    if math.isnan(confused):
        conscious = "consciousness missing"
    else:
        state = "new confusion/V/P/U" if confused == 1 else "alert"
        conscious = f"{state} -> {scores.consciousness[i]}"
    parts = [
        _value("RR", float(r.rr[i]), int(scores.rr[i])),
        _value(f"SpO2 (scale {scale})", float(r.spo2[i]), int(scores.spo2[i]), "%"),
        f"{'oxygen' if r.on_oxygen[i] else 'air'} -> {scores.air_or_oxygen[i]}",
        _value("SBP", float(r.sbp[i]), int(scores.sbp[i])),
        _value("HR", float(r.hr[i]), int(scores.hr[i])),
        conscious,
        _value("temp", float(r.temp[i]), int(scores.temp[i])),
    ]
    text = f"NEWS2 {scores.total[i]} ({', '.join(parts)}): {RESPONSE_TEXT[Response(int(scores.response[i]))]}"
    n_missing = int(scores.n_missing[i])
    if n_missing:
        text += f"; incomplete, {n_missing} of {len(PARAMETERS)} parameters missing"
    return text
