"""Simulated time against the wall clock: a run at ``speed`` 1 is real time, at 60 an hour a minute, at ``inf`` as
fast as the machine goes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Clock:
    """Maps simulated time to wall time: sim = start + (wall - wall_start) * speed."""

    start: float
    speed: float
    wall_start: float

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be positive (math.inf: as fast as possible), got {self.speed}")

    def wall_at(self, sim_t: float) -> float:
        if math.isinf(self.speed):
            return self.wall_start
        return self.wall_start + (sim_t - self.start) / self.speed


def placed_start(duration_s: float, speed: float, now: float) -> float:
    """Where a run of ``duration_s`` simulated seconds at ``speed`` starts so that no timestamp runs ahead of the
    wall clock (ingest rejects the future): now in real time, ``duration_s`` ago when accelerated (the run ends about
    now)."""
    return now if speed <= 1.0 else now - duration_s


def utc_offset_s(timezone: str, t: float) -> float:
    """The UTC offset of ``timezone`` at epoch ``t``, in seconds (a simulation takes it once, at its start)."""
    offset = ZoneInfo(timezone).utcoffset(datetime.fromtimestamp(t, UTC))
    return offset.total_seconds() if offset is not None else 0.0
