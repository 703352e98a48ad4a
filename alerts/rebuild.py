"""Rebuilding the alert core's state after a restart from recent stored data, so that nothing fires twice.

1. Learned state from aggregates, bounded by buckets rather than rows: the baselines' day slots (7 days of
   per-day count, sum and sum of squares), the activity profiles (14 days of hourly activity buckets) and every
   device's last-seen time (26 h).
2. Raw rows replayed through the ordinary batch path in one-minute chunks with reporting off: the last
   ``REPLAY_S`` of everything, before that (up to ``SLOW_REPLAY_S``) the sparse streams whose rules look back
   further (temperature and blood pressure, status, room temperature, events), and the last ``ACCEL_REPLAY_S`` of
   accelerometer blocks.
3. One `tick(now)`, still silent: conditions that time alone makes true now count as already alerted.
4. The live alerts are loaded (`AlertEngine.mark_live`): a continuing condition is not raised again; one the replay
   shows ended is reported cleared.

A condition that became alertable in the replayed data with no live alert (it was resolved by hand, or the process
died between the commit and the alert) is not raised: it counts as handled. Known limits: accelerometer movement and
step counts are not part of the learned activity profile's rebuild (only room-sensor events are aggregated), and a
baseline's current day restarts from the replay.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from alerts.residents import MISSING
from alerts.rules.baseline import DAY_S, DAYS, METRICS, BaselineRule
from alerts.rules.behaviour import LEARN_DAYS, NoActivityRule, NotUpRule
from alerts.rules.devices import DeviceOfflineRule
from carewatch.storage.base import MAX_REPLAY_ROWS, Store

if TYPE_CHECKING:
    from alerts.engine import AlertEngine, Cleared

log = logging.getLogger(__name__)
R = TypeVar("R")

REPLAY_S = 20 * 60.0  # the longest sampled window: baseline persistence 15 min, SpO2 trend 10 min, plus margin
SLOW_REPLAY_S = 2 * 3600.0  # the temperature trend looks back 2 h, not-worn lasts 2 h, NEWS2 keeps BP an hour
SLOW_METRICS = ("temp", "sbp", "dbp", "o2", "avpu", "worn", "battery", "room_temp")
ACCEL_REPLAY_S = 30.0  # the fall detector looks back 5.6 s
CHUNK_S = 60.0  # one replayed batch: about a minute of a district's data
LAST_SEEN_S = 26 * 3600.0  # the longest offline timeout is 25 h
ACTIVITY_KINDS = ("motion", "door", "chair", "bathroom")  # aggregated as events, not as changes: see signals
LIVE_ALERTS_MAX = 100_000


def rebuild(engine: AlertEngine, store: Store, now: float) -> list[Cleared]:
    engine.population.refresh_offsets(now)
    engine.replaying = True
    try:
        _seed_baselines(engine, store, now)
        _seed_activity(engine, store, now)
        _seed_devices(engine, store, now)
        _replay(engine, store, now - SLOW_REPLAY_S, now - REPLAY_S, SLOW_METRICS, now)
        _replay(engine, store, now - REPLAY_S, now, None, now)
        engine.tick(now)
    finally:
        engine.replaying = False
    return engine.mark_live(store.alerts(live_only=True, limit=LIVE_ALERTS_MAX), now)


def _replay(
    engine: AlertEngine, store: Store, start: float, end: float, metrics: tuple[str, ...] | None, now: float
) -> None:
    for chunk in np.arange(start, end, CHUNK_S).tolist():  # chunks of time, not rows
        stop = min(chunk + CHUNK_S, end)
        batch = store.replay_batch(chunk, stop, metrics, events=True, accel=stop > now - ACCEL_REPLAY_S)
        if max(len(batch.readings), len(batch.events), len(batch.accel)) >= MAX_REPLAY_ROWS:
            log.warning("replay of %.0f-%.0f truncated at %d rows per table", chunk, stop, MAX_REPLAY_ROWS)
        engine.evaluate(engine.frame(batch))


def _seed_baselines(engine: AlertEngine, store: Store, now: float) -> None:
    rule = _find(engine, BaselineRule)
    if rule is None:
        return
    today = math.floor(now / DAY_S) * DAY_S
    stats = store.reading_stats(today - DAYS * DAY_S, today, METRICS, DAY_S)
    if not stats:
        return
    resident = engine.index.positions(s.resident_id for s in stats)
    known = resident != MISSING
    columns = np.array([METRICS.index(s.metric) for s in stats])
    day = np.array([round(s.start / DAY_S) for s in stats], np.int64)
    numbers = np.array([(s.n, s.total, s.total_sq) for s in stats], np.float64)
    rule.seed(resident[known], columns[known], day[known], numbers[known])


def _seed_activity(engine: AlertEngine, store: Store, now: float) -> None:
    rules = [r for r in engine.rules if isinstance(r, NoActivityRule | NotUpRule)]
    if not rules:
        return
    buckets = store.activity_buckets(now - LEARN_DAYS * DAY_S, now, ACTIVITY_KINDS, 3600.0)
    if not buckets:
        return
    population = engine.population
    named = engine.index.positions(b.resident_id for b in buckets)
    device = population.device_positions(b.device_id for b in buckets)
    ptr = population.speaks_ptr
    single = (device != MISSING) & (ptr[np.maximum(device, 0) + 1] - ptr[np.maximum(device, 0)] == 1)
    shared = population.speaks_for[ptr[np.maximum(device, 0)]] if population.speaks_for.size else named
    resident = np.where(named != MISSING, named, np.where(single, shared, MISSING))
    first = np.array([b.first for b in buckets])
    last = np.array([b.last for b in buckets])
    keep = resident != MISSING
    resident, first, last = resident[keep], first[keep], last[keep]
    order = np.lexsort((first, resident))
    for rule in rules:
        rule.seed(resident[order], first[order], last[order])


def _seed_devices(engine: AlertEngine, store: Store, now: float) -> None:
    rule = _find(engine, DeviceOfflineRule)
    if rule is None:
        return
    seen = store.device_last_seen(now - LAST_SEEN_S)
    device = engine.population.device_positions(seen)
    ts = np.fromiter(seen.values(), np.float64, len(seen))
    known = device != MISSING
    rule.seed(device[known], ts[known])


def _find(engine: AlertEngine, kind: type[R]) -> R | None:
    return next((r for r in engine.rules if isinstance(r, kind)), None)
