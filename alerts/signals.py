"""Signals derived from a batch before the rules run, each with its own small per-resident or per-device state.

- **Sensor off.** Vital signs and accelerometer blocks of a wearable that is not worn (its own latest ``worn``
  reading at or before them is 0) are artefacts: dropped, like implausible values. An optical sensor off the wrist
  reads noise, and a wearable dropped on the floor looks like a fall. The state is the device's, not the resident's:
  a resident may have two wearables (a watch and an SOS pendant), one of them on its charger.
- **Activity** (for no activity and recovery after a fall): PIR motion; a door, bed, chair or bathroom
  sensor *changing* state (sensors may repeat their level, which is not activity); a wearable's step count going up
  (each device's count against its own previous one); an
  accelerometer block whose |a| varies by at least ``MOVING_SD_G``. For *recovery* a rise of the step count is
  timed at the report before it: the count is cumulative, so the steps may have been taken before a fall that
  happened between the two reports (a resident who falls while walking reports their last steps after the fall).
- **Up** (for not up): leaving the bed (a bed sensor changing to empty) or activity of a room sensor outside the
  bedroom (the device registry's room). Movement in bed seen by a bedroom PIR is activity but not getting up.
- **In bed** (for no activity, and for the limits a clinician sets for the time in bed, alerts.rules.threshold):
  a bed sensor attributed to the resident alone (alerts.frame: a shared bed speaks for nobody) said occupied, and
  no sign of being up came after it (an empty sample, or activity outside the bedroom: a missed exit or a sensor
  stuck at occupied does not keep them "in bed" past the next such activity). A resident without a bed sensor is
  never in bed. The state changes only at these observations; `in_bed_at` tells it at any instant of a batch.
- **Inside and entrance** (for no activity's outings): the room sensors' activity (motion, changes) apart from the
  front door's, and the front door's changes (`Population.device_entrance`). The wearable's activity is neither:
  it goes out with its resident.
- **Exertion** (for the at-rest vital-sign rules): the body moving, as the wearable says (steps going up, an
  accelerometer block that moves). The frame carries the batch's instants plus, for each resident with readings,
  the newest one before the batch, so that a rule can find the latest exertion at or before any reading. A reading
  is *at rest* (`resting`) when no exertion came at or within ``RECOVERY_S`` before it.
- **Falls**: the accelerometer fall detector (alerts.falls) on the wearable's blocks, and falls the device reports.
  The detector keeps one timeline per accelerometer stream, that is per device, not per resident: two wearables of
  one resident are two bodies of samples (a wrist and a waist), not one. Wearables get theirs at registration, any
  other device with its first block; a block of an unknown device says nothing.

Everything is computed for the whole batch at once; `Signals` keeps the state that links batches.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from alerts._arrays import (
    BoolArray,
    FloatArray,
    IntArray,
    firsts,
    grown,
    last_index,
    lasts,
    member_table,
    present,
    previous,
    run_start,
    sort_fresh,
)
from alerts.falls import FallDetector, magnitude
from alerts.frame import Accel, Events, Falls, Frame, InBed, Points, Readings
from alerts.residents import DEVICE_KINDS, MISSING, Population
from carewatch.catalog import BODY_METRICS, EVENT_ID, EVENT_KINDS, METRIC_ID, METRICS
from carewatch.model import DeviceKind

WEARABLE = DEVICE_KINDS.index(DeviceKind.WEARABLE)
BODY_METRIC = member_table([METRIC_ID[m] for m in BODY_METRICS], len(METRICS))
WORN, STEPS = METRIC_ID["worn"], METRIC_ID["steps"]
MOTION, FALL = EVENT_ID["motion"], EVENT_ID["fall"]
CHANGE_KIND = member_table([EVENT_ID[k] for k in ("door", "bed", "chair", "bathroom")], len(EVENT_KINDS))
BED = EVENT_ID["bed"]
# A body at rest shows an |a| SD of 0.01-0.02 g, walking or getting up 0.2-0.4 g; the fall detector calls a body
# still below 0.15 g (FallParams.still_sd_g), and so a block at or above it is movement.
MOVING_SD_G = 0.15
# Blood pressure is measured after at least 5 minutes of quiet rest (2017 ACC/AHA hypertension guideline, Whelton et
# al., Hypertension 2018;71:e13-e115, Table 8; NICE NG136 asks for the person seated and relaxed), and respiration is
# counted at rest; a design choice to use the same 5 minutes as the recovery after any body movement.
RECOVERY_S = 300.0
MIN_BLOCK_SAMPLES = 5  # fewer samples say nothing about movement


class Signals:
    """State, per device (D + 1,: a never-written sentinel last, for MISSING): ``worn`` the latest worn value (NaN
    unknown) and its time, ``steps`` the latest step count and its time, ``stream`` its accelerometer timeline in the
    fall detector (MISSING: none yet); ``event_value`` (D,) each device's latest event value and time (for changes);
    per resident, the newest exertion; per timeline, the resident of its newest block."""

    def __init__(self) -> None:
        self.worn = np.empty(0)
        self.worn_ts = np.empty(0)
        self.steps = np.empty(0)
        self.steps_ts = np.empty(0)
        self.event_value = np.empty(0)
        self.event_ts = np.empty(0)
        self.exerted = np.empty(0)  # (R,) newest exertion instant (-inf: none)
        self.falls = FallDetector(0)
        self.stream = np.full(1, MISSING, np.int64)  # (D + 1,) each device's timeline in `falls`
        self.stream_resident = np.empty(0, np.int64)  # (timelines,)
        self.beds = Beds()
        self._wearable = np.zeros(1, bool)
        self._bedroom = np.zeros(1, bool)
        self._entrance = np.zeros(1, bool)

    def grow(self, population: Population) -> None:
        r, d = len(population), population.device_count
        self.worn, self.worn_ts = grown(self.worn, d + 1, np.nan), grown(self.worn_ts, d + 1, -np.inf)
        self.steps, self.steps_ts = grown(self.steps, d + 1, np.nan), grown(self.steps_ts, d + 1, -np.inf)
        self.event_value, self.event_ts = grown(self.event_value, d, np.nan), grown(self.event_ts, d, -np.inf)
        self.exerted = grown(self.exerted, r, -np.inf)
        wearable = population.device_kind == WEARABLE
        self.stream = np.append(grown(self.stream[:-1], d, MISSING), MISSING)
        self._add_streams(wearable.nonzero()[0])
        self.beds.grow(r)
        self._wearable = np.append(wearable, False)  # (D + 1,) a sentinel for MISSING
        self._bedroom = population.device_bedroom
        self._entrance = population.device_entrance

    def nbytes(self) -> int:
        arrays = (self.worn, self.worn_ts, self.steps, self.steps_ts, self.event_value, self.event_ts, self.exerted,
                  self.stream, self.stream_resident)  # fmt: skip
        return sum(a.nbytes for a in arrays) + self.falls.nbytes() + self.beds.nbytes()

    def _add_streams(self, devices: IntArray) -> None:
        """Timelines for ``devices`` (known positions) that have none yet, numbered in device order."""
        new = np.unique(devices[self.stream[devices] == MISSING])
        if new.shape[0] == 0:
            return
        first = self.falls.capacity
        self.stream[new] = first + np.arange(new.shape[0])
        self.falls.grow(first + new.shape[0])
        self.stream_resident = grown(self.stream_resident, self.falls.capacity, MISSING)

    def derive(self, frame: Frame) -> Frame:
        readings, accel = self._drop_sensor_off(frame)
        moved, changed, up, front = self._motion_and_changes(frame)
        mag = magnitude(accel.axes)  # |a| of every sample, for movement and falls
        (steps, steps_since), blocks = self._step_increases(readings), _moving_blocks(accel, mag)
        return replace(
            frame, readings=readings, accel=accel, activity=_points(moved, changed, steps, blocks),
            recovery=_points(moved, changed, steps_since, blocks), up=up,
            inside=_points(moved, _taken(changed, ~front)), entrance=_points(_taken(changed, front)),
            exertion=self._exertion(readings, steps, blocks), falls=self._falls(frame, accel, mag),
            in_bed=self.beds.observe(frame.events, up),
        )  # fmt: skip

    def _exertion(self, readings: Readings, *moving: Points) -> Points:
        """The batch's exertion instants, and the newest earlier one of every resident with readings."""
        batch = _points(*moving)
        with_readings = present(readings.resident, self.exerted.shape[0])
        before = with_readings[np.isfinite(self.exerted[with_readings])]
        both = _points(Points(before, self.exerted[before]), batch)
        if batch.resident.shape[0]:
            last = lasts(batch.resident)
            res = batch.resident[last]
            self.exerted[res] = np.maximum(self.exerted[res], batch.ts[last])
        return both

    # -- sensor off --------------------------------------------------------------------------------------------
    def _drop_sensor_off(self, frame: Frame) -> tuple[Readings, Accel]:
        readings, accel, status = frame.readings, frame.accel, frame.status
        is_worn = status.metric == WORN
        w_dev, w_ts, w_value = status.device[is_worn], status.ts[is_worn], status.value[is_worn]
        wearable = self._wearable[readings.device]  # MISSING (-1) picks the sentinel at the end
        body = (BODY_METRIC[readings.metric] & wearable).nonzero()[0]
        dev = np.concatenate([readings.device[body], accel.device])
        off = self._worn_at(dev, np.concatenate([readings.ts[body], accel.ts]), w_dev, w_ts, w_value) < 0.5
        self._store_worn(w_dev, w_ts, w_value)  # NaN (never reported) counts as worn
        if not off.any():
            return readings, accel
        drop = np.zeros(readings.ts.shape[0], bool)
        drop[body] = off[: body.shape[0]]
        accel_off = off[body.shape[0] :]
        return readings.take(~drop), (accel.take(~accel_off) if accel_off.any() else accel)

    def _worn_at(
        self, dev: np.ndarray, ts: np.ndarray, w_dev: np.ndarray, w_ts: np.ndarray, w_value: np.ndarray
    ) -> np.ndarray:
        """The worn value (n,) in force for devices ``dev`` (n,) at ``ts`` (n,): their latest worn reading of the
        batch (k,) at or before it (the highest value at one instant), else the stored one (MISSING: the sentinel's
        NaN, worn). Only devices with a worn reading in the batch (a few: it comes once a minute) need sorting."""
        state: np.ndarray = self.worn[dev]
        mine = np.isin(dev, w_dev, kind="table").nonzero()[0] if w_dev.shape[0] else w_dev
        if mine.shape[0] == 0:
            return state
        n_w = w_dev.shape[0]
        d_all = np.concatenate([w_dev, dev[mine]])
        ts_all = np.concatenate([w_ts, ts[mine]])
        value = np.concatenate([w_value, np.zeros(mine.shape[0])])
        target = np.arange(d_all.shape[0]) >= n_w  # worn readings sort before what they apply to at one instant
        order = np.lexsort((value, target, ts_all, d_all))
        d, w = d_all[order], ~target[order]
        latest = last_index(w)
        found = np.empty(d_all.shape[0])
        found[order] = np.where(latest >= run_start(firsts(d)), value[order][latest], self.worn[d])
        state[mine] = found[n_w:]
        return state

    def seed_worn(self, dev: np.ndarray, ts: np.ndarray, value: np.ndarray) -> None:
        """The newest stored ``worn`` reading (k,) of devices (known ones), for the restart rebuild."""
        self._store_worn(dev, ts, value)

    def _store_worn(self, dev: np.ndarray, ts: np.ndarray, value: np.ndarray) -> None:
        order = np.lexsort((value, ts, dev))
        last = order[lasts(dev[order])]
        newer = last[ts[last] >= self.worn_ts[dev[last]]]
        self.worn[dev[newer]], self.worn_ts[dev[newer]] = value[newer], ts[newer]

    # -- activity ----------------------------------------------------------------------------------------------
    def _motion_and_changes(self, frame: Frame) -> tuple[Points, Points, Points, BoolArray]:
        """Motion, state changes, the signs of being up among them (see the module docstring), and which changes
        (aligned with them) are the front door's."""
        ev = frame.events
        motion = (ev.kind == MOTION) & (ev.value >= 0.5)
        changing = (CHANGE_KIND[ev.kind] & (ev.device >= 0)).nonzero()[0]
        moved = Points(ev.resident[motion], ev.ts[motion])
        elsewhere = motion & ~self._bedroom[ev.device]  # MISSING (-1) picks the sentinel: not a bedroom
        up_moved = Points(ev.resident[elsewhere], ev.ts[elsewhere])
        if changing.size == 0:
            return moved, _no_points(), _points(up_moved), np.empty(0, bool)
        device, ts, value = ev.device[changing], ev.ts[changing], ev.value[changing]
        # One observation per (device, instant): a shared sensor's row appears once per resident it speaks for.
        order = np.lexsort((value, ts, device))
        d, t, v = device[order], ts[order], value[order]
        group = np.ones(order.shape[0], bool)
        group[1:] = (d[1:] != d[:-1]) | (t[1:] != t[:-1])
        rep = group.nonzero()[0]
        fresh = rep[t[rep] > self.event_ts[d[rep]]]
        first = firsts(d[fresh])
        prev = previous(v[fresh], first, self.event_value[d[fresh]])
        changed = np.zeros(order.shape[0], bool)
        changed[fresh] = v[fresh] != prev  # NaN (no earlier report) counts as a change
        changed = changed[last_index(group)]  # every copy of the observation shares its verdict
        last = fresh[lasts(d[fresh])]
        self.event_value[d[last]], self.event_ts[d[last]] = v[last], t[last]
        rows = changing[order[changed]]
        bed = ev.kind[rows] == BED
        up = rows[np.where(bed, ev.value[rows] < 0.5, ~self._bedroom[ev.device[rows]])]
        up_changed = Points(ev.resident[up], ev.ts[up])
        front = self._entrance[ev.device[rows]]
        return moved, Points(ev.resident[rows], ev.ts[rows]), _points(up_moved, up_changed), front

    def _step_increases(self, readings: Readings) -> tuple[Points, Points]:
        """Step counts going up, at their report and at the report before it (the steps were taken in between),
        each device's count against its own (a count of an unknown device says nothing)."""
        lo, hi = np.searchsorted(readings.metric, (STEPS, STEPS + 1)).tolist()
        rows = lo + (readings.device[lo:hi] != MISSING).nonzero()[0]
        dev, ts, value, res = readings.device[rows], readings.ts[rows], readings.value[rows], readings.resident[rows]
        keep = sort_fresh(dev, ts, self.steps_ts, value)
        dev, ts, value, res = dev[keep], ts[keep], value[keep], res[keep]
        first, last = firsts(dev), lasts(dev)
        up = value > previous(value, first, self.steps[dev])  # NaN (no earlier count) is not an increase
        since = previous(ts, first, self.steps_ts[dev])
        self.steps[dev[last]], self.steps_ts[dev[last]] = value[last], ts[last]
        return Points(res[up], ts[up]), Points(res[up], since[up])  # by device: `_points` sorts them by resident

    def _falls(self, frame: Frame, accel: Accel, mag: np.ndarray) -> Falls:
        known = accel.device != MISSING
        if not known.all():
            accel, mag = accel.take(known), mag[np.repeat(known, accel.counts)]
        stream = self.stream[accel.device]
        if (stream == MISSING).any():  # a device of another kind streaming for the first time
            self._add_streams(accel.device[stream == MISSING])
            stream = self.stream[accel.device]
        self.stream_resident[stream] = accel.resident  # the newest block's resident, for the falls decided now
        found = self.falls.process(stream, accel.ts, accel.rate, accel.counts, accel.axes, mag)
        found_resident = self.stream_resident[found.resident]
        ev = frame.events
        told = (ev.kind == FALL) & (ev.value >= 0.5)
        k = int(told.sum())
        nan = np.full(k, np.nan)
        return Falls(
            resident=np.concatenate([found_resident, ev.resident[told]]),
            ts=np.concatenate([found.detected_ts, ev.ts[told]]),
            impact_ts=np.concatenate([found.impact_ts, nan]),
            peak_g=np.concatenate([found.peak_g, nan]),
            tilt_deg=np.concatenate([found.tilt_deg, nan]),
            reported=np.concatenate([np.zeros(len(found), bool), np.ones(k, bool)]),
        )


