"""The rule registry: rules are data, each an entry here evaluated for all residents at once. docs/rules.md is the
table for people; every default below carries its source."""

from __future__ import annotations

import numpy as np

from alerts.rules.base import Findings, Parameter, Rule
from alerts.rules.baseline import BaselineRule
from alerts.rules.behaviour import NoActivityRule, NotUpRule
from alerts.rules.devices import DeviceOfflineRule
from alerts.rules.early_warning import News2Rule, News2Scorer
from alerts.rules.held import HeldRule, HeldSpec
from alerts.rules.safety import FallRule, LongLieRule, NightWanderingRule, SosRule
from alerts.rules.threshold import DIP_FRACTION, ThresholdBank, ThresholdRule, ThresholdSpec
from alerts.rules.trend import TrendRule, TrendSpec
from carewatch.model import Resident, Severity

__all__ = ["Findings", "Parameter", "Rule", "default_rules"]

NEWS2 = "RCP NEWS2 2017, Chart 1"
VITALS_GAP_S = 120.0  # wearables send vitals every few seconds; two minutes without one is a device gap
SPOT_GAP_S = 1800.0  # blood pressure and temperature may come from a cuff or thermometer every 15-30 minutes


def _spo2_targets(resident: Resident) -> tuple[float, float]:
    # BTS 2017 oxygen guideline: target 94-98 %, or 88-92 % in hypercapnic respiratory failure (NEWS2 SpO2 scale 2).
    return (86.0, 88.0) if resident.spo2_scale == 2 else (90.0, 92.0)


def _spo2_target_floor(resident: Resident) -> float:
    # BTS 2017: a scale-2 (hypercapnic) resident's target is 88-92 %; a fall into it from above is the intended
    # correction (oxygen titrated down), so spo2_falling needs the level under 88 %. Scale 1: anywhere.
    return 88.0 if resident.spo2_scale == 2 else np.inf


SPO2_LOW = ThresholdSpec(
    name="spo2_low", metric="spo2", below=True, enter=90.0, leave=92.0, persist_s=60.0, max_gap_s=VITALS_GAP_S,
    severity=Severity.URGENT, for_resident=_spo2_targets, dip_fraction=DIP_FRACTION,
    source="BTS 2017 emergency oxygen guideline (SpO2 < 90 % is hypoxaemia; 4 points under the 94 % target floor; "
    "88-92 % target for NEWS2 scale 2 residents, alert below 86 %); 60 s with most readings under the limit, "
    "through dips of up to 12 s (design choice): a single low reading (a motion artefact) never alerts, and probe "
    "noise does not restart a sustained hypoxaemia's clock",
)  # fmt: skip
HR_HIGH = ThresholdSpec(
    name="hr_high", metric="hr", below=False, enter=130.0, leave=120.0, persist_s=300.0, max_gap_s=VITALS_GAP_S,
    severity=Severity.URGENT, dip_fraction=DIP_FRACTION,
    source=f"{NEWS2}: pulse >= 131/min scores 3; 5 min persistence, also while walking: 130/min is about 90 % of "
    "the age-predicted maximum (220 - age) at 75, which an older adult's ordinary walking stays well under",
)  # fmt: skip
HR_LOW = ThresholdSpec(
    name="hr_low", metric="hr", below=True, enter=40.0, leave=45.0, persist_s=120.0, max_gap_s=VITALS_GAP_S,
    severity=Severity.URGENT, dip_fraction=DIP_FRACTION, inclusive=True,
    source=f"{NEWS2}: pulse <= 40/min scores 3 (so a pulse of 40 is beyond the limit)",
)  # fmt: skip
RR_HIGH = ThresholdSpec(
    name="rr_high", metric="rr", below=False, enter=24.0, leave=20.0, persist_s=300.0, max_gap_s=VITALS_GAP_S,
    at_rest=True, severity=Severity.URGENT, dip_fraction=DIP_FRACTION,
    source=f"{NEWS2}: respiration >= 25/min scores 3; 5 min persistence for wearable-derived rates",
)  # fmt: skip
RR_LOW = ThresholdSpec(
    name="rr_low", metric="rr", below=True, enter=9.0, leave=12.0, persist_s=120.0, max_gap_s=VITALS_GAP_S,
    severity=Severity.URGENT, source=f"{NEWS2}: respiration <= 8/min scores 3",
)  # fmt: skip
SBP_HIGH = ThresholdSpec(
    name="sbp_high", metric="sbp", below=False, enter=180.0, leave=170.0, persist_s=300.0, max_gap_s=SPOT_GAP_S,
    at_rest=True, severity=Severity.URGENT, inclusive=True,
    source="NICE NG136 (2019): blood pressure of 180/120 mmHg or more is severe hypertension needing same-day "
    "assessment; a second reading 5 minutes later confirms it",
)  # fmt: skip
SBP_LOW = ThresholdSpec(
    name="sbp_low", metric="sbp", below=True, enter=90.0, leave=100.0, persist_s=300.0, max_gap_s=SPOT_GAP_S,
    severity=Severity.URGENT, dip_fraction=DIP_FRACTION, inclusive=True,
    source=f"{NEWS2}: systolic <= 90 mmHg scores 3 (hypotension); 5 min with most readings at or under 90 (design "
    "choice)",
)  # fmt: skip
DBP_HIGH = ThresholdSpec(
    name="dbp_high", metric="dbp", below=False, enter=120.0, leave=110.0, persist_s=300.0, max_gap_s=SPOT_GAP_S,
    at_rest=True, severity=Severity.URGENT, inclusive=True,
    source="NICE NG136 (2019): diastolic 120 mmHg or more is severe hypertension",
)  # fmt: skip
TEMP_HIGH = ThresholdSpec(
    name="temp_high", metric="temp", below=False, enter=37.8, leave=37.5, persist_s=600.0, max_gap_s=SPOT_GAP_S,
    severity=Severity.WARNING,
    source="IDSA 2008 guideline on fever in long-term-care residents (High et al., Clin Infect Dis 2009;48:149-71): "
    "fever is a single temperature > 37.8 degC; 10 min persistence for skin sensors",
)  # fmt: skip
TEMP_LOW = ThresholdSpec(
    name="temp_low", metric="temp", below=True, enter=35.0, leave=35.5, persist_s=600.0, max_gap_s=SPOT_GAP_S,
    severity=Severity.URGENT, inclusive=True,
    source=f"{NEWS2}: temperature <= 35.0 degC scores 3 (so 35.0 is beyond the limit); hypothermia is a core "
    "temperature < 35 degC, and a skin or wrist reading runs under the core",
)  # fmt: skip
THRESHOLDS = (SPO2_LOW, HR_HIGH, HR_LOW, RR_HIGH, RR_LOW, SBP_HIGH, SBP_LOW, DBP_HIGH, TEMP_HIGH, TEMP_LOW)

