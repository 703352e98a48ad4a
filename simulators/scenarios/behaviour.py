"""Behaviour incidents, seen by the room sensors: night wandering, not up in the morning, no activity, a long stay
in the bathroom."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from simulators.scenarios.base import GroundTruth, Incident
from simulators.state import Activity, Posture, Room
from simulators.tick import Tick

WANDER_ROOMS = (Room.HALL, Room.KITCHEN, Room.LIVING_ROOM, Room.HALL, Room.BATHROOM)
WANDER_ROOM_S = 90.0  # time spent in each room while wandering
NOT_UP_HOLD_S = 45 * 60.0  # held in bed from before the usual wake-up time, which varies by half an hour
BATHROOM_MOVE_EVERY_S = 600  # someone stuck on the toilet shifts now and then; the presence sensor stays occupied


@dataclass(frozen=True, slots=True)
class NightWandering(Incident):
    """Up at night, walking from room to room; with ``leaves_home`` out of the front door for the middle third."""

    truth: GroundTruth
    leaves_home: bool = False

    @classmethod
    def at(cls, resident_id: str, start: float, duration_s: float = 1800.0,
           leaves_home: bool = False) -> NightWandering:  # fmt: skip
        return cls(GroundTruth(resident_id, "night_wandering", start, start + duration_s, "night_wandering"),
                   leaves_home)  # fmt: skip

    def steer(self, tick: Tick) -> None:
        r, b = tick.index.resident(self.truth.resident_id), tick.behaviour
        elapsed, length = tick.t - self.truth.start, self.truth.end - self.truth.start
        room = WANDER_ROOMS[int(elapsed // WANDER_ROOM_S) % len(WANDER_ROOMS)]
        if self.leaves_home and length / 3 <= elapsed < 2 * length / 3:
            room = Room.OUTSIDE
        b.activity[r], b.posture[r], b.moving[r] = Activity.WANDER, Posture.WALKING, True
        b.place[r], b.in_bed[r], b.in_chair[r] = tick.place_of(r, room), False, False


@dataclass(frozen=True, slots=True)
class NotUp(Incident):
    """Still in bed, barely moving, past the usual time of getting up (start it at that time; the resident is kept
    in bed from ``NOT_UP_HOLD_S`` before, so that an early riser does not get up first). A toilet visit the routine
    plans meanwhile still happens: unwell or not, the resident gets up for it, walks there and back, and goes back
    to bed (a not-up morning often looks like that: out of bed for minutes, then in bed again). The ground truth
    stays: the resident does not get up for the day."""

    truth: GroundTruth
    alone: ClassVar[bool] = True

    @property
    def active_from(self) -> float:
        return self.truth.start - NOT_UP_HOLD_S

    @classmethod
    def at(cls, resident_id: str, start: float, duration_s: float = 3 * 3600.0) -> NotUp:
        return cls(GroundTruth(resident_id, "not_up", start, start + duration_s, "not_up", ("no_activity",)))

    def steer(self, tick: Tick) -> None:
        r, b = tick.index.resident(self.truth.resident_id), tick.behaviour
        to_bed = b.activity[r] == Activity.SLEEP and b.posture[r] == Posture.WALKING  # back from the toilet at night
        if b.activity[r] == Activity.TOILET or to_bed:
            return
        b.activity[r], b.posture[r], b.moving[r] = Activity.SLEEP, Posture.LYING, False
        b.place[r], b.in_bed[r], b.in_chair[r] = tick.place_of(r, Room.BEDROOM), True, False


@dataclass(frozen=True, slots=True)
class NoActivity(Incident):
    """Motionless in the living-room chair during the day (unwell, drowsy): no room sensor sees a movement."""

    truth: GroundTruth
    alone: ClassVar[bool] = True

    @classmethod
    def at(cls, resident_id: str, start: float, duration_s: float = 3 * 3600.0) -> NoActivity:
        return cls(GroundTruth(resident_id, "no_activity", start, start + duration_s, "no_activity"))

    def steer(self, tick: Tick) -> None:
        r, b = tick.index.resident(self.truth.resident_id), tick.behaviour
        b.activity[r], b.posture[r], b.moving[r] = Activity.STILL, Posture.SITTING, False
        b.place[r], b.in_bed[r], b.in_chair[r] = tick.place_of(r, Room.LIVING_ROOM), False, True


@dataclass(frozen=True, slots=True)
class BathroomLong(Incident):
    """In the bathroom far longer than a visit takes (unwell, unable to get up)."""

    truth: GroundTruth

    @classmethod
    def at(cls, resident_id: str, start: float, duration_s: float = 5400.0) -> BathroomLong:
        return cls(GroundTruth(resident_id, "bathroom_long", start, start + duration_s, "bathroom_long"))

    def steer(self, tick: Tick) -> None:
        r, b = tick.index.resident(self.truth.resident_id), tick.behaviour
        b.activity[r], b.posture[r] = Activity.TOILET, Posture.SITTING
        b.moving[r] = int(tick.t - self.truth.start) % BATHROOM_MOVE_EVERY_S < tick.dt
        b.place[r], b.in_bed[r], b.in_chair[r] = tick.place_of(r, Room.BATHROOM), False, False
