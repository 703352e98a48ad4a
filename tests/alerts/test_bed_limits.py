"""Limits for the time in bed (carewatch.storage.base.ThresholdContext): a clinician's in-bed limit applies to the
readings taken while the resident is in bed (their own bed sensor, no sign of being up since: alerts.signals), and
the limit that applies otherwise to every other reading. The evaluation's case: a fit sleeper whose pulse reaches
38 asleep has ``hr_low`` at 35 in bed; a bradycardia of 37/min in the afternoon still alerts at the default 40."""

from __future__ import annotations

import numpy as np
from alerts_support import RESIDENTS, SITES, T0, Stream, devices

from alerts.engine import AlertEngine
from alerts.rules import default_rules
from carewatch.model import AlertDraft, Batch
from carewatch.storage.base import Threshold, ThresholdContext

DAY_2 = 2  # local days after T0 (r0 lives in UTC)
IN_BED_35 = Threshold("r0", "hr", 35.0, None, "pulse 38 asleep (fit sleeper)", T0, "dr:li", ThresholdContext.IN_BED)


def engine(limits: tuple[Threshold, ...] = (IN_BED_35,), bed_sensor: bool = True) -> AlertEngine:
    e = AlertEngine(default_rules())
    e.population.refresh_offsets(T0)
    e.add_residents(RESIDENTS, SITES, [d for d in devices() if bed_sensor or d.device_id != "bed-r0"])
    e.apply_thresholds(limits)
    return e


def night_and_day(s: Stream) -> None:
    """r0 in bed at 22:30 the evening before DAY_2, out of bed at 07:00."""
    s.event("r0", s.at("r0", DAY_2 - 1, 22.5), "bed", 1.0, personal="bed")
    s.event("r0", s.at("r0", DAY_2, 7.0), "bed", 0.0, personal="bed")


def pulse(s: Stream, start: float, minutes: float, value: float = 37.0) -> None:
    """Every 5 s for ``minutes``."""
    for k in range(int(minutes * 12)):
        s.vital("r0", start + 5 * k, "hr", value)


def episode(s: Stream, start: float, minutes: float, value: float = 37.0) -> None:
    """A pulse of ``value`` for ``minutes``, then 60/min for 2 minutes (a raised alert clears)."""
    pulse(s, start, minutes, value)
    pulse(s, start + minutes * 60, 2, 60.0)


def hr_low(e: AlertEngine, batch: Batch) -> list[AlertDraft]:
    return [d for d in e.process(batch)[0] if d.rule == "hr_low"]


def test_a_pulse_of_37_for_20_minutes_alerts_out_of_bed_but_not_in_bed() -> None:
    s = Stream(np.random.default_rng(0))
    night_and_day(s)
    episode(s, s.at("r0", DAY_2, 3.0), 20)  # asleep
    episode(s, s.at("r0", DAY_2, 14.0), 20)  # the afternoon
    [alert] = hr_low(engine(), s.batch())
    assert alert.opened_at == s.at("r0", DAY_2, 14.0) + 120  # the default 40 and its 2 minutes
    assert "below 40 bpm for 2 min" in alert.explanation and "in bed" not in alert.explanation
    assert alert.evidence["facts"] == {"limit": 40.0, "in_bed": 0.0}
    # Without the in-bed limit the night alerts too: the limit, not the night, keeps it quiet.
    assert [d.opened_at for d in hr_low(engine(()), s.batch())] == [s.at("r0", DAY_2, 3.0) + 120, alert.opened_at]


def test_below_the_in_bed_limit_in_bed_alerts_and_says_which_limit() -> None:
    s = Stream(np.random.default_rng(0))
    night_and_day(s)
    pulse(s, s.at("r0", DAY_2, 3.0), 10, value=33.0)
    [alert] = hr_low(engine(), s.batch())
    assert alert.opened_at == s.at("r0", DAY_2, 3.0) + 120
    assert "at or below 35 bpm (the limit in bed, limit set by dr:li on" in alert.explanation
    assert {k: alert.evidence["facts"][k] for k in ("limit", "in_bed")} == {"limit": 35.0, "in_bed": 1.0}
    assert alert.evidence["facts"]["set_by"]["by"] == "dr:li"


