"""The simulator's vocabulary (rooms, activities, postures) and the per-tick state that scenarios may steer.

Residents are rows of dense arrays: resident ``r`` is row ``r`` of every ``(N,)`` array, device ``d`` row ``d`` of
every ``(D,)`` array, place ``p`` row ``p`` of every ``(P,)`` array (indices into ``World.residents``,
``World.devices``, ``World.places``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
NO_DEVICE = -1  # an index that names no device (a resident without one, a place without a door)


class Room(IntEnum):
    """Kinds of place. An institution's residents eat in the dining room (KITCHEN) and sit in the lounge or their own
    room (LIVING_ROOM); its corridor plays the HALL. OUTSIDE has no sensors."""

    BEDROOM = 0
    BATHROOM = 1
    KITCHEN = 2
    LIVING_ROOM = 3
    HALL = 4
    OUTSIDE = 5


class Activity(IntEnum):
    """What a resident is doing; the daily routine chooses, scenarios may override."""

    SLEEP = 0  # in bed
    WASH = 1  # morning wash or shower, bathroom
    TOILET = 2  # bathroom
    MEAL = 3  # cooking and eating, kitchen or dining room
    SIT = 4  # sitting in the living room or lounge, TV, reading
    NAP = 5  # dozing in the chair
    OUT = 6  # out of the home: a walk, shopping
    WANDER = 7  # up and walking about at night (scenario)
    FLOOR = 8  # lying on the floor after a fall (scenario)
    STILL = 9  # motionless in a chair, unwell (scenario)


class Posture(IntEnum):
    LYING = 0
    SITTING = 1
    STANDING = 2
    WALKING = 3


@dataclass(slots=True)
class Behaviour:
    """Where every resident is and what they are doing at one tick; all arrays ``(N,)``.

    The routine fills it; active scenarios then steer their resident's row; sensors, the accelerometer and the
    physiology read it.
    """

    activity: IntArray
    place: IntArray  # index into World.places
    posture: IntArray  # Posture
    moving: BoolArray  # moving enough for a PIR sensor to see it
    in_bed: BoolArray
    in_chair: BoolArray
    lying_side: IntArray  # 0 on the back, 1 left, 2 right, 3 face down: which way gravity points when LYING

    @classmethod
    def empty(cls, n: int) -> Behaviour:
        return cls(
            activity=np.full(n, Activity.SIT, np.int64), place=np.zeros(n, np.int64),
            posture=np.full(n, Posture.SITTING, np.int64), moving=np.zeros(n, bool), in_bed=np.zeros(n, bool),
            in_chair=np.zeros(n, bool), lying_side=np.zeros(n, np.int64),
        )  # fmt: skip
