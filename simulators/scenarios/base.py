"""What a scenario is: an incident for one resident over a time window, changing what their devices report, and the
ground truth that says which alert rule should fire for it.

Two shapes are accepted by `simulators.runner.Simulation`:

- `Scenario` (the original protocol): ``truth`` and ``vitals(t, values)``, changing vital signs only.
- `Incident`, the base of the library's scenarios: also ``steer`` (behaviour, devices, rooms, events, every tick
  while active) and ``motion`` (the accelerometer). Its hooks do nothing unless a subclass overrides them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from simulators.state import FloatArray
from simulators.tick import Tick

# The alert core's rule names (docs/rules.md; the ground truth's expected_rule and also); "none" where no alert should
# fire (artefacts, background episodes such as a shower with the wearable off).
RULES = ("spo2_low", "hr_high", "hr_low", "rr_high", "rr_low", "sbp_high", "sbp_low", "dbp_high", "temp_high",
         "temp_low", "news2_urgent", "news2_emergency", "baseline_deviation", "spo2_falling", "temp_rising", "fall",
         "fall_long_lie", "sos", "no_activity", "not_up", "bathroom_long", "night_wandering", "heat", "cold", "smoke",
         "gas", "water_leak", "device_offline", "battery_low", "not_worn")  # fmt: skip
NO_RULE = "none"
# An expected rule -> the rules whose alert finds it: NEWS2's emergency level is its urgent level and more (the urgent
# alert does not open while the emergency one does: one alert per deterioration, alerts.rules.early_warning).
STANDS_FOR = {"news2_urgent": ("news2_urgent", "news2_emergency")}


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """What a scenario injected, and which rule should fire for it.

    ``also`` lists rules that may rightly fire too (a long lie is also a fall); ``device_id`` names the device an
    incident concerns (one that goes offline); ``background`` marks ordinary life that no rule should alert on
    (charging, a shower, a visitor, a motion artefact), logged so that an evaluation can explain false alerts;
    ``unobservable`` says why the run that injected it cannot show its expected alert (None: it can), such as a fall
    that only an accelerometer stream would show, in a run without one.
    """

    resident_id: str
    scenario: str
    start: float
    end: float
    expected_rule: str
    also: tuple[str, ...] = ()
    device_id: str | None = None
    background: bool = False
    unobservable: str | None = None

    def __post_init__(self) -> None:
        unknown = {self.expected_rule, *self.also} - {*RULES, NO_RULE}
        if unknown:
            raise ValueError(f"unknown rule names {sorted(unknown)}; known: {RULES}")
        if self.end < self.start:
            raise ValueError(f"ground truth ends ({self.end}) before it starts ({self.start})")

    @property
    def found_by(self) -> tuple[str, ...]:
        """The rules whose alert finds it: its expected rule, or a higher level of the same score (``STANDS_FOR``)."""
        return STANDS_FOR.get(self.expected_rule, (self.expected_rule,))

    def as_json(self) -> dict[str, Any]:
        return {"resident_id": self.resident_id, "scenario": self.scenario, "start": self.start, "end": self.end,
                "expected_rule": self.expected_rule, "also": list(self.also), "device_id": self.device_id,
                "background": self.background, "unobservable": self.unobservable}  # fmt: skip


class Scenario(Protocol):
    truth: GroundTruth

    def vitals(self, t: float, values: dict[str, float]) -> dict[str, float]:
        """The resident's vitals at time t, given what they would have been without the incident."""


class Incident:
    """Base of the scenario library. Subclasses are frozen dataclasses with a ``truth`` field.

    The simulation calls the hooks of an incident for every tick that overlaps ``[active_from, active_until)``
    (so the tick holding the start is affected as a whole, and an instant such as an SOS press is never missed):
    ``steer`` first, ``vitals`` when the resident's wearable takes a reading, ``motion`` for its accelerometer
    block.
    """

    __slots__ = ()
    truth: GroundTruth
    # Seen through the wearable: the resident wears it while the incident is active (not in the shower, not charging),
    # or no rule could see it and the ground truth would be wrong.
    needs_wearable: ClassVar[bool] = False
    # Happens alone: nobody visits the home meanwhile (a visitor would find a fallen resident, or be the very activity
    # a no-activity incident lacks, and the ground truth would be wrong).
    alone: ClassVar[bool] = False

    @property
    def active_from(self) -> float:
        return self.truth.start

    @property
    def active_until(self) -> float:
        return self.truth.end

    def steer(self, tick: Tick) -> None:
        """Change this tick's behaviour, devices, rooms or events (see `simulators.tick.Tick`)."""

    def vitals(self, t: float, values: dict[str, float]) -> dict[str, float]:
        """The resident's vitals at ``t`` (keys: the vitals metrics of carewatch.catalog), given what they would
        have been without the incident. Keys added here (``avpu``, ``o2``) are sent too."""
        return values

    def motion(self, t: float, offsets: FloatArray, block: FloatArray, rate_hz: float) -> FloatArray:
        """The resident's accelerometer block ``(n, 3)`` in g (canonical waist frame, `simulators.accel`) for the
        tick at ``t``, sample ``i`` at ``t + offsets[i]``, given what it would have been."""
        return block


@dataclass(frozen=True, slots=True)
class VitalsOnly(Incident):
    """A `Scenario` of the original protocol, run as an incident."""

    scenario: Scenario
    needs_wearable: ClassVar[bool] = True

    @property
    def truth(self) -> GroundTruth:  # type: ignore[override]
        return self.scenario.truth

    def vitals(self, t: float, values: dict[str, float]) -> dict[str, float]:
        return self.scenario.vitals(t, values)


def within(truth: GroundTruth, t: float) -> bool:
    return truth.start <= t < truth.end


def progress(truth: GroundTruth, t: float, ramp_s: float) -> float:
    """How far an incident's onset ramp has come at ``t``: 0 at its start, 1 from ``ramp_s`` after it on."""
    return min(1.0, (t - truth.start) / ramp_s)


def jitter(seed: int, t: float, size: int) -> FloatArray:
    """``size`` standard normal draws for the reading at ``t``: the same for the same ``seed`` and ``t``, so that a
    run is reproducible however it is paced."""
    return np.random.default_rng([seed, round(t * 1000)]).normal(size=size)
