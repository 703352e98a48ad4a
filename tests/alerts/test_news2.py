"""NEWS2 scoring against the RCP 2017 chart, written out here independently of ``alerts.news2``.

Every expected value below is copied from the Royal College of Physicians' NEWS2 Chart 1 (scoring) and
Chart 2 (thresholds and triggers), never computed by the code under test. A value between two chart rows
is expected to be banded after rounding half up to the chart's resolution (1 unit; 0.1 degC).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import numpy.typing as npt
import pytest

from alerts.news2 import (
    PARAMETERS,
    Band,
    BandTable,
    News2Scores,
    Response,
    explain,
    score_parameters,
)

NAN = math.nan


@dataclass(frozen=True)
class Row:
    """One resident's reading set; the defaults score 0 on every parameter."""

    rr: float = 16
    spo2: float = 98
    spo2_scale2: bool = False
    on_oxygen: bool = False
    sbp: float = 120
    hr: float = 70
    confused: bool | float = False
    temp: float = 37.0


NEUTRAL = Row()


def score_rows(rows: list[Row]) -> News2Scores:
    return score_parameters(
        rr=np.array([r.rr for r in rows], dtype=np.float64),
        spo2=np.array([r.spo2 for r in rows], dtype=np.float64),
        spo2_scale2=np.array([r.spo2_scale2 for r in rows], dtype=np.bool_),
        on_oxygen=np.array([r.on_oxygen for r in rows], dtype=np.bool_),
        sbp=np.array([r.sbp for r in rows], dtype=np.float64),
        hr=np.array([r.hr for r in rows], dtype=np.float64),
        confused=np.array([float(r.confused) for r in rows], dtype=np.float64),
        temp=np.array([r.temp for r in rows], dtype=np.float64),
    )


def score_one(row: Row) -> News2Scores:
    return score_rows([row])


POINT_FIELDS = ("rr", "spo2", "air_or_oxygen", "sbp", "hr", "consciousness", "temp")
RESULT_FIELDS = (*POINT_FIELDS, "total", "max_single", "n_missing", "response", "missing")


def assert_same_scores(a: News2Scores, b: News2Scores) -> None:
    for name in RESULT_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


# ---------------------------------------------------------------------------------------------------------
# Chart 1, parameter by parameter: (value, expected points), both sides of every edge.

RR_CASES = [
    (0, 3), (5, 3), (8, 3), (8.4, 3), (8.49, 3),
    (8.5, 1), (9, 1), (11, 1), (11.49, 1),
    (11.5, 0), (12, 0), (20, 0), (20.49, 0),
    (20.5, 2), (21, 2), (24, 2), (24.49, 2),
    (24.5, 3), (25, 3), (40, 3),
]  # fmt: skip

SPO2_SCALE1_CASES = [
    (70, 3), (91, 3), (91.49, 3),
    (91.5, 2), (92, 2), (93, 2), (93.49, 2),
    (93.5, 1), (94, 1), (95, 1), (95.49, 1),
    (95.5, 0), (96, 0), (100, 0),
]  # fmt: skip

# (SpO2, points on air, points on oxygen)
SPO2_SCALE2_CASES = [
    (70, 3, 3), (83, 3, 3), (83.49, 3, 3),
    (83.5, 2, 2), (84, 2, 2), (85, 2, 2), (85.49, 2, 2),
    (85.5, 1, 1), (86, 1, 1), (87, 1, 1), (87.49, 1, 1),
    (87.5, 0, 0), (88, 0, 0), (92, 0, 0), (92.49, 0, 0),
    (92.5, 0, 1), (93, 0, 1), (94, 0, 1), (94.49, 0, 1),
    (94.5, 0, 2), (95, 0, 2), (96, 0, 2), (96.49, 0, 2),
    (96.5, 0, 3), (97, 0, 3), (100, 0, 3),
]  # fmt: skip

SBP_CASES = [
    (60, 3), (90, 3), (90.49, 3),
    (90.5, 2), (91, 2), (100, 2), (100.49, 2),
    (100.5, 1), (101, 1), (110, 1), (110.49, 1),
    (110.5, 0), (111, 0), (219, 0), (219.49, 0),
    (219.5, 3), (220, 3), (260, 3),
]  # fmt: skip