def test_a_sign_of_being_up_ends_the_time_in_bed_without_a_bed_exit() -> None:
    """The bed sensor misses the exit; motion in the living room is a sign of being up (alerts.signals)."""
    s = Stream(np.random.default_rng(0))
    s.event("r0", s.at("r0", DAY_2 - 1, 22.5), "bed", 1.0, personal="bed")
    s.event("r0", s.at("r0", DAY_2, 9.0), "motion")  # the home's shared motion sensor speaks for r0 alone
    pulse(s, s.at("r0", DAY_2, 14.0), 10)
    assert [d.opened_at for d in hr_low(engine(), s.batch())] == [s.at("r0", DAY_2, 14.0) + 120]


def test_getting_up_with_a_slow_pulse_counts_the_persistence_from_the_first_reading_out_of_bed() -> None:
    s = Stream(np.random.default_rng(0))
    night_and_day(s)
    pulse(s, s.at("r0", DAY_2, 7.0) - 600, 20)  # 06:50 to 07:10, in bed until 07:00
    assert [d.opened_at for d in hr_low(engine(), s.batch())] == [s.at("r0", DAY_2, 7.0) + 120]


def test_a_run_that_goes_back_to_bed_ends_and_its_alert_clears_past_the_in_bed_leave() -> None:
    s = Stream(np.random.default_rng(0))
    s.event("r0", s.at("r0", DAY_2, 22.0), "bed", 1.0, personal="bed")
    pulse(s, s.at("r0", DAY_2, 21.9), 10)  # 21:54 to 22:04: raised at 21:56, out of bed
    pulse(s, s.at("r0", DAY_2, 22.0) + 600, 2, value=41.0)  # in bed: past the in-bed leave (35 + 5)
    found = engine().process(s.batch())
    assert [(d.rule, d.opened_at) for d in found[0] if d.rule == "hr_low"] == [
        ("hr_low", s.at("r0", DAY_2, 21.9) + 120)
    ]
    assert [(c.rule, c.at) for c in found[1] if c.rule == "hr_low"] == [("hr_low", s.at("r0", DAY_2, 22.0) + 600)]


def test_without_a_bed_sensor_the_in_bed_limit_never_applies() -> None:
    s = Stream(np.random.default_rng(0))
    s.event("r0", s.at("r0", DAY_2 - 1, 22.0), "motion")  # the last sign of life before the night
    pulse(s, s.at("r0", DAY_2, 3.0), 10)
    assert [d.opened_at for d in hr_low(engine(bed_sensor=False), s.batch())] == [s.at("r0", DAY_2, 3.0) + 120]


def test_removing_the_in_bed_limit_reverts_to_the_limit_that_applies_otherwise() -> None:
    always_38 = Threshold("r0", "hr", 38.0, None, "on a beta-blocker", T0, "dr:li")
    e = engine((IN_BED_35, always_38))
    e.apply_thresholds([always_38])
    s = Stream(np.random.default_rng(0))
    night_and_day(s)
    pulse(s, s.at("r0", DAY_2, 3.0), 10)
    [alert] = hr_low(e, s.batch())
    assert "below 38 bpm" in alert.explanation and alert.opened_at == s.at("r0", DAY_2, 3.0) + 120


def test_an_in_bed_limit_changes_only_the_rules_that_take_one() -> None:
    """Room temperature is no vital sign: an in-bed record for it is ignored, not applied all day."""
    e = engine((Threshold("r0", "room_temp", None, 24.0, "a warm bedroom", T0, "dr:li", ThresholdContext.IN_BED),))
    heat = e.by_name["heat"].parameters()["enter"].values
    assert heat[0] == heat[1] != 24.0
