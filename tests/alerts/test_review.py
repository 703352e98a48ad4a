"""The settling-in review (alerts/review.py): synthetic weeks of readings, each built so that a wrong method fails."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

import alerts.review as review
from alerts.bed_history import in_bed_windows
from alerts.review import MIN_WINDOWS, WINDOW_S, review_limits
from carewatch.model import Batch, Device, DeviceKind, EventRow, ReadingRow, Resident, Site, SiteKind
from carewatch.storage.base import REASON_MAX, News2Escalation, Store, Threshold, ThresholdContext

T0 = 1_764_374_400.0  # 2025-11-29 00:00 UTC
DAY, HOUR = 86_400.0, 3600.0
HEALTHY = {"hr": 70.0, "spo2": 97.0, "rr": 16.0, "sbp": 125.0, "dbp": 78.0, "temp": 36.7}
NOISE = {"hr": 1.5, "spo2": 0.5, "rr": 0.6, "sbp": 3.0, "dbp": 2.0, "temp": 0.05}
Series = dict[str, list[tuple[float, float]]]


def week(
    night: dict[str, float] | None = None,
    walking: dict[str, float] | None = None,
    days: float = 7.0,
    step_s: float = 60.0,
    seed: int = 0,
    awake: dict[str, float] | None = None,
) -> Series:
    """Readings every ``step_s`` over ``days``: ``awake`` values (HEALTHY by default), ``night`` ones from 00:00 to
    06:00 UTC, and from 10:00 to 10:30 a walk (steps going up) with ``walking`` values when given."""
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(0.0, days * DAY, step_s)
    hour = (ts % DAY) / HOUR
    asleep, walk = hour < 6.0, (hour >= 10.0) & (hour < 10.5)
    series: Series = {}
    for metric, usual in (awake or HEALTHY).items():
        values = np.full(ts.shape, usual)
        if night and metric in night:
            values[asleep] = night[metric]
        if walking and metric in walking:
            values[walk] = walking[metric]
        values = values + rng.normal(0.0, NOISE[metric], ts.shape)
        values = np.round(values, 1 if metric == "temp" else 0)
        series[metric] = list(zip(ts.tolist(), values.tolist(), strict=True))
    steps = np.cumsum(np.where(walk, 100.0, 0.0)) % 100_000
    series["steps"] = list(zip(ts.tolist(), steps.tolist(), strict=True))
    return series


def nights_in_bed(days: float = 7.0, first_night: int = 0) -> list[EventRow]:
    """A bed sensor's samples: in bed from 00:00 to 06:00 UTC (``week``'s nights), from night ``first_night``."""
    rows = []
    for day in range(first_night, int(days)):
        rows += [EventRow(T0 + day * DAY, "s1", "bed1", "r1", "bed", 1.0, 2 * day),
                 EventRow(T0 + day * DAY + 6 * HOUR, "s1", "bed1", "r1", "bed", 0.0, 2 * day + 1)]  # fmt: skip
    return rows


BED_SENSOR = Device("bed1", "s1", DeviceKind.BED, "r1")


class FakeStore:
    """Only what the review reads: one resident's readings, MAX_HISTORY_ROWS at a time like the real stores, the
    limits in force, and the registry and events that tell when they were in bed (none by default)."""

    def __init__(self, series: Series, limits: Sequence[Threshold] = (), escalation: News2Escalation | None = None,
                 events: Sequence[EventRow] = ()) -> None:  # fmt: skip
        self.series = series
        self.limits = list(limits)
        self.escalation = escalation
        self.events = list(events)

    def residents(self, site_id: str | None = None) -> list[Resident]:
        return [Resident("r1", "s1", "R1")]

    def sites(self) -> list[Site]:
        return [Site("s1", "Home", SiteKind.HOME, "UTC")]

    def devices(self) -> list[Device]:
        return [BED_SENSOR] if self.events else []

    def device_events(self, device_ids: Sequence[str], kind: str, start: float, end: float) -> list[EventRow]:
        return [e for e in self.events if e.device_id in device_ids and e.kind == kind and start <= e.ts < end]

    def thresholds(self, resident_id: str) -> list[Threshold]:
        return [t for t in self.limits if t.resident_id == resident_id]

    def news2_escalation(self, resident_id: str) -> News2Escalation | None:
        return self.escalation

    def readings(self, resident_id: str, metric: str, start: float, end: float) -> list[tuple[float, float]]:
        rows = [(t, v) for t, v in self.series.get(metric, []) if start <= t < end]
        return rows[: review.MAX_HISTORY_ROWS]


def run(series: Series, resident: Resident | None = None, days: float = 7.0, limits: Sequence[Threshold] = (),
        escalation: News2Escalation | None = None, events: Sequence[EventRow] = ()) -> review.LimitReview:  # fmt: skip
    who = resident or Resident("r1", "s1", "R1")
    store = FakeStore(series, limits, escalation, events)
    return review_limits(store, who, T0, T0 + days * DAY)  # type: ignore[arg-type]


def by_rule(result: review.LimitReview) -> dict[str, review.LimitSuggestion]:
    return {s.rule: s for s in result.thresholds}


def test_a_resident_within_the_defaults_gets_no_suggestion() -> None:
    result = run(week(night={"hr": 62.0, "rr": 14.0, "sbp": 112.0, "spo2": 96.0}))
    assert result.thresholds == ()
    assert result.news2 is None
    assert not result.changes
    day_windows = DAY / WINDOW_S
    assert result.windows == pytest.approx(7 * day_windows * 0.98, rel=0.02)  # the walks and recoveries left out


def test_nocturnal_desaturation_gives_a_lower_spo2_limit_on_scale_2() -> None:
    copd = Resident("r1", "s1", "R1", spo2_scale=2)
    result = run(week(awake={**HEALTHY, "spo2": 90.0, "rr": 19.0}, night={"spo2": 84.0}), copd)
    spo2 = by_rule(result)["spo2_low"]
    assert spo2.default == 86.0  # scale 2's default, not scale 1's 90
    assert spo2.side == "low" and spo2.metric == "spo2"
    assert spo2.usual in (83.0, 84.0)
    assert spo2.suggested == spo2.usual - review.BOUNDS["spo2_low"].margin
    assert not spo2.at_safety_bound
    assert "spo2_low" in spo2.reason and f"{spo2.usual:g} %" in spo2.reason
    assert set(by_rule(result)) == {"spo2_low"}  # nothing else moved


def test_the_safety_bound_holds_and_says_so() -> None:
    copd = Resident("r1", "s1", "R1", spo2_scale=2)
    spo2 = by_rule(run(week(awake={**HEALTHY, "spo2": 90.0}, night={"spo2": 79.0}), copd))["spo2_low"]
    assert spo2.usual < 80.0
    assert spo2.suggested == 80.0
    assert spo2.at_safety_bound
    assert "safety bound" in spo2.reason


@pytest.mark.parametrize(("night_hr", "assessment"), [(40.0, False), (36.0, True), (31.0, True)])
def test_a_limit_held_at_the_safety_bound_asks_for_an_assessment_only_when_usual_values_cross_it(
    night_hr: float, assessment: bool
) -> None:
    """A usual low of 38-39/min held at 35 (3-4 bpm beyond it instead of 5) is clear of the limit: nothing to
    assess. A usual low within a reading's noise of the bound (2.5 bpm), or past it, still alerts."""
    [hr] = run(week(awake={**HEALTHY, "hr": 55.0}, night={"hr": night_hr})).thresholds
    assert (hr.rule, hr.suggested, hr.at_safety_bound) == ("hr_low", 35.0, True)
    assert "held at the safety bound" in hr.reason
    assert ("usual values still alert, a clinical assessment is due" in hr.reason) is assessment
    if not assessment:
        assert hr.usual - hr.suggested < review.BOUNDS["hr_low"].margin
        assert f"{hr.usual - hr.suggested:g} bpm beyond the usual instead of 5" in hr.reason


