"""A committed batch as arrays: what every rule receives. Built once per batch, with no Python loop per row (the
row tuples are unzipped and mapped to ids at C level).

Who a row is about: a row that names its resident is that resident's (unknown residents are dropped). A row of a
shared sensor (no resident) is attributed through `Population.speaks_for`: hazards (smoke, gas, water, room
temperature and humidity) to every resident the sensor speaks for; activity (motion, doors, bed, chair, bathroom,
SOS and falls) only when it speaks for exactly one, since activity of a household cannot be told apart; the rest
is counted in ``unattributed``. Artefacts (values outside the plausible range) never reach a rule, but they do show
that their device is alive (``seen``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import numpy as np

from alerts._arrays import arrival_sort, member_table, ragged_arange
from alerts.residents import MISSING, Population
from carewatch.catalog import EVENT_ID, EVENT_KINDS, METRIC_ID, METRICS
from carewatch.model import AccelRow, Batch, EventRow, ReadingRow

# Membership tables by catalogue id (alerts._arrays.member_table).
HAZARD_METRIC = member_table((METRIC_ID["room_temp"], METRIC_ID["humidity"]), len(METRICS))
# About the device, not its wearer: a wearable's battery, signal and whether it is worn (alerts.signals keeps "worn"
# per device: a resident may have two wearables).
DEVICE_METRIC = member_table((METRIC_ID["battery"], METRIC_ID["rssi"], METRIC_ID["worn"]), len(METRICS))
HAZARD_KIND = member_table((EVENT_ID["smoke"], EVENT_ID["gas"], EVENT_ID["water_leak"]), len(EVENT_KINDS))

T = TypeVar("T")


def _empty(cls: type[T]) -> T:
    kinds = {"resident": np.int64, "device": np.int64, "metric": np.int16, "kind": np.int16, "counts": np.int64}
    arrays: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name == "axes":
            arrays[f.name] = np.empty((3, 0))
        elif f.name in ("reported", "occupied", "before", "after"):
            arrays[f.name] = np.empty(0, bool)
        else:
            arrays[f.name] = np.empty(0, kinds.get(f.name, np.float64))
    return cls(**arrays)


@dataclass(frozen=True, slots=True)
class Readings:
    """Plausible readings about residents, sorted by (metric, resident, ts, value): resident (n,) int64 position;
    metric (n,) int16 catalogue id; ts (n,) float64 epoch seconds; value (n,) float64 canonical unit; device (n,)
    int64 position (MISSING if unknown)."""

    resident: np.ndarray
    metric: np.ndarray
    ts: np.ndarray
    value: np.ndarray
    device: np.ndarray

    @classmethod
    def sorted(cls, resident: np.ndarray, metric: np.ndarray, ts: np.ndarray, value: np.ndarray,
               device: np.ndarray) -> Readings:  # fmt: skip
        span = int(resident.max(initial=0)) + 1
        order = arrival_sort(metric.astype(np.int64) * span + resident, ts, value)
        return cls(resident[order], metric[order], ts[order], value[order], device[order])

    def of_metric(self, metric: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(resident, ts, value), each (k,), of one metric's readings, sorted by (resident, ts, value): views."""
        lo, hi = np.searchsorted(self.metric, (metric, metric + 1)).tolist()
        return self.resident[lo:hi], self.ts[lo:hi], self.value[lo:hi]

    def of_metrics(self, metrics: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(resident, ts, value, column), each (k,), of the readings of ``metrics`` (c,) (column: the index in
        ``metrics``), one metric after the other, each sorted by (resident, ts, value)."""
        bounds = np.searchsorted(self.metric, np.stack([metrics, metrics + 1]))
        rows = np.concatenate([np.arange(lo, hi) for lo, hi in bounds.T.tolist()])
        column = np.repeat(np.arange(metrics.shape[0]), bounds[1] - bounds[0])
        return self.resident[rows], self.ts[rows], self.value[rows], column

    def latest(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(resident, metric, ts, value), each (k,): the newest reading of every (resident, metric) pair."""
        order = np.lexsort((self.ts, self.metric, self.resident))
        resident, metric = self.resident[order], self.metric[order]
        last = np.ones(len(order), bool)
        last[:-1] = (resident[1:] != resident[:-1]) | (metric[1:] != metric[:-1])
        return resident[last], metric[last], self.ts[order][last], self.value[order][last]

    def take(self, mask: np.ndarray) -> Readings:
        return Readings(self.resident[mask], self.metric[mask], self.ts[mask], self.value[mask], self.device[mask])


@dataclass(frozen=True, slots=True)
class Events:
    """Events about residents: resident (n,), kind (n,) int16 (carewatch.catalog.EVENT_ID), ts (n,), value (n,),
    device (n,)."""

    resident: np.ndarray
    kind: np.ndarray
    ts: np.ndarray
    value: np.ndarray
    device: np.ndarray


@dataclass(frozen=True, slots=True)
class Accel:
    """Accelerometer blocks of known residents, sorted by (device, ts) (the fall detector's timelines follow devices):
    resident (b,), device (b,), ts (b,) first sample, rate (b,) Hz, counts (b,) samples; axes (3, sum(counts)) float64
    x, y, z in g, the blocks' samples one after the other (each axis contiguous: what the fall detector and the
    movement test read)."""

    resident: np.ndarray
    device: np.ndarray
    ts: np.ndarray
    rate: np.ndarray
    counts: np.ndarray
    axes: np.ndarray

    def take(self, mask: np.ndarray) -> Accel:
        start = np.cumsum(self.counts) - self.counts
        owner, k = ragged_arange(self.counts[mask])
        samples = start[mask][owner] + k
        return Accel(self.resident[mask], self.device[mask], self.ts[mask], self.rate[mask], self.counts[mask],
                     np.take(self.axes, samples, axis=1))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Status:
    """Plausible readings about known devices (battery, signal, worn): device (n,), metric (n,), ts (n,), value (n,)."""

    device: np.ndarray
    metric: np.ndarray
    ts: np.ndarray
    value: np.ndarray


@dataclass(frozen=True, slots=True)
class Seen:
    """Every row of a known device, artefacts included: device (n,), ts (n,). A device that sends is alive."""

    device: np.ndarray
    ts: np.ndarray


@dataclass(frozen=True, slots=True)
class Points:
    """Instants about residents: resident (k,), ts (k,), sorted by (resident, ts), one per resident and instant."""

    resident: np.ndarray
    ts: np.ndarray


@dataclass(frozen=True, slots=True)
class Falls:
    """Falls: resident (k,), ts (k,) when known (detector: end of the stillness window; device: its event time),
    impact_ts (k,), peak_g (k,), tilt_deg (k,) (NaN for device-reported falls), reported (k,) bool: by the device."""

    resident: np.ndarray
    ts: np.ndarray
    impact_ts: np.ndarray
    peak_g: np.ndarray
    tilt_deg: np.ndarray
    reported: np.ndarray


@dataclass(frozen=True, slots=True)
class InBed:
    """Who is in bed (alerts.signals, `in_bed_at`): the batch's fresh bed samples and signs of being up, one per
    resident and instant, sorted by (resident, ts): resident (k,), ts (k,), occupied (k,) bool (False: a bed sensor's
    empty sample or a sign of being up); and every resident's state before the batch and after it, (R,) bool each."""

    resident: np.ndarray
    ts: np.ndarray
    occupied: np.ndarray
    before: np.ndarray
    after: np.ndarray


@dataclass(frozen=True, slots=True)
class Frame:
    """Everything one batch tells the rules. ``activity``, ``recovery``, ``up``, ``inside``, ``entrance``, ``exertion``,
    ``falls`` and ``in_bed`` are derived (alerts.signals) before the rules run; ``unattributed`` counts rows of shared
    sensors that could not be given to a resident."""

    readings: Readings = field(default_factory=lambda: _empty(Readings))
    events: Events = field(default_factory=lambda: _empty(Events))
    accel: Accel = field(default_factory=lambda: _empty(Accel))
    status: Status = field(default_factory=lambda: _empty(Status))
    seen: Seen = field(default_factory=lambda: _empty(Seen))
    activity: Points = field(default_factory=lambda: _empty(Points))
    recovery: Points = field(default_factory=lambda: _empty(Points))  # activity, a step count's rise at its start
    up: Points = field(default_factory=lambda: _empty(Points))  # signs of being up: a bed exit, activity elsewhere
    inside: Points = field(default_factory=lambda: _empty(Points))  # room sensors' activity but the front door's
    entrance: Points = field(default_factory=lambda: _empty(Points))  # the front door's contact changing
    exertion: Points = field(default_factory=lambda: _empty(Points))  # body movement, with each resident's last known
    falls: Falls = field(default_factory=lambda: _empty(Falls))
    in_bed: InBed = field(default_factory=lambda: _empty(InBed))
    unattributed: int = 0


def build(batch: Batch, population: Population) -> Frame:
    """The batch's rows as arrays (see the module docstring for attribution)."""
    readings, status, seen_r, skipped_r = _readings(batch.readings, population)
    events, seen_e, skipped_e = _events(batch.events, population)
    accel, seen_a = _accel(batch.accel, population)
    seen = Seen(*(np.concatenate(parts) for parts in zip(seen_r, seen_e, seen_a, strict=True)))
    return Frame(readings, events, accel, status, seen, unattributed=skipped_r + skipped_e)


def _attributed(
    population: Population, resident_ids: tuple[str | None, ...], device: np.ndarray, fan_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Row indices and their residents: rows naming a known resident as they are; rows of a shared sensor repeated
    once per resident it speaks for, where ``fan_out`` (n,) allows (else at most one, where it speaks for one)."""
    ids = np.array(resident_ids, dtype=object)
    named = ids.astype(bool)  # None (and "") name nobody
    resident = population.residents_of_devices(device, ids)
    own = (named & (resident != MISSING)).nonzero()[0]
    shared = (~named & (device != MISSING)).nonzero()[0]
    ptr = population.speaks_ptr
    n_for = ptr[device[shared] + 1] - ptr[device[shared]]
    allowed = np.where(fan_out[shared], n_for, np.where(n_for == 1, 1, 0))
    owner, k = ragged_arange(allowed)
    rows = shared[owner]
    targets = population.speaks_for[ptr[device[rows]] + k]
    skipped = int(np.count_nonzero(allowed == 0))
    return np.concatenate([own, rows]), np.concatenate([resident[own], targets]), skipped


def _readings(
    rows: list[ReadingRow], population: Population
) -> tuple[Readings, Status, tuple[np.ndarray, np.ndarray], int]:
    if not rows:
        return _empty(Readings), _empty(Status), (np.empty(0, np.int64), np.empty(0)), 0
    ts_, _, device_ids, resident_ids, metrics, values, _, artefacts = zip(*rows, strict=True)
    n = len(rows)
    ts = np.array(ts_, np.float64)
    value = np.array(values, np.float64)
    metric = np.fromiter(map(METRIC_ID.__getitem__, metrics), np.int16, n)
    device = population.device_positions(device_ids)
    plausible = ~np.array(artefacts, bool)
    about_device = DEVICE_METRIC[metric]
    known = device != MISSING
    status_rows = plausible & about_device & known
    status = Status(device[status_rows], metric[status_rows], ts[status_rows], value[status_rows])
    index, resident, skipped = _attributed(population, resident_ids, device, HAZARD_METRIC[metric])
    keep = plausible[index] & ~about_device[index]
    index, resident = index[keep], resident[keep]
    readings = Readings.sorted(resident, metric[index], ts[index], value[index], device[index])
    return readings, status, (device[known], ts[known]), skipped


def _events(rows: list[EventRow], population: Population) -> tuple[Events, tuple[np.ndarray, np.ndarray], int]:
    if not rows:
        return _empty(Events), (np.empty(0, np.int64), np.empty(0)), 0
    ts_, _, device_ids, resident_ids, kinds, values, _ = zip(*rows, strict=True)
    n = len(rows)
    ts = np.array(ts_, np.float64)
    kind = np.fromiter(map(EVENT_ID.__getitem__, kinds), np.int16, n)
    device = population.device_positions(device_ids)
    index, resident, skipped = _attributed(population, resident_ids, device, HAZARD_KIND[kind])
    value = np.array(values, np.float64)
    events = Events(resident, kind[index], ts[index], value[index], device[index])
    known = device != MISSING
    return events, (device[known], ts[known]), skipped


def _accel(rows: list[AccelRow], population: Population) -> tuple[Accel, tuple[np.ndarray, np.ndarray]]:
    if not rows:
        return _empty(Accel), (np.empty(0, np.int64), np.empty(0))
    ts_, _, device_ids, resident_ids, _, rates, blocks = zip(*rows, strict=True)
    ts = np.array(ts_, np.float64)
    device = population.device_positions(device_ids)
    resident = population.residents_of_devices(device, np.array(resident_ids, dtype=object))
    known = device != MISSING
    mine = (resident != MISSING).nonzero()[0]
    order = mine[np.lexsort((ts[mine], device[mine]))]
    picked = [blocks[i] for i in order.tolist()]
    axes = _axes(picked)
    counts = np.fromiter(map(len, picked), np.int64, len(picked))  # after the join: the blocks are in cache now
    rate = np.array(rates, np.float64)[order]
    return Accel(resident[order], device[order], ts[order], rate, counts, axes), (device[known], ts[known])


def _axes(blocks: list[np.ndarray]) -> np.ndarray:
    """Blocks (n_i, 3) one after the other as (3, sum n_i) float64."""
    xyz = np.concatenate(blocks) if blocks else np.empty((0, 3))
    if xyz.ndim != 2 or xyz.shape[1] != 3:  # ingest never produces one; fail loudly rather than misread axes
        raise ValueError(f"accelerometer blocks must have shape (n, 3), got {xyz.shape}")
    return np.ascontiguousarray(xyz.T, np.float64)
