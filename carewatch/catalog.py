"""The metric and event catalogue: canonical units, plausible ranges and dense ids for the alert core's arrays.

The plausible ranges bound what a human body or a room can produce; a value outside is a sensor artefact, stored
flagged and never alerted on (docs/protocol.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Stream(StrEnum):
    VITALS = "vitals"
    MOTION = "motion"
    EVENT = "event"
    STATUS = "status"


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    stream: Stream
    unit: str
    low: float  # plausible range, inclusive
    high: float
    label: str


METRICS: tuple[Metric, ...] = (
    Metric("hr", Stream.VITALS, "bpm", 20, 300, "heart rate"),
    Metric("spo2", Stream.VITALS, "%", 50, 100, "SpO2"),
    Metric("rr", Stream.VITALS, "/min", 2, 70, "respiratory rate"),
    Metric("sbp", Stream.VITALS, "mmHg", 40, 300, "systolic blood pressure"),
    Metric("dbp", Stream.VITALS, "mmHg", 20, 200, "diastolic blood pressure"),
    Metric("temp", Stream.VITALS, "Cel", 30, 43, "body temperature"),
    Metric("steps", Stream.VITALS, "1", 0, 100_000, "steps today"),
    Metric("o2", Stream.VITALS, "1", 0, 1, "on supplemental oxygen"),
    Metric("avpu", Stream.VITALS, "1", 0, 1, "new confusion or not alert"),
    Metric("battery", Stream.STATUS, "%", 0, 100, "battery"),
    Metric("worn", Stream.STATUS, "1", 0, 1, "wearable worn"),
    Metric("rssi", Stream.STATUS, "dB", -130, 0, "signal strength"),
    Metric("room_temp", Stream.STATUS, "Cel", -40, 70, "room temperature"),
    Metric("humidity", Stream.STATUS, "%", 0, 100, "humidity"),
)
METRIC_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}

# What operators read in alerts' titles and explanations (the UCUM codes stay in FHIR and the evidence): a unit's
# symbol, and each metric's values at the resolution its readings have (tenths of a degree, whole units otherwise).
SYMBOLS = {"Cel": "\N{DEGREE SIGN}C"}
DECIMALS = {"temp": 1, "room_temp": 1}


def symbol(metric: Metric) -> str:
    """The metric's unit as a person writes it ("°C" for UCUM's "Cel")."""
    return SYMBOLS.get(metric.unit, metric.unit)


def shown(metric: Metric, value: float) -> str:
    """A value as an operator reads it: at its readings' resolution (a temperature converted from degF, 38.6111, is
    38.6), a tenth more where it is a mean between those steps (SpO2 92.3 %, but 92 where whole)."""
    places = DECIMALS.get(metric.name, 0)
    if abs(value - round(value, places)) > 1e-9:
        places = max(places, 1)
    return f"{value:.{places}f}"


# What a wearable senses on the body: meaningless while it reports itself off the body (``worn`` 0), so an artefact
# then (ingest/sensor_off.py flags it as stored, alerts/signals.py drops it).
BODY_METRICS: frozenset[str] = frozenset({"hr", "spo2", "rr", "sbp", "dbp", "temp"})
# Whether a wearable is worn is the device's own state (a resident may have two). After a restart both read it back
# from storage: each device's newest ``worn`` reading of the last 6 hours (a wearable sends it every minute, on the
# body or off it; one silent longer counts as worn until it says otherwise).
WORN_LOOKBACK_S = 6 * 3600.0
METRIC_ID: dict[str, int] = {m.name: i for i, m in enumerate(METRICS)}

EVENT_KINDS: tuple[str, ...] = (
    "sos", "fall", "motion", "door", "bed", "chair", "bathroom", "smoke", "gas", "water_leak",
)  # fmt: skip
EVENT_ID: dict[str, int] = {k: i for i, k in enumerate(EVENT_KINDS)}

# The alert core's rules by name (alerts.rules.default_rules; tests/alerts/test_rules.py keeps the two equal): what a
# family contact's preferences may name.
RULE_NAMES: tuple[str, ...] = (
    "spo2_low", "hr_high", "hr_low", "rr_high", "rr_low", "sbp_high", "sbp_low", "dbp_high", "temp_high", "temp_low",
    "news2_urgent", "news2_emergency", "baseline_deviation", "spo2_falling", "temp_rising", "fall", "fall_long_lie",
    "sos", "no_activity", "not_up", "bathroom_long", "night_wandering", "heat", "cold", "smoke", "gas", "water_leak",
    "device_offline", "battery_low", "not_worn",
)  # fmt: skip

FAHRENHEIT = "[degF]"
FAHRENHEIT_CONVERTIBLE = frozenset({"temp", "room_temp"})


def fahrenheit_to_celsius(value: float) -> float:
    return (value - 32.0) * 5.0 / 9.0