def test_a_high_limit_is_widened_upwards_and_bounded() -> None:
    rr = by_rule(run(week(awake={**HEALTHY, "rr": 25.0})))["rr_high"]
    assert rr.side == "high" and rr.default == 24.0
    assert rr.suggested == rr.usual + 2 and rr.suggested > 24.0
    rr = by_rule(run(week(awake={**HEALTHY, "rr": 31.0})))["rr_high"]
    assert rr.suggested == 30.0 and rr.at_safety_bound


def test_exertion_windows_are_ignored() -> None:
    walks = {"rr": 29.0, "spo2": 85.0, "hr": 125.0, "sbp": 175.0}
    assert run(week(walking=walks)).thresholds == ()
    # The same values with the step count standing still are the resident at rest: then they count.
    still = week(walking=walks)
    still["steps"] = [(t, 0.0) for t, _ in still["steps"]]
    assert {"rr_high", "spo2_low"} <= set(by_rule(run(still)))


def test_news2_usually_raised_suggests_a_later_escalation() -> None:
    # Respiration 22 (2), SpO2 94 (1), pulse 95 (1), temperature 36.0 (1): 5 at rest, all day.
    raised = {**HEALTHY, "rr": 22.0, "spo2": 94.0, "hr": 95.0, "temp": 36.0}
    result = run(week(awake=raised))
    assert result.news2 is not None
    assert result.news2.usual_score in (5, 6)
    assert result.news2.urgent_from == result.news2.usual_score + 2
    assert result.news2.emergency_from == result.news2.urgent_from + 2
    assert result.news2.red_score  # no single parameter habitually scores 3
    escalation = result.news2_escalation("clinician", T0)
    assert escalation is not None and escalation.urgent_from == result.news2.urgent_from