HR_CASES = [
    (25, 3), (40, 3), (40.49, 3),
    (40.5, 1), (41, 1), (50, 1), (50.49, 1),
    (50.5, 0), (51, 0), (90, 0), (90.49, 0),
    (90.5, 1), (91, 1), (110, 1), (110.49, 1),
    (110.5, 2), (111, 2), (130, 2), (130.49, 2),
    (130.5, 3), (131, 3), (180, 3),
]  # fmt: skip

TEMP_CASES = [
    (33.0, 3), (35.0, 3), (35.04, 3), (35.049, 3),
    (35.05, 1), (35.1, 1), (36.0, 1), (36.04, 1),
    (36.05, 0), (36.1, 0), (38.0, 0), (38.04, 0),
    (38.05, 1), (38.1, 1), (39.0, 1), (39.04, 1),
    (39.05, 2), (39.1, 2), (41.5, 2),
]  # fmt: skip


@pytest.mark.parametrize(("value", "points"), RR_CASES)
def test_respiration_rate_bands(value: float, points: int) -> None:
    s = score_one(replace(NEUTRAL, rr=value))
    assert (s.rr[0], s.total[0]) == (points, points)


@pytest.mark.parametrize("on_oxygen", [False, True], ids=["air", "oxygen"])
@pytest.mark.parametrize(("value", "points"), SPO2_SCALE1_CASES)
def test_spo2_scale1_bands_same_on_air_and_oxygen(value: float, points: int, on_oxygen: bool) -> None:
    s = score_one(replace(NEUTRAL, spo2=value, on_oxygen=on_oxygen))
    oxygen_points = 2 if on_oxygen else 0
    assert (s.spo2[0], s.air_or_oxygen[0], s.total[0]) == (points, oxygen_points, points + oxygen_points)


@pytest.mark.parametrize(("value", "on_air", "on_oxygen"), SPO2_SCALE2_CASES)
def test_spo2_scale2_bands_on_air(value: float, on_air: int, on_oxygen: int) -> None:
    s = score_one(replace(NEUTRAL, spo2=value, spo2_scale2=True, on_oxygen=False))
    assert (s.spo2[0], s.air_or_oxygen[0], s.total[0]) == (on_air, 0, on_air)


@pytest.mark.parametrize(("value", "on_air", "on_oxygen"), SPO2_SCALE2_CASES)
def test_spo2_scale2_bands_on_oxygen(value: float, on_air: int, on_oxygen: int) -> None:
    s = score_one(replace(NEUTRAL, spo2=value, spo2_scale2=True, on_oxygen=True))
    assert (s.spo2[0], s.air_or_oxygen[0], s.total[0]) == (on_oxygen, 2, on_oxygen + 2)


@pytest.mark.parametrize(("value", "points"), SBP_CASES)
def test_systolic_bp_bands(value: float, points: int) -> None:
    s = score_one(replace(NEUTRAL, sbp=value))
    assert (s.sbp[0], s.total[0]) == (points, points)


@pytest.mark.parametrize(("value", "points"), HR_CASES)
def test_pulse_bands(value: float, points: int) -> None:
    s = score_one(replace(NEUTRAL, hr=value))
    assert (s.hr[0], s.total[0]) == (points, points)


@pytest.mark.parametrize(("value", "points"), TEMP_CASES)
def test_temperature_bands(value: float, points: int) -> None:
    s = score_one(replace(NEUTRAL, temp=value))
    assert (s.temp[0], s.total[0]) == (points, points)


@pytest.mark.parametrize(("on_oxygen", "points"), [(False, 0), (True, 2)])
def test_air_or_oxygen(on_oxygen: bool, points: int) -> None:
    s = score_one(replace(NEUTRAL, on_oxygen=on_oxygen))
    assert (s.air_or_oxygen[0], s.total[0]) == (points, points)


