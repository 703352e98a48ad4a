"""Device incidents: a device goes offline, a battery runs flat, the wearable is left off, artefact bursts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from simulators.scenarios.base import NO_RULE, GroundTruth, Incident
from simulators.state import FloatArray
from simulators.tick import Tick

LOW_BATTERY_FROM = 18.0  # % at the start of a battery_low incident; it runs flat at DEAD_AT of the window
DEAD_AT = 0.8
REPLACED = 100.0  # a carer changes the cell at the end
KNOCK_P = 0.15  # per accelerometer block during an artefact burst: the device knocks against something
KNOCK_G = (4.0, 8.0)  # a sharp knock: above a fall's impact threshold, with no change of posture after it


@dataclass(frozen=True, slots=True)
class DeviceOffline(Incident):
    """A device sends nothing from start to end (unplugged gateway, out of range, broken)."""

    truth: GroundTruth

    @classmethod
    def at(cls, resident_id: str, device_id: str, start: float, duration_s: float = 3600.0) -> DeviceOffline:
        return cls(GroundTruth(resident_id, "device_offline", start, start + duration_s, "device_offline",
                               device_id=device_id))  # fmt: skip

    def steer(self, tick: Tick) -> None:
        tick.offline[tick.index.device(self.truth.device_id or "")] = True


@dataclass(frozen=True, slots=True)
class BatteryLow(Incident):
    """A device's battery sinks from ``LOW_BATTERY_FROM`` % to empty; dead (silent) until replaced at the end."""

    truth: GroundTruth

    @classmethod
    def at(cls, resident_id: str, device_id: str, start: float, duration_s: float = 6 * 3600.0) -> BatteryLow:
        return cls(GroundTruth(resident_id, "battery_low", start, start + duration_s, "battery_low",
                               ("device_offline",), device_id))  # fmt: skip

    @property
    def active_until(self) -> float:
        return self.truth.end + 1.0  # one more tick to replace the cell

    def steer(self, tick: Tick) -> None:
        d = tick.index.device(self.truth.device_id or "")
        if tick.t >= self.truth.end:
            tick.battery[d] = REPLACED
            return
        progress = (tick.t - self.truth.start) / ((self.truth.end - self.truth.start) * DEAD_AT)
        tick.battery[d] = min(tick.battery[d], LOW_BATTERY_FROM * max(0.0, 1.0 - progress))


@dataclass(frozen=True, slots=True)
class NotWorn(Incident):
    """The wearable stays on the bedside table for hours during the day."""

    truth: GroundTruth

    @classmethod
    def at(cls, resident_id: str, start: float, duration_s: float = 4 * 3600.0) -> NotWorn:
        return cls(GroundTruth(resident_id, "not_worn", start, start + duration_s, "not_worn"))

    def steer(self, tick: Tick) -> None:
        tick.worn[tick.index.resident(self.truth.resident_id)] = False


@dataclass(frozen=True, slots=True)
class ArtefactBurst(Incident):
    """Minutes of sensor garbage: every vital-sign reading an error code, the accelerometer knocked about. Ingest
    flags the readings as artefacts and no rule should fire."""

    truth: GroundTruth
    seed: int = 0
    needs_wearable: ClassVar[bool] = True

    @classmethod
    def at(cls, resident_id: str, start: float, duration_s: float = 300.0, seed: int = 0) -> ArtefactBurst:
        return cls(GroundTruth(resident_id, "artefact_burst", start, start + duration_s, NO_RULE), seed)

    def steer(self, tick: Tick) -> None:
        tick.artefact[tick.index.resident(self.truth.resident_id)] = 1

    def motion(self, t: float, offsets: FloatArray, block: FloatArray, rate_hz: float) -> FloatArray:
        rng = np.random.default_rng([self.seed, round(t * 1000)])
        if rng.random() >= KNOCK_P:
            return block
        out = block.copy()
        direction = rng.normal(size=3)
        out[rng.integers(0, block.shape[0])] = rng.uniform(*KNOCK_G) * direction / np.linalg.norm(direction)
        return out
