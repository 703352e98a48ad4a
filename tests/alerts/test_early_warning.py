"""NEWS2 on continuous data (alerts.rules.early_warning): readings stamped out of step across parameters, partial sets
scored as a floor, one alert per deterioration, and explanations that show what was measured. Each case runs through
the engine and the straightforward implementation (alerts.reference), which must agree."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from alerts_support import DAY, HOUR, RESIDENTS, SITES, T0, TEST_DAY, devices, engine
from fhir.resources.R4B.bundle import Bundle

from alerts.fhir import alert_bundle
from alerts.reference import ReferenceEngine
from alerts.rules import early_warning
from carewatch.model import Alert, AlertDraft, AlertState, Batch, ReadingRow

NOW = T0 + TEST_DAY * DAY + 9 * HOUR
NORMAL = {"hr": 72.0, "rr": 16.0, "spo2": 97.0}
Message = list[ReadingRow]


def reading(t: float, metric: str, value: float) -> ReadingRow:
    return ReadingRow(t, "h0", "w-r0", "r0", metric, value, 0, False)


def watch(t: float, **values: float) -> Message:
    return [reading(t, m, v) for m, v in (NORMAL | values).items()]


def cuff(t: float, sbp: float = 128.0, temp: float = 36.8) -> Message:
    return [reading(t, "sbp", sbp), reading(t, "dbp", 80.0), reading(t, "temp", temp)]


def delivered(minutes: float, lag: float, start: float = NOW, **values: float) -> list[Message]:
    """r0's messages in the order they arrive: the watch every 5 s, and from 30 s on, once a minute, a blood pressure
    and temperature stamped ``lag`` seconds before they arrive (delivered right after the watch's reading)."""
    out = []
    for k in range(int(minutes * 12)):
        t = start + 5 * k
        out.append(watch(t, **values))
        if k % 12 == 6:
            out.append(cuff(t - lag, **{m: v for m, v in values.items() if m in ("sbp", "temp")}))
    return out


Outcome = tuple[list[tuple[str, float]], list[tuple[str, float]]]


def run_engine(batches: list[Message]) -> tuple[Outcome, list[AlertDraft]]:
    e, drafts, cleared = engine(), [], []
    for rows in batches:
        found, gone = e.process(Batch(readings=rows))
        drafts += [d for d in found if d.rule.startswith("news2")]
        cleared += [(c.rule, c.at) for c in gone if c.rule.startswith("news2")]
    return (sorted((d.rule, d.opened_at) for d in drafts), sorted(cleared)), drafts


def run_reference(batches: list[Message]) -> Outcome:
    e = ReferenceEngine()
    e.population.refresh_offsets(T0)
    e.add_residents(RESIDENTS, SITES, devices())
    raised, cleared = [], []
    for rows in batches:
        found, gone = e.process(Batch(readings=rows))
        raised += [(rule, t) for _, rule, t in found if rule.startswith("news2")]
        cleared += [(rule, t) for _, rule, t in gone if rule.startswith("news2")]
    return sorted(raised), sorted(cleared)


def cuttings(messages: list[Message]) -> list[list[Message]]:
    """The messages as delivered (one batch each), in one batch, cut at random places of the arrival order, and
    with every message delivered twice."""
    rng = np.random.default_rng(1)
    cuts = sorted(rng.choice(np.arange(1, len(messages)), 7, replace=False).tolist())
    bounds = [0, *cuts, len(messages)]
    return [
        messages,
        [[r for m in messages for r in m]],
        [[r for m in messages[a:b] for r in m] for a, b in pairwise(bounds)],
        [m for m in messages for _ in range(2)],
    ]


def same_everywhere(messages: list[Message]) -> tuple[Outcome, list[AlertDraft]]:
    """The outcome of the messages however they are batched (and redelivered), the same in both implementations."""
    outcome, drafts = run_engine(messages)
    for batches in cuttings(messages):
        assert run_engine(batches)[0] == outcome
        assert run_reference(batches) == outcome
    return outcome, drafts


def test_a_blood_pressure_stamped_before_the_watchs_newest_reading_is_scored() -> None:
    """Pulse 115 and respiration 22 (2 + 2) from the watch, a systolic of 95 (2) from a cuff stamped 20 s before it
    arrives: the aggregate is 6, urgent, whatever the batches. It used to be dropped (older than the watch's newest
    reading), and without it the set was never complete: nothing was scored, in per-message batches only."""
    (raised, _), drafts = same_everywhere(delivered(30, lag=20.0, hr=115.0, rr=22.0, sbp=95.0))
    assert raised == [("news2_urgent", NOW + 120 + 600)]
    assert drafts[0].title == "NEWS2 6 (urgent response)"


def test_a_cuff_stamped_on_arrival_gives_the_same_alert() -> None:
    late = same_everywhere(delivered(30, lag=20.0, hr=115.0, rr=22.0, sbp=95.0))[0]
    assert same_everywhere(delivered(30, lag=0.0, hr=115.0, rr=22.0, sbp=95.0))[0] == late


def test_a_watch_only_resident_is_scored_from_what_the_watch_measures() -> None:
    """Pulse 115, respiration 23, SpO2 91 (2 + 2 + 3 = 7) and no cuff or thermometer: at least 7, an emergency; it
    ends when the watch's values are back to normal (this resident's blood pressure and temperature are not
    measured at all: the floor is their whole set)."""
    ill = [watch(NOW + 5 * k, hr=115.0, rr=23.0, spo2=91.0) for k in range(30 * 12)]
    well = [watch(NOW + 1800 + 5 * k) for k in range(20 * 12)]
    (raised, cleared), drafts = same_everywhere(ill + well)
    assert raised == [("news2_emergency", NOW + 120 + 120)]
    assert drafts[0].title == "NEWS2 at least 7 (emergency response)"
    assert "blood pressure and temperature not measured" in drafts[0].explanation
    assert drafts[0].evidence["facts"]["floor"] is True
    assert drafts[0].evidence["facts"]["missing"] == ["sbp", "temp"]
    [(rule, at)] = cleared
    assert rule == "news2_emergency" and NOW + 1800 < at < NOW + 1800 + 600


def test_a_missing_parameter_ends_a_level_by_what_its_last_reading_scored() -> None:
    """The same resident with a blood pressure and temperature taken 2 hours before (older than the hour they count
    for, within the 12 hours of the RCP's longest observation interval): the watch raises the emergency. A systolic
    pressure of 88 and a temperature of 35.0 then (3 + 3 points) could still hold the score at 6, above where the
    emergency ends (5), so the watch's normal values alone do not end it;
    the first score after the next cuff reading does. The morning's normal pressure (0 points) does not hold a
    recovered resident's alert: it ends with the watch's values (the clinical review: it stayed open 12 hours)."""
    ill = [watch(NOW + 5 * k, hr=115.0, rr=23.0, spo2=91.0) for k in range(30 * 12)]
    well = [watch(NOW + 1800 + 5 * k) for k in range(40 * 12)]
    later = [cuff(NOW + 1800 + 30 * 60 + 2)]
    low_then = [cuff(NOW - 2 * HOUR, sbp=88.0, temp=35.0)]
    (raised, cleared), _ = same_everywhere(low_then + ill + well[:360] + later + well[360:])
    assert raised == [("news2_emergency", NOW + 120 + 120)]
    assert cleared == [("news2_emergency", NOW + 1800 + 31 * 60)]  # the first score with the cuff's reading
    normal_then = [cuff(NOW - 2 * HOUR)]
    (raised, cleared), _ = same_everywhere(normal_then + ill + well)
    assert raised == [("news2_emergency", NOW + 120 + 120)]
    [(rule, at)] = cleared
    assert rule == "news2_emergency" and NOW + 1800 < at < NOW + 1800 + 600


def excursion(*levels: tuple[float, dict[str, float]]) -> list[Message]:
    """Every parameter from the watch every 5 s (a complete set), ``levels`` (minutes, values) one after the other."""
    out, t = [], NOW
    for minutes, values in levels:
        for _ in range(int(minutes * 12)):
            out.append(watch(t, **values) + cuff(t, **{m: v for m, v in values.items() if m in ("sbp", "temp")}))
            t += 5
    return out


EIGHT = {"rr": 26.0, "hr": 135.0, "spo2": 93.0}  # 3 + 3 + 2
FIVE = {"rr": 22.0, "hr": 115.0, "temp": 38.5}  # 2 + 2 + 1


def test_one_alert_per_deterioration_the_urgent_one_follows_the_emergency() -> None:
    """8 for 20 minutes, then 5 for 15: the emergency alert, and no urgent one beside it; when the emergency ends at
    5, the urgent alert opens at once (its 10 minutes were counted through the emergency)."""
    (raised, cleared), drafts = same_everywhere(excursion((10, {}), (20, EIGHT), (15, FIVE), (20, {})))
    emergency_at = NOW + 12 * 60 + 120 + 120  # the 5-minute medians reach 8 in minute 12
    [ended] = [at for rule, at in cleared if rule == "news2_emergency"]
    assert raised == [("news2_emergency", emergency_at), ("news2_urgent", ended)]
    titles = {d.rule: d.title for d in drafts}
    assert titles == {"news2_emergency": "NEWS2 8 (emergency response)", "news2_urgent": "NEWS2 5 (urgent response)"}
    assert "emergency" not in drafts[1].explanation


def test_a_single_3_is_an_urgent_ward_based_response() -> None:
    (raised, _), drafts = same_everywhere(excursion((20, {"rr": 26.0})))
    assert raised == [("news2_urgent", NOW + 120 + 600)]
    assert drafts[0].title == "NEWS2 3 (urgent ward-based response)"


@pytest.mark.parametrize("value", [91.0, 91.4])
def test_the_explanation_shows_what_was_measured(value: float) -> None:
    """SpO2 91, temperature 35.0, pulse 72, systolic 128: each with the band its median lay in and its newest reading,
    not the lowest value of the band (87.5 %, 34.05, 50.5, 110.5 read as measured, worse values)."""
    messages = excursion((20, {"spo2": value, "temp": 35.0, "sbp": 128.0}))
    _, [draft] = same_everywhere(messages)
    text = draft.explanation
    assert f"SpO2 median 88-91% (newest {value:g}%) -> 3" in text
    assert "temp median 35 or less °C (newest 35 °C) -> 3" in text
    assert "HR median 51-90/min (newest 72/min) -> 0" in text
    assert "SBP median 111-219 mmHg (newest 128 mmHg) -> 0" in text
    assert not any(shown in text for shown in ("87.5", "34.05", "50.5", "110.5"))
    facts = draft.evidence["facts"]
    assert facts["total"] == 6 and facts["floor"] is False and facts["missing"] == []
    assert facts["inputs"]["spo2"] == {
        "points": 3, "value": value, "time": draft.opened_at - 5, "unit": "%", "scored_from": "median",
        "median_band": [88.0, 91.0],
    }  # fmt: skip
    assert facts["inputs"]["o2"] == {"points": 0} and facts["inputs"]["avpu"] == {"points": 0}


def test_the_clinic_reads_the_score_and_the_readings_it_came_from_in_fhir() -> None:
    """The FHIR bundle of the watch-only emergency: the NEWS2 total (SNOMED CT, as the UK's FHIR guides code it) as a
    floor (">=", the parameters not measured in a note), each parameter's points, derived from LOINC vital-sign
    Observations of the readings scored."""
    ill = [watch(NOW + 5 * k, hr=115.0, rr=23.0, spo2=91.0) for k in range(5 * 12)]
    _, [draft] = run_engine(ill)
    d = draft
    alert = Alert(9, d.resident_id, d.site_id, d.rule, d.severity, AlertState.OPEN, d.opened_at, d.opened_at,
                  d.opened_at, d.title, d.explanation, d.evidence)  # fmt: skip
    bundle = Bundle.model_validate(alert_bundle(alert, None))
    score, *vitals = [e.resource for e in bundle.entry[3:]]
    assert (score.code.coding[0].system, score.code.coding[0].code) == ("http://snomed.info/sct", "1104051000000101")
    assert (score.valueQuantity.value, score.valueQuantity.comparator) == (7, ">=")
    assert "systolic blood pressure, temperature" in score.note[0].text
    points = {c.code.coding[0].code: c.valueQuantity.value for c in score.component}
    assert points["1104311000000102"] == 3 and points["1104351000000103"] == 2 and points["1104301000000104"] == 2
    measured = {v.code.coding[0].code: v.valueQuantity.value for v in vitals}
    assert measured == {"9279-1": 23.0, "59408-5": 91.0, "8867-4": 115.0}
    urls = {e.resource.get_resource_type() + str(i): e.fullUrl for i, e in enumerate(bundle.entry)}
    assert [r.reference for r in score.derivedFrom] == [urls[f"Observation{i}"] for i in range(4, 4 + len(vitals))]
    assert len(bundle.entry[2].resource.reasonReference) == 1 + len(vitals)


@pytest.mark.parametrize(
    ("band", "shown"),
    [([93.0, 93.0], "median 93%"), ([88.0, 91.0], "median 88-91%"), ([None, 85.0], "median 85 or less%")],
)
def test_a_median_band_one_step_wide_reads_as_the_value(band: list[float | None], shown: str) -> None:
    """The review: "SpO2 median 93-93%"."""
    text = early_warning._described("spo2", {"points": 2, "value": 93.0, "time": NOW, "median_band": band})
    assert f"SpO2 {shown} (newest 93%) -> 2" == text