@pytest.mark.parametrize(
    ("confused", "points", "n_missing"),
    [(False, 0, 0), (True, 3, 0), (0.0, 0, 0), (1.0, 3, 0), (NAN, 0, 1)],
    ids=["alert", "cvpu", "alert-float", "cvpu-float", "not-assessed"],
)
def test_consciousness(confused: bool | float, points: int, n_missing: int) -> None:
    s = score_one(replace(NEUTRAL, confused=confused))
    assert (s.consciousness[0], s.total[0], s.n_missing[0]) == (points, points, n_missing)


def test_bool_consciousness_array_is_accepted() -> None:
    one = np.ones(2)
    s = score_parameters(
        16 * one, 98 * one, [False, False], [False, False], 120 * one, 70 * one, [False, True], 37 * one
    )
    np.testing.assert_array_equal(s.consciousness, [0, 3])


def test_integer_inputs_score_like_floats() -> None:
    ints = score_parameters(
        np.array([8, 25], dtype=np.int64),
        np.array([91, 97], dtype=np.int32),
        np.array([False, True]),
        np.array([False, True]),
        np.array([90, 220], dtype=np.int16),
        np.array([40, 131], dtype=np.int64),
        np.array([False, False]),
        np.array([35, 40], dtype=np.int64),
    )
    np.testing.assert_array_equal(ints.rr, [3, 3])
    np.testing.assert_array_equal(ints.spo2, [3, 3])
    np.testing.assert_array_equal(ints.sbp, [3, 3])
    np.testing.assert_array_equal(ints.hr, [3, 3])
    np.testing.assert_array_equal(ints.temp, [3, 2])


# ---------------------------------------------------------------------------------------------------------
# Chart 2: aggregate and clinical-risk level. (row, total, max_single, response)

AGGREGATE_CASES = [
    pytest.param(NEUTRAL, 0, 0, 0, id="all-normal"),
    pytest.param(Row(rr=22, hr=95, temp=38.5), 4, 2, 0, id="total-4-low"),
    pytest.param(Row(rr=22, hr=95, temp=38.5, sbp=105), 5, 2, 2, id="total-5-medium"),
    pytest.param(Row(rr=22, sbp=95, hr=95, temp=38.5), 6, 2, 2, id="total-6-medium"),
    pytest.param(Row(rr=22, sbp=95, hr=115, temp=38.5), 7, 2, 3, id="total-7-high"),
    pytest.param(Row(confused=True), 3, 3, 1, id="single-3-confusion"),
    pytest.param(Row(rr=30, hr=95), 4, 3, 1, id="single-3-total-4"),
    pytest.param(Row(rr=30, sbp=95), 5, 3, 2, id="single-3-total-5-medium"),
    pytest.param(Row(sbp=85, hr=35, temp=38.5), 7, 3, 3, id="two-3s-total-7-high"),
    pytest.param(Row(on_oxygen=True, spo2=93), 4, 2, 0, id="oxygen-2-is-not-red"),
    pytest.param(Row(spo2_scale2=True, on_oxygen=True, spo2=97), 5, 3, 2, id="scale2-oxygen-97"),
    pytest.param(Row(spo2_scale2=True, on_oxygen=False, spo2=97), 0, 0, 0, id="scale2-air-97"),
    pytest.param(Row(spo2_scale2=True, on_oxygen=True, spo2=90), 2, 2, 0, id="scale2-oxygen-target"),
    pytest.param(Row(temp=39.5, hr=95, sbp=105), 4, 2, 0, id="temp-2-not-red"),
    pytest.param(Row(rr=5, spo2=80, on_oxygen=True, sbp=80, hr=140, confused=True, temp=40), 19, 3, 3, id="worst"),
]


@pytest.mark.parametrize(("row", "total", "max_single", "response"), AGGREGATE_CASES)
def test_aggregate_and_response(row: Row, total: int, max_single: int, response: int) -> None:
    s = score_one(row)
    assert (s.total[0], s.max_single[0], s.response[0]) == (total, max_single, response)


def test_response_levels_are_ordered_rcp_levels() -> None:
    assert [Response.LOW, Response.LOW_MEDIUM, Response.MEDIUM, Response.HIGH] == [0, 1, 2, 3]


# ---------------------------------------------------------------------------------------------------------
# Missing values: NaN scores 0 and is counted.