def test_news2_red_score_is_lifted_only_for_a_parameter_that_habitually_scores_3() -> None:
    result = run(week(awake={**HEALTHY, "rr": 26.0}))  # respiration 25+ scores 3 at rest
    assert result.news2 is not None
    assert not result.news2.red_score
    assert "respiration" in result.news2.reason
    assert result.news2.urgent_from >= 5 and result.news2.emergency_from >= 7
    nightly = run(week(night={"rr": 26.0}))  # every night: a quarter of the windows is habitual
    assert nightly.news2 is not None and not nightly.news2.red_score
    rare = week()
    rare["rr"][: int(0.01 * len(rare["rr"]))] = [(t, 26.0) for t, _ in rare["rr"][: int(0.01 * len(rare["rr"]))]]
    assert run(rare).news2 is None  # 1 % of the windows is not habitual


def test_an_emergency_level_as_usual_is_flagged_and_beyond_it_gets_a_note_not_a_suggestion() -> None:
    seven = {**HEALTHY, "rr": 23.0, "spo2": 93.0, "hr": 112.0, "temp": 36.5, "sbp": 105.0}  # 2 + 2 + 2 + 0 + 1 = 7
    result = run(week(awake=seven))
    assert result.news2 is not None and result.news2.usual_score == 7
    assert (result.news2.urgent_from, result.news2.emergency_from) == (9, 11)
    assert result.news2.assessment_due and "assessment is due" in result.news2.reason
    assert not run(week(awake={**seven, "rr": 19.0, "spo2": 97.0})).news2  # 0 + 0 + 2 + 0 + 1 = 3: no suggestion
    eight = {**seven, "temp": 35.9}  # + 1
    result = run(week(awake=eight))
    assert result.news2 is None
    assert any("clinical assessment" in note for note in result.notes)


def test_spo2_habitually_scoring_3_on_scale_1_names_scale_2_as_a_clinicians_decision() -> None:
    low = {**HEALTHY, "spo2": 90.0}  # 91 % or less scores 3 on scale 1, nothing on scale 2 (88-92 %)
    result = run(week(awake=low))
    assert result.news2 is not None and not result.news2.red_score
    assert "SpO2 habitually scores 3" in result.news2.reason and "scale 2 applies" in result.news2.reason
    assert "scale 2 applies" not in run(week(awake=low), resident=Resident("r1", "s1", "R1", spo2_scale=2)).describe()
    assert "scale 2 applies" not in run(week(awake={**HEALTHY, "rr": 26.0})).describe()  # another parameter's 3
    beyond = {**HEALTHY, "rr": 23.0, "spo2": 90.0, "hr": 112.0, "temp": 35.9, "sbp": 105.0}  # 2 + 3 + 2 + 1 + 1 = 9
    result = run(week(awake=beyond))
    assert result.news2 is None
    assert any("SpO2 habitually scores 3" in note and "scale 2 applies" in note for note in result.notes)


def test_too_few_windows_give_no_suggestion_and_say_what_is_needed() -> None:
    result = run(week(awake={**HEALTHY, "spo2": 85.0}, days=2.0), days=2.0)
    assert result.thresholds == () and result.news2 is None
    assert any(str(MIN_WINDOWS) in note for note in result.notes)