SPO2_FALLING = TrendSpec(
    name="spo2_falling", metric="spo2", falling=True, slot_s=10.0, window=6, lookback=10, delta=4.0, leave_delta=2.0,
    min_count=3, severity=Severity.WARNING, at_rest=True, ends_beyond=_spo2_target_floor,
    source="BTS 2017 oxygen guideline: a fall of 3 % or more within the target range calls for assessment; "
    "4 points between 1-minute means over 10 minutes allows for probe noise; at rest, as SpO2 is observed "
    "(desaturation on effort is COPD's ordinary physiology); for NEWS2 scale 2 residents (target 88-92 %) only a "
    "fall that ends under 88 %: one from above into the target is the intended correction",
)  # fmt: skip
TEMP_RISING = TrendSpec(
    name="temp_rising", metric="temp", falling=False, slot_s=300.0, window=2, lookback=12, delta=1.0,
    leave_delta=0.5, min_count=1, severity=Severity.WARNING, above_usual=0.5, usual_cap=37.2,
    source="IDSA 2008 (High et al. 2009): a rise of more than 1.1 degC over baseline, or repeated readings above "
    "37.2 degC, are fever in long-term care; 1.0 degC between 10-minute means within 2 h flags it before 37.8 degC "
    "is reached, once above 37.2 degC or, with the resident's usual learned, 0.5 degC above it (the top of a day's "
    "ordinary swing: body temperature's circadian range is under 1 degC); a rise ending in the ordinary range, or "
    "starting from hypothermia (<= 35.0 degC), is not a fever's",
)  # fmt: skip