# (column, the row with that parameter missing, the row with it scoring 3)
MISSING_CASES = [
    ("rr", Row(rr=NAN), Row(rr=30)),
    ("spo2", Row(spo2=NAN), Row(spo2=85)),
    ("sbp", Row(sbp=NAN), Row(sbp=85)),
    ("hr", Row(hr=NAN), Row(hr=35)),
    ("consciousness", Row(confused=NAN), Row(confused=True)),
    ("temp", Row(temp=NAN), Row(temp=34)),
]


@pytest.mark.parametrize(("column", "missing", "abnormal"), MISSING_CASES)
def test_each_missing_parameter_scores_zero_and_is_counted(column: str, missing: Row, abnormal: Row) -> None:
    s = score_rows([missing, abnormal])
    np.testing.assert_array_equal(getattr(s, column), [0, 3])
    np.testing.assert_array_equal(s.total, [0, 3])
    np.testing.assert_array_equal(s.n_missing, [1, 0])
    np.testing.assert_array_equal(s.missing[0], [p == column for p in PARAMETERS])
    assert not s.missing[1].any()


def test_missing_values_do_not_hide_the_rest() -> None:
    s = score_one(Row(rr=NAN, spo2=NAN, hr=140, temp=NAN))
    assert (s.total[0], s.max_single[0], s.response[0], s.n_missing[0]) == (3, 3, 1, 3)


def test_everything_missing() -> None:
    s = score_one(Row(rr=NAN, spo2=NAN, sbp=NAN, hr=NAN, confused=NAN, temp=NAN, on_oxygen=True))
    assert (s.total[0], s.air_or_oxygen[0], s.n_missing[0], s.response[0]) == (2, 2, 6, 0)


# ---------------------------------------------------------------------------------------------------------
# Vectorisation: many rows at once, against a scalar reference built from the chart written out again.

# Chart 1 as inclusive (lower, upper, points) rows in chart units; None = open end.
CHART: dict[str, tuple[str, list[tuple[str | None, str | None, int]]]] = {
    "rr": ("1", [(None, "8", 3), ("9", "11", 1), ("12", "20", 0), ("21", "24", 2), ("25", None, 3)]),
    "spo2_scale1": ("1", [(None, "91", 3), ("92", "93", 2), ("94", "95", 1), ("96", None, 0)]),
    "spo2_scale2_air": ("1", [(None, "83", 3), ("84", "85", 2), ("86", "87", 1), ("88", None, 0)]),
    "spo2_scale2_oxygen": (
        "1",
        [
            (None, "83", 3),
            ("84", "85", 2),
            ("86", "87", 1),
            ("88", "92", 0),
            ("93", "94", 1),
            ("95", "96", 2),
            ("97", None, 3),
        ],
    ),
    "sbp": ("1", [(None, "90", 3), ("91", "100", 2), ("101", "110", 1), ("111", "219", 0), ("220", None, 3)]),
    "hr": (
        "1",
        [
            (None, "40", 3),
            ("41", "50", 1),
            ("51", "90", 0),
            ("91", "110", 1),
            ("111", "130", 2),
            ("131", None, 3),
        ],
    ),
    "temp": (
        "0.1",
        [(None, "35.0", 3), ("35.1", "36.0", 1), ("36.1", "38.0", 0), ("38.1", "39.0", 1), ("39.1", None, 2)],
    ),
}


def chart_points(table: str, value: float) -> int:
    """Scalar reference: round half up (in decimal) to the chart's resolution, then look the row up."""
    if math.isnan(value):
        return 0
    step, rows = CHART[table]
    v = Decimal(repr(value)).quantize(Decimal(step), rounding=ROUND_HALF_UP)
    hits = [pts for lo, hi, pts in rows if (lo is None or v >= Decimal(lo)) and (hi is None or v <= Decimal(hi))]
    assert len(hits) == 1, (table, value)
    return hits[0]


