"""Incidents of the home: a heat wave, a heating failure (cold), smoke, gas or a water leak, an SOS press."""

from __future__ import annotations

from dataclasses import dataclass

from simulators.scenarios.base import GroundTruth, Incident, within
from simulators.tick import Tick

HEAT_WAVE_C = 30.0  # mean outdoor temperature of a heat wave's days: 35 C afternoons, warm nights
WINTER_C = 2.0  # mean outdoor temperature when the heating fails: it is winter
HEAT_HR = 6.0  # bpm: the heart works to shed heat
HEAT_TEMP_C = 0.3
DETECTOR = {"smoke": "smoke", "gas": "gas", "water_leak": "water"}  # event kind -> device kind
SOS_FROM = ("sos_button", "wearable")


@dataclass(frozen=True, slots=True)
class HeatWave(Incident):
    """Hot days with no air conditioning: the whole home (or care home) warms over hours."""

    truth: GroundTruth
    outdoor_c: float = HEAT_WAVE_C

    @classmethod
    def at(cls, resident_id: str, start: float, duration_s: float = 12 * 3600.0,
           outdoor_c: float = HEAT_WAVE_C) -> HeatWave:  # fmt: skip
        return cls(GroundTruth(resident_id, "heat_wave", start, start + duration_s, "heat"), outdoor_c)

    def steer(self, tick: Tick) -> None:
        tick.outdoor_c[tick.index.site_places(tick.index.resident(self.truth.resident_id))] = self.outdoor_c

    def vitals(self, t: float, values: dict[str, float]) -> dict[str, float]:
        if not within(self.truth, t):
            return values
        return values | {"hr": values["hr"] + HEAT_HR, "temp": round(values["temp"] + HEAT_TEMP_C, 1)}


@dataclass(frozen=True, slots=True)
class Cold(Incident):
    """The heating fails in winter: rooms cool towards the outdoor temperature over hours."""

    truth: GroundTruth
    outdoor_c: float = WINTER_C

    @classmethod
    def at(cls, resident_id: str, start: float, duration_s: float = 12 * 3600.0, outdoor_c: float = WINTER_C) -> Cold:
        return cls(GroundTruth(resident_id, "heating_failure", start, start + duration_s, "cold"), outdoor_c)

    def steer(self, tick: Tick) -> None:
        places = tick.index.site_places(tick.index.resident(self.truth.resident_id))
        tick.heating_off[places], tick.outdoor_c[places] = True, self.outdoor_c


@dataclass(frozen=True, slots=True)
class Alarm(Incident):
    """A smoke, gas or water-leak detector of the resident's home sounds from start to end."""

    truth: GroundTruth

    @classmethod
    def at(cls, resident_id: str, kind: str, start: float, duration_s: float = 600.0) -> Alarm:
        if kind not in DETECTOR:
            raise ValueError(f"kind must be one of {tuple(DETECTOR)}, got {kind!r}")
        return cls(GroundTruth(resident_id, kind, start, start + duration_s, kind))

    def steer(self, tick: Tick) -> None:
        r = tick.index.resident(self.truth.resident_id)
        tick.alarm[tick.index.device_of(r, DETECTOR[self.truth.expected_rule])] = 1


@dataclass(frozen=True, slots=True)
class Sos(Incident):
    """The resident presses their SOS pendant (or the wearable's SOS key) at start."""

    truth: GroundTruth
    via: str = "sos_button"

    @classmethod
    def at(cls, resident_id: str, start: float, via: str = "sos_button") -> Sos:
        if via not in SOS_FROM:
            raise ValueError(f"via must be one of {SOS_FROM}, got {via!r}")
        return cls(GroundTruth(resident_id, "sos", start, start + 60.0, "sos"), via)

    def steer(self, tick: Tick) -> None:
        if tick.covers(self.truth.start):
            r = tick.index.resident(self.truth.resident_id)
            tick.emit(tick.index.device_of(r, self.via), "sos", 1.0, self.truth.start)