def test_readings_beyond_one_read_are_all_reviewed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(review, "MAX_HISTORY_ROWS", 1000)
    doubled = week(awake={**HEALTHY, "spo2": 88.0})
    doubled["spo2"] = sorted(doubled["spo2"] + [(t, v) for t, v in doubled["spo2"][::7]])  # repeats at instants
    ts, values = review._series(FakeStore(doubled), "r1", "spo2", T0, T0 + 7 * DAY)  # type: ignore[arg-type]
    assert len(ts) == len(doubled["spo2"])
    assert sorted(values) == sorted(v for _, v in doubled["spo2"])
    assert np.all(np.diff(ts) >= 0)


def test_accepting_merges_sides_and_keeps_stored_values() -> None:
    result = run(week(awake={**HEALTHY, "sbp": 88.0, "hr": 41.0}))
    rules = by_rule(result)
    assert {"sbp_low", "hr_low"} <= set(rules)
    stored = [Threshold("r1", "hr", None, 120.0, "AF, rate control", T0, "dr")]
    chosen = {t.metric: t for t in result.thresholds_to_set("eval-clinician", T0 + 7 * DAY, stored)}
    assert chosen["hr"].low == rules["hr_low"].suggested and chosen["hr"].high == 120.0
    assert chosen["sbp"].low == rules["sbp_low"].suggested and chosen["sbp"].high is None
    assert chosen["hr"].updated_by == "eval-clinician"
    period = "(settling-in review 2025-11-29 to 2025-12-06)"
    assert chosen["hr"].reason == f"{rules['hr_low'].reason} {period}"  # the review's words, and which review
    assert chosen["sbp"].reason == f"{rules['sbp_low'].reason} {period}"


def test_a_metrics_reason_has_both_sides_and_fits_the_bound() -> None:
    low = review.LimitSuggestion("hr_low", "hr", "low", 40.0, 38.0, 41.0, "pulse asleep 41")
    high = review.LimitSuggestion("hr_high", "hr", "high", 120.0, 125.0, 119.0, "pulse walking 119 " + "x" * 600)
    found = review.LimitReview("r1", T0, T0 + 7 * DAY, 2016, (low, high), None)
    [hr] = found.thresholds_to_set("dr", T0 + 7 * DAY)
    assert (hr.low, hr.high) == (38.0, 125.0)
    assert hr.reason.startswith("pulse asleep 41; pulse walking 119 xxx")
    assert hr.reason.endswith("x… (settling-in review 2025-11-29 to 2025-12-06)") and len(hr.reason) == REASON_MAX


def test_a_bad_period_is_refused() -> None:
    with pytest.raises(ValueError, match="end after it starts"):
        review_limits(FakeStore({}), Resident("r1", "s1", "R1"), T0, T0)  # type: ignore[arg-type]


def _stored(store: Store, series: Series) -> None:
    store.upsert_sites([Site("s1", "Home", SiteKind.HOME, "UTC")])
    store.upsert_residents([Resident("r1", "s1", "R1", spo2_scale=2)])
    store.upsert_devices([Device("w1", "s1", DeviceKind.WEARABLE, "r1")])
    rows = [ReadingRow(t, "s1", "w1", "r1", metric, v, int(t), False) for metric, points in series.items()
            for t, v in points]  # fmt: skip
    store.write_batch(Batch(readings=rows))


def test_the_review_reads_a_real_store(store: Store) -> None:
    reviewed: Callable[[], review.LimitReview] = lambda: review_limits(  # noqa: E731
        store, Resident("r1", "s1", "R1", spo2_scale=2), T0, T0 + 7 * DAY
    )
    _stored(store, week(awake={**HEALTHY, "spo2": 90.0}, night={"spo2": 83.0}, step_s=300.0))
    result = reviewed()
    spo2 = by_rule(result)["spo2_low"]
    assert spo2.default == 86.0 and spo2.suggested < 83.0
    assert result.windows > MIN_WINDOWS


def test_a_usual_extreme_clear_of_the_default_changes_nothing_one_near_it_moves_it() -> None:
    # Systolic 101 at night, noise 3: the usual low (2nd percentile of the medians) stays over 95, more than the
    # near-distance (5 mmHg, a reading's noise) above 90.
    result = run(week(night={"sbp": 101.0}))
    assert "sbp_low" not in by_rule(result)
    near = by_rule(run(week(night={"sbp": 94.0})))["sbp_low"]  # the usual low 90-95: readings cross 90
    assert 90.0 <= near.usual < 95.0
    assert near.suggested == near.usual - 5.0 and "within 5 mmHg of it" in near.reason
    past = by_rule(run(week(night={"sbp": 89.0})))["sbp_low"]  # the usual low lies under 90
    assert past.usual < 90.0 and "within" not in past.reason
    # A sleeping pulse whose usual low is 40-42 (noise 1.5): half its readings there are under 40.
    pulse = by_rule(run(week(night={"hr": 42.0})))["hr_low"]
    assert 40.0 <= pulse.usual <= 42.0 and pulse.suggested == pulse.usual - 5.0