def reference(row: Row) -> tuple[int, int, int]:
    """(total, max_single, response) for one row, straight from the chart."""
    scale2 = "spo2_scale2_oxygen" if row.on_oxygen else "spo2_scale2_air"
    spo2_table = scale2 if row.spo2_scale2 else "spo2_scale1"
    points = [
        chart_points("rr", row.rr),
        chart_points(spo2_table, row.spo2),
        2 if row.on_oxygen else 0,
        chart_points("sbp", row.sbp),
        chart_points("hr", row.hr),
        3 if row.confused == 1 else 0,
        chart_points("temp", row.temp),
    ]
    total = sum(points)
    if total >= 7:
        response = 3
    elif total >= 5:
        response = 2
    elif 3 in points:
        response = 1
    else:
        response = 0
    return total, max(points), response


def random_rows(n: int, seed: int) -> list[Row]:
    """Rows on half-step grids (0.5 units, 0.05 degC) so that many land exactly on band edges."""
    rng = np.random.default_rng(seed)

    def grid(lo: float, hi: float, per_unit: int) -> npt.NDArray[np.float64]:
        k = rng.integers(round(lo * per_unit), round(hi * per_unit) + 1, size=n)
        values = k / per_unit  # correctly rounded: 701 / 20 is the double nearest 35.05
        return np.where(rng.random(n) < 0.1, NAN, values)

    rr, spo2, sbp = grid(0, 40, 2), grid(70, 100, 2), grid(60, 260, 2)
    hr, temp = grid(25, 180, 2), grid(33, 42, 20)
    confused = np.where(rng.random(n) < 0.1, NAN, rng.random(n) < 0.2)
    scale2, oxygen = rng.random(n) < 0.3, rng.random(n) < 0.3
    return [
        Row(
            float(rr[i]),
            float(spo2[i]),
            bool(scale2[i]),
            bool(oxygen[i]),
            float(sbp[i]),
            float(hr[i]),
            float(confused[i]),
            float(temp[i]),
        )
        for i in range(n)
    ]


def test_batch_matches_the_chart_reference() -> None:
    rows = random_rows(3000, seed=2017)
    s = score_rows(rows)
    got = list(zip(s.total.tolist(), s.max_single.tolist(), s.response.tolist(), strict=True))
    assert got == [reference(r) for r in rows]


def test_batch_equals_each_row_alone() -> None:
    rows = random_rows(300, seed=1)
    batch = score_rows(rows)
    for i, row in enumerate(rows):
        alone = score_one(row)
        for name in RESULT_FIELDS:
            np.testing.assert_array_equal(getattr(batch, name)[i], getattr(alone, name)[0], err_msg=name)


def test_row_order_does_not_matter() -> None:
    rows = random_rows(1000, seed=2)
    perm = np.random.default_rng(3).permutation(len(rows))
    whole = score_rows(rows)
    shuffled = score_rows([rows[i] for i in perm])
    for name in RESULT_FIELDS:
        np.testing.assert_array_equal(getattr(shuffled, name), getattr(whole, name)[perm], err_msg=name)


def test_splitting_a_batch_changes_nothing() -> None:
    rows = random_rows(500, seed=4)
    whole = score_rows(rows)
    first, second = score_rows(rows[:123]), score_rows(rows[123:])
    for name in RESULT_FIELDS:
        joined = np.concatenate([getattr(first, name), getattr(second, name)])
        np.testing.assert_array_equal(joined, getattr(whole, name), err_msg=name)


def test_dtypes_and_shapes() -> None:
    s = score_rows(random_rows(7, seed=5))
    for name in (*POINT_FIELDS, "max_single", "n_missing", "response"):
        assert getattr(s, name).dtype == np.int8, name
        assert getattr(s, name).shape == (7,), name
    assert (s.total.dtype, s.total.shape) == (np.dtype(np.int16), (7,))
    assert (s.missing.dtype, s.missing.shape) == (np.dtype(np.bool_), (7, len(PARAMETERS)))


def test_empty_batch() -> None:
    empty = np.array([], dtype=np.float64)
    no = np.array([], dtype=np.bool_)
    s = score_parameters(empty, empty, no, no, empty, empty, no, empty)
    assert s.total.shape == (0,)
    assert s.missing.shape == (0, len(PARAMETERS))