class Beds:
    """Who is in bed (the module docstring): ``occupied`` (R,) the newest bed sample or sign of being up, at ``ts``
    (R,), said occupied (one per resident and instant: occupied wins, as a return to bed at the instant of a sign of
    being up). The one source of this state for every rule (through ``Frame.in_bed``)."""

    def __init__(self) -> None:
        self.occupied = np.empty(0, bool)
        self.ts = np.empty(0)

    def grow(self, capacity: int) -> None:
        self.occupied, self.ts = grown(self.occupied, capacity, False), grown(self.ts, capacity, -np.inf)

    def nbytes(self) -> int:
        return int(self.occupied.nbytes + self.ts.nbytes)

    def observe(self, events: Events, up: Points) -> InBed:
        """The batch's bed samples (``events`` of kind bed) and signs of being up (``up``) newer than the state,
        with the state before and after them."""
        bed = (events.kind == BED).nonzero()[0]
        res = np.concatenate([events.resident[bed], up.resident])
        ts = np.concatenate([events.ts[bed], up.ts])
        occupied = np.concatenate([events.value[bed] >= 0.5, np.zeros(up.ts.shape[0], bool)])
        keep = sort_fresh(res, ts, self.ts, ~occupied)
        before = self.occupied.copy()
        self.seed(res[keep], ts[keep], occupied[keep])
        return InBed(res[keep], ts[keep], occupied[keep], before, self.occupied.copy())

    def seed(self, resident: IntArray, ts: FloatArray, occupied: BoolArray) -> None:
        """Bed samples and signs of being up (``occupied`` False) (k,), any order: the newest of each resident, if
        newer than the state, sets it (occupied wins at one instant). Also for the restart rebuild."""
        keep = sort_fresh(resident, ts, self.ts, ~occupied)
        newest = keep[lasts(resident[keep])]
        r = resident[newest]
        self.occupied[r], self.ts[r] = occupied[newest], ts[newest]