NOT_WORN = HeldSpec(
    name="not_worn", severity=Severity.INFO, signal="worn", below=True, enter=0.5, leave=0.5, persist_s=7200.0,
    per_device=True, title="Wearable not worn for {duration}",
    text="The wearable {device} has reported that it is off the body for {duration} (alerts after {persist}): no "
    "vital signs or fall detection from it meanwhile.",
    source="manufacturer practice: a wearable charges in 1-2 h, so off the body longer means it was not put back on",
)  # fmt: skip
BATTERY_LOW = HeldSpec(
    name="battery_low", severity=Severity.WARNING, signal="battery", below=True, enter=15.0, leave=25.0,
    persist_s=0.0, per_device=True,
    title="Battery {value} %", text="The battery of {device} is at {value} % (alerts below {threshold} %).",
    source="manufacturer practice: phones and wearables warn at 15-20 %; cleared at 25 % (on charge)",
)  # fmt: skip
BATHROOM_LONG = HeldSpec(
    name="bathroom_long", severity=Severity.URGENT, signal="bathroom", events=True, below=False, enter=0.5,
    leave=0.5, persist_s=2700.0,
    title="Bathroom occupied {duration}",
    text="The bathroom has been occupied for {duration} (alerts after {persist}): a fall there is common.",
    source="no published standard: 45 minutes is well beyond ordinary bathroom use (telecare practice); per resident",
)  # fmt: skip
HEAT = HeldSpec(
    name="heat", severity=Severity.WARNING, signal="room_temp", below=False, enter=26.0, leave=25.0,
    persist_s=1800.0, clinician_threshold=True,
    title="Room {value} {unit}", text="The room has been above {threshold} {unit} for {duration}; now {value} {unit}.",
    source="WHO Europe heat-health action plans (2008) and the UK Heatwave Plan: keep the rooms of vulnerable "
    "people below 26 degC",
)  # fmt: skip
COLD = HeldSpec(
    name="cold", severity=Severity.WARNING, signal="room_temp", below=True, enter=18.0, leave=19.0,
    persist_s=3600.0, clinician_threshold=True,
    title="Room {value} {unit}", text="The room has been below {threshold} {unit} for {duration}; now {value} {unit}.",
    source="WHO Housing and health guidelines (2018): at least 18 degC indoors in the cold season, more for older "
    "people",
)  # fmt: skip
SMOKE = HeldSpec(
    name="smoke", severity=Severity.CRITICAL, signal="smoke", events=True, below=False, enter=0.5, leave=0.5,
    persist_s=0.0, clears=False, title="Smoke detected", text="A smoke detector is in alarm.",
    source="the detector's own alarm (EN 14604 smoke alarm devices): alerted at once, resolved by an operator",
)  # fmt: skip
GAS = HeldSpec(
    name="gas", severity=Severity.CRITICAL, signal="gas", events=True, below=False, enter=0.5, leave=0.5,
    persist_s=0.0, clears=False, title="Gas detected", text="A gas detector is in alarm.",
    source="the detector's own alarm (EN 50194-1 gas alarms): alerted at once, resolved by an operator",
)  # fmt: skip
WATER_LEAK = HeldSpec(
    name="water_leak", severity=Severity.WARNING, signal="water_leak", events=True, below=False, enter=0.5,
    leave=0.5, persist_s=0.0, title="Water leak", text="A water sensor reports a leak.",
    source="the sensor's own alarm (manufacturer practice): alerted at once, cleared when it reports dry",
)  # fmt: skip


def default_rules() -> list[Rule]:
    """A fresh instance of every rule (each holds its own per-resident state)."""
    bank = ThresholdBank()  # the ten evaluated in one pass
    thresholds = {spec.name: ThresholdRule(spec, bank) for spec in THRESHOLDS}
    t = thresholds
    limits = {
        "hr": (t["hr_low"], t["hr_high"]), "rr": (t["rr_low"], t["rr_high"]), "spo2": (t["spo2_low"], None),
        "temp": (t["temp_low"], t["temp_high"]), "sbp": (t["sbp_low"], t["sbp_high"]),
    }  # fmt: skip
    scorer = News2Scorer()
    return [
        *thresholds.values(),
        News2Rule("news2_urgent", scorer, emergency=False),
        News2Rule("news2_emergency", scorer, emergency=True),
        BaselineRule(limits),
        TrendRule(SPO2_FALLING, t["spo2_low"]),
        TrendRule(TEMP_RISING, t["temp_high"], origin=t["temp_low"]),  # not a recovery from hypothermia
        FallRule(),
        LongLieRule(),
        SosRule(),
        NoActivityRule(),
        NotUpRule(),
        HeldRule(BATHROOM_LONG),
        NightWanderingRule(),
        HeldRule(HEAT),
        HeldRule(COLD),
        HeldRule(SMOKE),
        HeldRule(GAS),
        HeldRule(WATER_LEAK),
        DeviceOfflineRule(),
        HeldRule(BATTERY_LOW),
        HeldRule(NOT_WORN),
    ]