def test_a_limit_moved_into_news2s_3_band_lifts_that_parameters_single_3() -> None:
    # A sleeping pulse whose usual low is 40-42: hr_low goes to 35-37, where NEWS2 still scores the pulse 3; the
    # usual aggregate is low, so the levels stay the RCP's.
    result = run(week(night={"hr": 42.0}))
    assert by_rule(result)["hr_low"].suggested < 40.0
    assert result.news2 is not None and not result.news2.red_score
    assert (result.news2.urgent_from, result.news2.emergency_from) == (5, 7)
    assert "pulse scores 3 at the limit suggested above" in result.news2.reason
    assert "(the RCP's level)" in result.news2.reason
    # A scale-2 resident's SpO2 limit at 84 % scores 2 there, not 3: the single-3 trigger stays.
    copd = Resident("r1", "s1", "R1", spo2_scale=2)
    spo2 = run(week(awake={**HEALTHY, "spo2": 90.0}, night={"spo2": 86.0}), copd)
    assert by_rule(spo2)["spo2_low"].suggested == 84.0
    assert spo2.news2 is None or spo2.news2.red_score


def test_a_clinicians_limit_in_force_is_what_the_review_measures_against_and_never_tightens() -> None:
    copd = Resident("r1", "s1", "R1", spo2_scale=2)
    nights = week(awake={**HEALTHY, "spo2": 90.0}, night={"spo2": 84.0})
    wide = Threshold("r1", "spo2", 78.0, None, "COPD", T0, "dr")  # wider than the review would suggest
    assert "spo2_low" not in by_rule(run(nights, copd, limits=[wide]))
    crossed = Threshold("r1", "spo2", 86.0 - 1.0, None, "COPD", T0, "dr")  # the usual still reaches past it
    spo2 = by_rule(run(nights, copd, limits=[crossed]))["spo2_low"]
    assert spo2.in_force == 85.0 and spo2.default == 86.0
    assert spo2.suggested < 85.0 and "clinician's limit below 85" in spo2.reason
    assert by_rule(run(nights, copd))["spo2_low"].in_force is None


def test_a_news2_escalation_in_force_is_only_ever_widened() -> None:
    raised = {**HEALTHY, "rr": 22.0, "spo2": 94.0, "hr": 95.0, "temp": 36.0}
    suggested = run(week(awake=raised)).news2
    assert suggested is not None
    wider = News2Escalation("r1", suggested.urgent_from + 1, suggested.emergency_from + 1, True, "plan", "dr", T0)
    assert run(week(awake=raised), escalation=wider).news2 is None
    narrower = News2Escalation("r1", 5, suggested.emergency_from + 3, False, "plan", "dr", T0)
    mixed = run(week(awake=raised), escalation=narrower).news2
    assert mixed is not None
    assert (mixed.urgent_from, mixed.emergency_from) == (suggested.urgent_from, suggested.emergency_from + 3)
    assert not mixed.red_score  # the clinician's choice is kept
    assert "kept where wider" in mixed.reason


# Limits for the time in bed ------------------------------------------------------------------------------------------
FIT_SLEEPER = {"hr": 40.0}  # asleep: the 5-minute medians reach 38


def test_a_fit_sleeper_with_a_bed_sensor_gets_a_limit_for_the_time_in_bed_only() -> None:
    """The evaluation's case: a pulse reaching 38 asleep and 55 awake. Learned from every window, the review moved
    hr_low for the whole day; with the nights told apart it moves it for the time in bed only."""
    series = week(awake={**HEALTHY, "hr": 55.0}, night=FIT_SLEEPER)
    result = run(series, events=nights_in_bed())
    [hr] = result.thresholds
    assert (hr.rule, hr.context, hr.suggested, hr.at_safety_bound) == ("hr_low", "in_bed", 35.0, True)
    assert hr.usual <= 39.0 and hr.reason.startswith("hr_low in bed: heart rate at rest in bed was at or below 38 bpm")
    assert "suggested for the time in bed at or below 35" in hr.reason
    assert result.windows_in_bed == pytest.approx(7 * 6 * 12, rel=0.02) and result.notes == ()
    [threshold] = result.thresholds_to_set("dr", T0 + 7 * DAY)
    assert (threshold.metric, threshold.low, threshold.context) == ("hr", 35.0, ThresholdContext.IN_BED)
    # Without a bed sensor the nights count for the whole day, as before.
    [always] = run(series).thresholds
    assert (always.rule, always.context, always.suggested) == ("hr_low", "always", 35.0)
    assert run(series).windows_in_bed is None