def in_bed_at(in_bed: InBed, resident: IntArray, ts: FloatArray) -> BoolArray:
    """(k,) whether residents (k,) are in bed at ``ts`` (k,), instants of the batch ``in_bed`` was observed on: its
    newest observation at or before ``ts``, else the state before the batch."""
    occupied = in_bed.occupied
    full = latest_at(Points(in_bed.resident[occupied], in_bed.ts[occupied]), resident, ts)
    empty = latest_at(Points(in_bed.resident[~occupied], in_bed.ts[~occupied]), resident, ts)
    found: BoolArray = np.where(np.isinf(full) & np.isinf(empty), in_bed.before[resident], full > empty)
    return found


def _moving_blocks(accel: Accel, mag: np.ndarray) -> Points:
    """Blocks of at least MIN_BLOCK_SAMPLES samples whose |a| ``mag`` (one per sample) has an SD of at least
    MOVING_SD_G: the body moving."""
    enough = accel.counts >= MIN_BLOCK_SAMPLES
    if not enough.any():
        return _no_points()
    b = accel.counts.shape[0]
    block = np.repeat(np.arange(b), accel.counts)
    n = np.maximum(accel.counts, 1).astype(np.float64)
    mean = np.bincount(block, weights=mag, minlength=b) / n
    sd = np.sqrt(np.maximum(np.bincount(block, weights=mag * mag, minlength=b) / n - mean * mean, 0.0))
    moving = enough & (sd >= MOVING_SD_G)
    return Points(accel.resident[moving], accel.ts[moving])