def test_results_are_read_only_and_inputs_are_copied() -> None:
    rr = np.array([30.0, 16.0])
    s = score_parameters(rr, [98, 98], [False] * 2, [False] * 2, [120, 120], [70, 70], [False] * 2, [37, 37])
    rr[0] = 16.0
    assert s.readings.rr[0] == 30.0
    with pytest.raises(ValueError, match="read-only"):
        s.total[0] = 0


# ---------------------------------------------------------------------------------------------------------
# Explanation in words.


def test_explain_medium() -> None:
    s = score_rows([NEUTRAL, Row(rr=25, spo2=91, hr=80, temp=36.8)])
    assert explain(s, 1) == (
        "NEWS2 6 (RR 25 -> 3, SpO2 (scale 1) 91% -> 3, air -> 0, SBP 120 -> 0, HR 80 -> 0, alert -> 0, "
        "temp 36.8 -> 0): medium risk: urgent response"
    )


def test_explain_high_with_missing() -> None:
    row = Row(rr=NAN, spo2=96, spo2_scale2=True, on_oxygen=True, sbp=95, confused=True, temp=35.05)
    assert explain(score_one(row), 0) == (
        "NEWS2 10 (RR missing, SpO2 (scale 2) 96% -> 2, oxygen -> 2, SBP 95 -> 2, HR 70 -> 0, "
        "new confusion/V/P/U -> 3, temp 35.05 -> 1): high risk: emergency response; "
        "incomplete, 1 of 7 parameters missing"
    )


def test_explain_low_and_red() -> None:
    s = score_rows([NEUTRAL, Row(confused=NAN, hr=131)])
    assert explain(s, 0).endswith("): low risk: ward-based response")
    assert explain(s, 1) == (
        "NEWS2 3 (RR 16 -> 0, SpO2 (scale 1) 98% -> 0, air -> 0, SBP 120 -> 0, HR 131 -> 3, "
        "consciousness missing, temp 37 -> 0): low-medium risk (red score): urgent ward-based response; "
        "incomplete, 1 of 7 parameters missing"
    )


def test_explain_index_out_of_range() -> None:
    with pytest.raises(IndexError, match="out of range"):
        explain(score_one(NEUTRAL), 1)


# ---------------------------------------------------------------------------------------------------------
# Validation at the entry.

GOOD: dict[str, npt.ArrayLike] = {
    "rr": [16.0, 16.0],
    "spo2": [98.0, 98.0],
    "spo2_scale2": np.array([False, False]),
    "on_oxygen": np.array([False, False]),
    "sbp": [120.0, 120.0],
    "hr": [70.0, 70.0],
    "confused": np.array([False, False]),
    "temp": [37.0, 37.0],
}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("rr", [[16.0, 16.0]], "rr must be 1-D"),
        ("temp", 37.0, "temp must be 1-D"),
        ("on_oxygen", np.array([[False, False]]), "on_oxygen must be 1-D"),
        ("hr", [70.0, 70.0, 70.0], "same length"),
        ("spo2_scale2", np.array([False]), "same length"),
        ("temp", [37.0, math.inf], "temp is infinite at index 1"),
        ("sbp", [-math.inf, 120.0], "sbp is infinite at index 0"),
        ("rr", ["16", "16"], "rr must be a float or integer array"),
        ("spo2", np.array([True, True]), "spo2 must be a float or integer array"),
        ("on_oxygen", np.array([0, 1]), "on_oxygen must be a bool array"),
        ("spo2_scale2", [0.0, NAN], "spo2_scale2 must be a bool array"),
        ("confused", [0.0, 2.0], "confused must be bool, or 0/1"),
    ],
)
def test_validation_errors(name: str, value: npt.ArrayLike, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        score_parameters(**{**GOOD, name: value})


def test_band_table_rejects_a_gap() -> None:
    with pytest.raises(ValueError, match="contiguous"):
        BandTable("gappy", 0, (Band(-math.inf, 8, 3), Band(10, math.inf, 0)))


def test_good_inputs_are_accepted() -> None:
    s = score_parameters(**GOOD)
    assert s.total.tolist() == [0, 0]


def test_row_fields_cover_every_input() -> None:
    assert [f.name for f in fields(Row)] == list(GOOD)
