"""Tests of simulators.routine: plausible days (in bed at night, bathroom visits, meals in the kitchen)."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.floorplans import build_world
from simulators.routine import Routine
from simulators.state import Activity, Behaviour, Posture, Room

T0 = 1_764_374_400.0  # 2025-11-29 00:00 UTC
STEP_S = 60.0


@pytest.fixture(scope="module")
def day() -> tuple[list[Behaviour], Routine]:
    """A day of 300 residents at home, sampled every minute."""
    world = build_world("home", 300, 1, seed=5)
    routine = Routine(world, np.random.default_rng(1), np.zeros(len(world.residents)))
    behaviours = []
    for k in range(int(86_400 / STEP_S)):
        b = routine.advance(T0 + k * STEP_S, STEP_S)
        routine.settle(b.place)
        behaviours.append(b)
    return behaviours, routine


def share(behaviours: list[Behaviour], hour: float, activity: Activity) -> float:
    b = behaviours[int(hour * 3600 / STEP_S)]
    return float(np.mean(b.activity == activity))


def test_residents_are_in_bed_at_night(day: tuple[list[Behaviour], Routine]) -> None:
    behaviours, _ = day
    for hour in (1.0, 3.0, 4.5):
        b = behaviours[int(hour * 60)]
        assert np.mean(b.in_bed) > 0.9
        assert np.all(b.posture[b.in_bed] == Posture.LYING)
    assert np.mean(behaviours[(11 * 60)].in_bed) < 0.02


def test_meals_in_the_kitchen_at_meal_times(day: tuple[list[Behaviour], Routine]) -> None:
    behaviours, _ = day
    assert share(behaviours, 12.25, Activity.MEAL) > 0.4
    assert share(behaviours, 18.2, Activity.MEAL) > 0.3
    assert share(behaviours, 15.5, Activity.MEAL) < 0.05
    b = behaviours[int(12.25 * 60)]
    places = day[1].places
    meal = b.activity == Activity.MEAL
    assert np.all((b.place[meal] == places[meal, Room.KITCHEN]) | (b.place[meal] == places[meal, Room.HALL]))


def test_bathroom_visits_day_and_night(day: tuple[list[Behaviour], Routine]) -> None:
    behaviours, routine = day
    bathroom = np.array([b.place == routine.places[:, Room.BATHROOM] for b in behaviours])  # (minutes, N)
    visits = np.sum(bathroom[1:] & ~bathroom[:-1], axis=0)
    assert 4 <= np.median(visits) <= 9
    night = bathroom[: (5 * 60)]
    assert 0.3 < np.mean(np.any(night, axis=0)) < 0.95  # nocturia: many, not all, get up at night


def test_getting_up_follows_habits(day: tuple[list[Behaviour], Routine]) -> None:
    behaviours, _ = day
    world = build_world("home", 300, 1, seed=5)
    wake = np.array([r.habits.wake_h for r in world.residents])
    in_bed = np.array([b.in_bed for b in behaviours[: 12 * 60]])  # morning minutes, (720, N)
    last_in_bed_h = (in_bed.shape[0] - np.argmax(in_bed[::-1], axis=0)) / 60.0
    assert np.median(np.abs(last_in_bed_h - wake)) < 0.5


def test_some_go_out_and_come_back(day: tuple[list[Behaviour], Routine]) -> None:
    behaviours, routine = day
    out = np.array([b.place == routine.places[:, Room.OUTSIDE] for b in behaviours])
    went_out = np.any(out, axis=0)
    assert 0.15 < np.mean(went_out) < 0.7
    assert not np.any(out[-1]) and not np.any(out[0])  # home at midnight
    assert np.all(np.array([b.activity for b in behaviours])[out] == Activity.OUT)


def test_walking_between_rooms_goes_through_the_hall(day: tuple[list[Behaviour], Routine]) -> None:
    behaviours, routine = day
    walking = np.array([b.posture == Posture.WALKING for b in behaviours])
    hall = np.array([b.place == routine.places[:, Room.HALL] for b in behaviours])
    assert np.all(walking[hall])
    assert 0.005 < np.mean(walking) < 0.15  # older adults walk a few percent of the day


def test_the_same_seed_gives_the_same_day() -> None:
    world = build_world("home", 5, 1, seed=1)

    def activities(seed: int) -> list[list[int]]:
        routine = Routine(world, np.random.default_rng(seed), np.zeros(5))
        return [routine.advance(T0 + k * 600.0, 600.0).activity.tolist() for k in range(144)]

    assert activities(3) == activities(3)
    assert activities(3) != activities(4)


def test_local_time_follows_the_offset() -> None:
    world = build_world("home", 50, 1, seed=2)
    east = Routine(world, np.random.default_rng(1), np.full(50, 8 * 3600.0))  # UTC+8: 03:00 local at 19:00 UTC
    b = east.advance(T0 - 5 * 3600.0, 60.0)
    assert np.mean(b.in_bed) > 0.9