def _no_points() -> Points:
    return Points(np.empty(0, np.int64), np.empty(0))


def latest_at(points: Points, resident: np.ndarray, ts: np.ndarray) -> FloatArray:
    """(n,) the newest of ``points`` of each resident (n,) at or before ``ts`` (n,); -inf where there is none."""
    k, n = points.resident.shape[0], resident.shape[0]
    res = np.concatenate([points.resident, resident])
    at = np.concatenate([points.ts, ts])
    query = np.arange(k + n) >= k
    order = np.lexsort((query, at, res))  # a point at a query's instant comes before it
    latest = last_index(~query[order])
    found = latest >= run_start(firsts(res[order]))
    value = np.where(found, at[order][np.maximum(latest, 0)], -np.inf)
    out = np.empty(n)
    asked = query[order]
    out[order[asked] - k] = value[asked]
    return out


def resting(exertion: Points, resident: IntArray, ts: FloatArray) -> BoolArray:
    """(n,) whether the readings of ``resident`` (n,) at ``ts`` (n,) are at rest: no ``exertion`` (Frame.exertion) at
    or within ``RECOVERY_S`` before them."""
    return ts - latest_at(exertion, resident, ts) > RECOVERY_S


def _taken(points: Points, mask: BoolArray) -> Points:
    return Points(points.resident[mask], points.ts[mask])


def _points(*parts: Points) -> Points:
    """The union of instants, sorted by (resident, ts), one per resident and instant."""
    res = np.concatenate([p.resident for p in parts])
    ts = np.concatenate([p.ts for p in parts])
    order = np.lexsort((ts, res))
    res, ts = res[order], ts[order]
    keep = np.ones(res.shape[0], bool)
    keep[1:] = (res[1:] != res[:-1]) | (ts[1:] != ts[:-1])
    return Points(res[keep], ts[keep])