def test_a_pulse_low_by_day_too_moves_both_limits() -> None:
    result = run(week(awake={**HEALTHY, "hr": 42.0}, night={"hr": 36.0}), events=nights_in_bed())
    assert {(s.rule, s.context) for s in result.thresholds} == {("hr_low", "in_bed"), ("hr_low", "always")}
    chosen = {t.context: t.low for t in result.thresholds_to_set("dr", T0 + 7 * DAY)}
    assert chosen[ThresholdContext.ALWAYS] == by_context(result)["always"].suggested < 40.0
    assert chosen[ThresholdContext.IN_BED] == 35.0


def by_context(result: review.LimitReview) -> dict[str, review.LimitSuggestion]:
    return {s.context: s for s in result.thresholds}


def test_too_few_nights_in_bed_give_no_limit_for_them_and_say_so() -> None:
    """In bed on the last two nights only: too few windows in bed; the others (the first five nights among them, with
    no bed sensor's word for them) still get reviewed."""
    result = run(week(awake={**HEALTHY, "hr": 55.0}, night=FIT_SLEEPER), events=nights_in_bed(first_night=5))
    assert [s.context for s in result.thresholds] == ["always"]
    [note] = result.notes
    assert note.startswith("too few readings at rest in bed to review: 144 5-minute windows over 1.2 days")
    assert note.endswith("(no limit for the time in bed suggested)")


def test_an_in_bed_limit_in_force_is_what_the_windows_in_bed_are_measured_against() -> None:
    in_force = Threshold("r1", "hr", 36.0, None, "fit sleeper", T0, "dr", ThresholdContext.IN_BED)
    result = run(week(awake={**HEALTHY, "hr": 55.0}, night=FIT_SLEEPER), limits=[in_force], events=nights_in_bed())
    [hr] = result.thresholds
    assert (hr.context, hr.in_force, hr.suggested) == ("in_bed", 36.0, 35.0)
    assert "the clinician's limit at or below 36" in hr.reason


def test_a_window_is_in_bed_only_when_the_resident_was_in_bed_throughout() -> None:
    """A night toilet visit at 03:00-03:06 takes its windows out."""
    store = FakeStore({}, events=[*nights_in_bed(2), EventRow(T0 + 3 * HOUR, "s1", "bed1", "r1", "bed", 0.0, 9),
                                  EventRow(T0 + 3 * HOUR + 360, "s1", "bed1", "r1", "bed", 1.0, 10)])  # fmt: skip
    begins = T0 + np.arange(0.0, DAY, WINDOW_S)
    in_bed = in_bed_windows(store, Resident("r1", "s1", "R1"), begins, WINDOW_S)  # type: ignore[arg-type]
    assert in_bed is not None
    hours = (begins[in_bed] - T0) / HOUR
    assert hours.min() == 0.0 and hours.max() == 6.0 - WINDOW_S / HOUR
    assert not in_bed[(begins >= T0 + 3 * HOUR) & (begins < T0 + 3 * HOUR + 360)].any()
    assert in_bed.sum() == 6 * 12 - 2  # 03:00 and 03:05 hold a part of the visit


def test_the_review_tells_the_nights_in_bed_from_a_real_stores_bed_events(store: Store) -> None:
    _stored(store, week(awake={**HEALTHY, "hr": 55.0}, night=FIT_SLEEPER, step_s=300.0))
    store.upsert_devices([BED_SENSOR])
    store.write_batch(Batch(events=nights_in_bed()))
    result = review_limits(store, Resident("r1", "s1", "R1", spo2_scale=2), T0, T0 + 7 * DAY)
    assert [(s.rule, s.context) for s in result.thresholds] == [("hr_low", "in_bed")]
    assert result.windows_in_bed == pytest.approx(7 * 6 * 12, rel=0.02)
