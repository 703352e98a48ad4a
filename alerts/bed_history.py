"""When a resident was in bed over a past period, from the stored events: the alert core's own in-bed state
(alerts.signals, `Beds`: the resident's own bed sensor said occupied and no sign of being up came since), derived
from the same observations, for the settling-in review (alerts.review) to tell windows in bed from the others.

A resident whose registry has no bed sensor speaking for them alone has no history (None): they are never in bed.
The events of the day before the period are read too, so that the state at its start is known (a review starting
at midnight begins with the resident in bed, not out of it).
"""

from __future__ import annotations

import numpy as np

from alerts._arrays import BoolArray, FloatArray
from alerts.frame import build
from alerts.residents import DEVICE_KINDS, MISSING, Population
from alerts.signals import Signals, in_bed_at
from carewatch.model import Batch, DeviceKind, EventRow, Resident
from carewatch.storage.base import MAX_STATS_ROWS, Store

BED_SENSOR = DEVICE_KINDS.index(DeviceKind.BED)
DAY_S = 86_400.0
# What alerts.signals reads for the in-bed state: bed samples, and activity outside the bedroom (signs of being up).
KINDS = ("bed", "motion", "door", "chair", "bathroom")


def in_bed_windows(store: Store, resident: Resident, begins: FloatArray, width: float) -> BoolArray | None:
    """(k,) whether ``resident`` was in bed for the whole of each window ``[begins, begins + width)`` (k,), ascending;
    None when no bed sensor speaks for them alone."""
    population = Population()
    population.update(store.residents(resident.site_id), store.sites(), store.devices())
    position = population.index.position(resident.resident_id)
    if position == MISSING or not _has_bed_sensor(population, position):
        return None
    start, end = float(begins[0]) - DAY_S, float(begins[-1]) + width
    frame = build(Batch(events=_events(store, population, position, start, end)), population)
    signals = Signals()
    signals.grow(population)
    observed = signals.derive(frame).in_bed
    mine = observed.resident == position
    up = np.sort(observed.ts[mine & ~observed.occupied])  # signs of being up, and empty bed samples
    got_up = np.searchsorted(up, begins + width, side="left") > np.searchsorted(up, begins, side="left")
    was_in_bed = in_bed_at(observed, np.full(begins.shape[0], position), begins)
    in_bed: BoolArray = was_in_bed & ~got_up
    return in_bed


def _has_bed_sensor(population: Population, position: int) -> bool:
    ptr = population.speaks_ptr
    alone = (population.device_kind == BED_SENSOR) & (np.diff(ptr) == 1)
    return bool(np.isin(position, population.speaks_for[ptr[:-1][alone]]))


def _events(store: Store, population: Population, position: int, start: float, end: float) -> list[EventRow]:
    """The stored events of ``KINDS`` from the devices that speak for the resident, read a day at a time."""
    devices = [population.device_ids[d] for d in population.devices_of(position).tolist()]
    rows: list[EventRow] = []
    for at in np.arange(start, end, DAY_S).tolist():  # days, not rows
        for kind in KINDS:
            day = store.device_events(devices, kind, at, min(at + DAY_S, end))
            if len(day) >= MAX_STATS_ROWS:
                raise ValueError(f"{kind} events of {at:.0f} reached {MAX_STATS_ROWS} rows: not a sensor's day")
            rows += day
    return rows
