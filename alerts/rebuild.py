"""Rebuilding the alert core's state after a restart from recent stored data, so that nothing fires twice and
nothing the process before had not alerted is lost.

1. Learned state from aggregates, bounded by buckets rather than rows: the day slots of the baselines and of the
   temperature trend's usual level (per-day count, sum and sum of squares of the 7 days before today, and of today
   up to where each metric's replay starts, so that the replay completes today without counting a reading twice;
   see `_seed_day_sums` for the first 2.5 h of a day),
   the activity profiles (14 days of hourly activity buckets; for getting
   up also the bed sensors' own events, a few to a few tens a day each, read a day at a time, which also say who
   was in bed when the replay starts: no activity's clock stops in bed, and a clinician's limit for the time in
   bed applies; the replay's own bed events and signs of being up carry the state on to now; for no activity's
   outings also the front doors' own events, likewise, which say who is out now), every device's last-seen time
   (26 h) and every wearable's newest ``worn`` reading (its sensor-off state, `WORN_LOOKBACK_S`). Falls with a live
   alert restart their long-lie clock (the accelerometer blocks behind them are not replayed).
2. Raw rows replayed through the ordinary batch path in one-minute chunks: the last ``REPLAY_S`` of everything,
   before that (up to ``SLOW_REPLAY_S``) the sparse streams whose rules look back further (temperature and blood
   pressure, status, room temperature, events), and the last ``ACCEL_REPLAY_S`` of accelerometer blocks. "Last":
   up to the newest row stored for the engine's devices (`_newest_row`), so that after a crash and a time down the
   state is rebuilt as it was when the data stopped; steps 1-2 all take that as their "now".
3. What the replay finds alertable is checked against the stored alerts (`AlertedBefore`): a condition with no alert
   of that resident and rule live at any time since it became alertable was never alerted (the process died between
   the commit and the alert) and is raised now; the rest counts as handled.
4. The live alerts are loaded (`AlertEngine.mark_live`): a continuing condition is not raised again; one the replay
   shows ended is reported cleared.

There is no tick in the rebuild: the time-driven rules (device offline, no activity, not up, bathroom, long lie)
judge the time stopped at the first live tick, which waits until ingest has read the broker's backlog
(ingest.catch_up), and whose findings from before the restart get the same check as the replay's (a long lie
through the crash is raised; one alerted, then resolved by hand, is not raised again).

After a clean stop the start takes up the state that stop saved instead (alerts.checkpoint) and does only 4
(`resume`): its state knows what it alerted, so the live ticks need no check. After a crash it takes up the state the
running process last saved (every few minutes) and does 2-4 from there (`recover`): the rows stored since replayed,
what they and the time since find checked against the stored alerts; exact where the rebuild approximates.

Known limits: an episode that reaches back to the start of the replayed data counts as handled if any alert of that
resident and rule is stored from the last ``LAST_SEEN_S`` (its beginning is not in the data); a fall the detector
would find in blocks older than ``ACCEL_REPLAY_S`` is not recovered. Accelerometer
movement and step counts are not part of the learned activity profile's rebuild (room-sensor events are aggregated,
every sample of a door, bed, chair or bathroom sensor counting as a change; for not up, bedroom sensors are left out
and the other sensors' buckets give their first and last event as signs of being up, so getting up is rebuilt
exactly where a bed exit starts each stretch out of bed).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from alerts._arrays import BoolArray, FloatArray, IntArray, firsts, lasts, previous
from alerts.frame import Points
from alerts.residents import DEVICE_KINDS, MISSING
from alerts.rules.baseline import DAY_S, DAYS, METRICS
from alerts.rules.behaviour import LEARN_DAYS, NoActivityRule, NotUpRule
from alerts.rules.devices import DeviceOfflineRule
from alerts.rules.safety import LongLieRule
from carewatch.catalog import WORN_LOOKBACK_S
from carewatch.model import Alert, AlertDraft, DeviceKind
from carewatch.storage.base import MAX_REPLAY_ROWS, MAX_STATS_ROWS, ActivityBucket, Store

if TYPE_CHECKING:
    from alerts.engine import AlertEngine, Found

log = logging.getLogger(__name__)
R = TypeVar("R")

REPLAY_S = 20 * 60.0  # the longest sampled window: baseline persistence 15 min, SpO2 trend 10 min, plus margin
SLOW_REPLAY_S = 2.5 * 3600.0  # the temperature trend looks back 2 h 10 min, not-worn lasts 2 h, NEWS2 keeps BP 1 h
SLOW_METRICS = ("temp", "sbp", "dbp", "o2", "avpu", "worn", "battery", "room_temp")
ACCEL_REPLAY_S = 30.0  # the fall detector looks back 5.6 s
# One replayed batch covers between a minute and an hour, sized from the previous one to hold about TARGET_ROWS rows:
# a small site replays in a few reads, a district in bounded memory.
CHUNK_S = (60.0, 3600.0)
TARGET_ROWS = 200_000
LAST_SEEN_S = 26 * 3600.0  # the longest offline timeout is 25 h
ACTIVITY_KINDS = ("motion", "door", "bed", "chair", "bathroom")  # the kinds alerts.signals counts as activity
LIVE_ALERTS_MAX = 100_000
BED_SENSOR = DEVICE_KINDS.index(DeviceKind.BED)
# An episode that begins this close to the replay's start may have begun before it (a breach seen from the first
# replayed reading on; the slowest vital signs come once a minute, and NEWS2 scores a minute at the start of the
# minute after the next, alerts.rules.early_warning.LATE_SLOTS): its beginning is not in the data.
REPLAY_EDGE_S = 180.0
# Stored times are exact to 1 us (TimescaleDB): a stored time may round away from the engine's float by this much
# (and the replay's end, excluded, lies this far after the newest row).
STORED_RESOLUTION_S = 1e-3
ALERTED_SLACK_S = 60.0  # an alert resolved this long before a condition became alertable still covers it
# Recovering from a saved state: rows stored after it up to this much older than the newest it had are replayed
# (redelivered and late rows; the rules drop what they evaluated already) ...
LATE_S = 60.0
# ... and beyond this much data stored since it, the rebuild (20 minutes of everything) reads less.
RECOVER_MAX_S = 3600.0


def rebuild(engine: AlertEngine, store: Store, now: float) -> Found:
    """Steps 1-4 (above). Returns what the lifecycle is to apply: the conditions the process before never alerted
    (with their clearings in the replay), and the live alerts whose condition ended."""
    engine.population.refresh_offsets(now)
    live = store.alerts(live_only=True, limit=LIVE_ALERTS_MAX)
    until = _newest_row(engine, store.device_last_seen(now - LAST_SEEN_S), now)
    _seed_day_sums(engine, store, until)
    _seed_activity(engine, store, until)
    _seed_devices(engine, store, until)
    _seed_worn(engine, store, until)
    _seed_falls(engine, [a for a in live if a.rule == "fall" and a.opened_at >= until - SLOW_REPLAY_S])
    starts = (until - SLOW_REPLAY_S, until - REPLAY_S, until - ACCEL_REPLAY_S)
    sites = _own_sites(engine)
    found: Found = ([], [])
    _replay(engine, store, (starts[0], starts[1]), sites, SLOW_METRICS, False, found)
    _replay(engine, store, (starts[1], starts[2]), sites, None, False, found)
    _replay(engine, store, (starts[2], until), sites, None, True, found)
    return _unalerted(engine, AlertedBefore.load(store, live, starts[:2], now, until - LAST_SEEN_S), found, live, now)


def _unalerted(engine: AlertEngine, check: AlertedBefore, found: Found, live: list[Alert], now: float) -> Found:
    """Steps 3-4 on what a replay ``found``: the conditions never alerted, with their clearings, and the live alerts
    whose condition ended. The first tick's findings get the same ``check``."""
    engine.alerted_before = check
    raised = check.unalerted(found[0], replayed=True)
    keys = {(d.resident_id, d.rule) for d in raised}
    ended = [c for c in found[1] if (c.resident_id, c.rule) in keys]
    if raised:
        log.warning("the start found %d conditions the process before had not alerted (e.g. %s of %s): raising them",
                    len(raised), raised[0].rule, raised[0].resident_id)  # fmt: skip
    return raised, ended + engine.mark_live(live, now)


def _newest_row(engine: AlertEngine, seen: dict[str, float], now: float) -> float:
    """Where the replay ends (excluded): just after the newest row stored for the engine's devices (``seen``:
    `Store.device_last_seen` since ``LAST_SEEN_S``; the crash, after a time down), at most ``now``, so that the
    state is rebuilt as it was when the data stopped and the time since is judged by the live ticks (or the broker's
    backlog, as it is read); ``now`` if nothing was stored for ``LAST_SEEN_S``."""
    mine = engine.population.device_positions(seen) != MISSING
    if not mine.any():
        return now
    newest = float(np.fromiter(seen.values(), np.float64, len(seen))[mine].max())
    return min(now, newest + STORED_RESOLUTION_S)


def recover(engine: AlertEngine, store: Store, now: float, pending: Found) -> Found | None:
    """Steps 2-4 for a state a running process saved (alerts.checkpoint), or a clean stop after which rows were
    stored: the rows of the engine's sites stored since are replayed (from ``LATE_S`` before the newest row the state
    had; before that only the devices with rows newer than the state had from them: a backlog sent late), and
    what the replay finds, the findings ``pending`` at the save, and what the first tick finds the time made true,
    are checked against the stored alerts as after a rebuild. None, with nothing changed, where the rebuild must do
    instead: the store is behind the state (a backup restored), more than ``RECOVER_MAX_S`` of data came since, or
    the state had no row of the last ``LAST_SEEN_S``."""
    seen = {d: t for d, t in engine.devices_seen().items() if t >= now - LAST_SEEN_S}
    stored = store.device_last_seen(now - LAST_SEEN_S)
    until, had = _newest_row(engine, stored, now), max(seen.values(), default=-math.inf)
    behind = [d for d, t in seen.items() if stored.get(d, -math.inf) < t - STORED_RESOLUTION_S]
    if behind or until - had > RECOVER_MAX_S:
        why = (
            f"{len(behind)} devices have fewer rows stored than it had (e.g. {behind[0]})" if behind
            else f"it had no row of the last {LAST_SEEN_S / 3600:.0f} h" if not seen
            else f"{(until - had) / 60:.0f} minutes of data came since it"
        )  # fmt: skip
        log.warning("the saved alert state is not used: %s; rebuilding from stored data", why)
        return None
    engine.population.refresh_offsets(now)
    live = store.alerts(live_only=True, limit=LIVE_ALERTS_MAX)
    sites = _own_sites(engine)
    start = had - LATE_S
    found: Found = ([*pending[0]], [*pending[1]])
    late = _sent_late(engine, seen, stored, start)
    if late:
        late_from = max(min(late.values()), now - LAST_SEEN_S)
        _replay(engine, store, (late_from, start), sites, None, True, found, sorted(late))
    _replay(engine, store, (start, until), sites, None, True, found)
    return _unalerted(engine, AlertedBefore.load(store, live, (), now, until - LAST_SEEN_S), found, live, now)


def _own_sites(engine: AlertEngine) -> list[str]:
    """The sites of the engine's residents: a worker replays its partition's rows only."""
    return sorted({r.site_id for r in engine.index.residents})


def _sent_late(engine: AlertEngine, seen: dict[str, float], stored: dict[str, float], start: float) -> dict[str, float]:
    """The engine's devices with rows stored newer than the newest it had from them (``seen``), that newest being
    before ``start``: device -> that newest (-inf: none)."""
    mine = engine.population.device_positions(stored) != MISSING
    had = {d: seen.get(d, -math.inf) for d, m in zip(stored, mine.tolist(), strict=True) if m}
    return {d: t for d, t in had.items() if t < start and stored[d] > t + STORED_RESOLUTION_S}


def resume(engine: AlertEngine, store: Store, now: float) -> Found:
    """Step 4 for an engine whose state a clean stop saved (alerts.checkpoint): nothing to rebuild or replay, as
    nothing was stored since, and nothing to check: the state is exact up to the stop, so what the time stopped made
    true was not alerted, and the next ticks judge it (once ingest has read the broker's backlog: ingest.catch_up)."""
    engine.population.refresh_offsets(now)
    return [], engine.mark_live(store.alerts(live_only=True, limit=LIVE_ALERTS_MAX), now)


@dataclass(frozen=True, slots=True)
class AlertedBefore:
    """Which of the conditions a rebuild finds alertable the process before it had alerted, from the stored alerts
    (a condition's episode runs from its ``onset`` to its ``opened_at``):

    - found alertable after the restart (``opened_at`` > ``rebuilt_at``): not alerted, whatever is stored;
    - else alerted if an alert of that resident and rule was live at some time since it became alertable (still
      live, or resolved since, by hand or by the system; ``ALERTED_SLACK_S`` for the rebuild's times); if not, the
      process died first: between a commit and its alert, or before the time made it true (a long lie through the
      crash), and it is raised now;
    - but an episode the replay finds reaching back to the start of a stream's replay (``REPLAY_EDGE_S``) may have
      begun before it: any alert of that resident and rule counts (one resolved by hand while the condition went on
      is not raised again).

    The alerts are the live ones and those opened since ``LAST_SEEN_S`` before the replay's end (the longest episode
    a tick can find: a wearable offline 25 h)."""

    replayed_from: tuple[float, ...]  # where the replay's streams start
    rebuilt_at: float
    live_until: dict[tuple[str, str], float]  # (resident, rule) -> when their latest alert was live (inf: still)

    @classmethod
    def load(
        cls, store: Store, live: Sequence[Alert], replayed_from: tuple[float, ...], rebuilt_at: float, since: float
    ) -> AlertedBefore:
        recent = store.alerts_matching(since=since, limit=LIVE_ALERTS_MAX)
        live_until: dict[tuple[str, str], float] = {}
        for a in [*recent, *live]:
            until = math.inf if a.resolved_at is None else a.resolved_at
            key = (a.resident_id, a.rule)
            live_until[key] = max(until, live_until.get(key, -math.inf))
        return cls(replayed_from, rebuilt_at, live_until)

    def unalerted(self, drafts: Sequence[AlertDraft], replayed: bool = False) -> list[AlertDraft]:
        """``replayed``: found by the replay, whose first episodes may have begun before its data."""
        return [d for d in drafts if not self.alerted(d, replayed)]

    def alerted(self, draft: AlertDraft, replayed: bool = False) -> bool:
        if draft.opened_at > self.rebuilt_at:
            return False
        onset = draft.opened_at if draft.onset is None else draft.onset
        edge = replayed and any(0.0 <= onset - start <= REPLAY_EDGE_S for start in self.replayed_from)
        since = -math.inf if edge else draft.opened_at - ALERTED_SLACK_S
        until = self.live_until.get((draft.resident_id, draft.rule))
        return until is not None and until >= since


def _replay(
    engine: AlertEngine, store: Store, span_s: tuple[float, float], sites: list[str],
    metrics: tuple[str, ...] | None, accel: bool, found: Found, devices: list[str] | None = None,
) -> None:  # fmt: skip
    """The rows of ``sites`` (and of ``devices`` if given) in [start, end) through the batch path; what they raise
    and clear is added to ``found``."""
    (at, end), span = span_s, CHUNK_S[0]
    while at < end:  # chunks of time, not rows
        stop = min(at + span, end)
        batch = store.replay_batch(at, stop, metrics, events=True, accel=accel, sites=sites, devices=devices)
        rows = max(len(batch.readings), len(batch.events), len(batch.accel))
        if rows >= MAX_REPLAY_ROWS:
            log.warning("replay of %.0f-%.0f truncated at %d rows per table", at, stop, MAX_REPLAY_ROWS)
        drafts, cleared = engine.evaluate(engine.frame(batch))
        found[0].extend(drafts)
        found[1].extend(cleared)
        at = stop
        span = float(np.clip(span * min(4.0, TARGET_ROWS / max(rows, 1)), *CHUNK_S))


def _seed_day_sums(engine: AlertEngine, store: Store, now: float) -> None:
    """Each metric's day sums from ``DAYS`` days before today up to where its replay starts (today's too, in part):
    the replay adds the rest, so every day holds its readings once. Except in the first ``SLOW_REPLAY_S`` of a UTC
    day, when the slow metrics' replay starts yesterday: a baseline drops readings of a day before its newest, so the
    other metrics are seeded up to midnight only, and their day so far restarts from their replay."""
    today = math.floor(now / DAY_S) * DAY_S
    start, slow_from, fast_from = today - DAYS * DAY_S, now - SLOW_REPLAY_S, now - REPLAY_S
    fast_until = fast_from if slow_from >= today else min(fast_from, today)
    stats = store.reading_stats(start, slow_from, tuple(m for m in METRICS if m in SLOW_METRICS), DAY_S)
    stats += store.reading_stats(start, fast_until, tuple(m for m in METRICS if m not in SLOW_METRICS), DAY_S)
    if not stats:
        return
    resident = engine.index.positions(s.resident_id for s in stats)
    known = resident != MISSING
    columns = np.array([METRICS.index(s.metric) for s in stats])
    day = np.array([round(s.start / DAY_S) for s in stats], np.int64)
    numbers = np.array([(s.n, s.total, s.total_sq) for s in stats], np.float64)
    engine.seed_day_sums(resident[known], columns[known], day[known], numbers[known])


def _seed_activity(engine: AlertEngine, store: Store, now: float) -> None:
    """The activity profiles, getting up, and who is in bed (alerts.signals) as of the replay's start: the replay
    carries it on, so that each replayed reading meets the in-bed state of its own time (a limit for the time in
    bed)."""
    up, quiet = _find(engine, NotUpRule), _find(engine, NoActivityRule)
    start = now - LEARN_DAYS * DAY_S
    buckets = store.activity_buckets(start, now, ACTIVITY_KINDS, 3600.0)
    if quiet is not None:
        _seed(quiet, engine, buckets)
        _seed_outings(quiet, engine, store, buckets, start, now)
    up_res, up_ts = _up_signs(engine, buckets)
    beds = engine.population.device_kind == BED_SENSOR
    for at, until, b_res, ts, value, changed in _sensor_days(engine, store, beds, "bed", start, now):
        occupied = value >= 0.5
        sign = occupied | changed  # a change to empty is a bed exit
        mine = (up_ts >= at) & (up_ts < until)
        up_now = np.zeros(int(mine.sum()), bool)
        signs = np.concatenate([b_res, up_res[mine]]), np.concatenate([ts, up_ts[mine]])
        before = signs[1] < now - SLOW_REPLAY_S  # in bed unless a sign of being up came after the last occupied sample
        engine.signals.beds.seed(signs[0][before], signs[1][before], np.concatenate([occupied, up_now])[before])
        if up is not None:
            up.seed(
                np.concatenate([b_res[sign], up_res[mine]]),
                np.concatenate([ts[sign], up_ts[mine]]),
                np.concatenate([occupied[sign], up_now]),
            )


def _seed(rule: NoActivityRule, engine: AlertEngine, buckets: list[ActivityBucket]) -> None:
    resident, _, first, last = _bucket_arrays(engine, buckets)
    keep = resident != MISSING
    resident, first, last = resident[keep], first[keep], last[keep]
    order = np.lexsort((first, resident))
    rule.seed(resident[order], first[order], last[order])


def _seed_outings(
    rule: NoActivityRule, engine: AlertEngine, store: Store, buckets: list[ActivityBucket], start: float, now: float
) -> None:
    """Outings: the front doors' own changes (a few a day each; their level repeats are no departure), and as
    activity inside the first and last event of each hour of the other room sensors (k,). The hours wholly out come
    out as live learning has them (no activity inside in them, and the last before an outing and the first after it
    are each the last or first of their hour); the ends of an outing within an hour may differ (no matter: only
    whole hours are learned), as may outings that a bed, chair or bathroom sensor's level repeat ends early."""
    resident, device, first, last = _bucket_arrays(engine, buckets)
    entrance = engine.population.device_entrance
    inside = (resident != MISSING) & ~entrance[device]
    door_res, door_ts = [np.empty(0, np.int64)], [np.empty(0)]
    for _, _, r, ts, _, changed in _sensor_days(engine, store, entrance[:-1], "door", start, now):  # days
        door_res.append(r[changed])
        door_ts.append(ts[changed])
    rule.seed_home(
        Points(np.tile(resident[inside], 2), np.concatenate([first[inside], last[inside]])),
        Points(np.concatenate(door_res), np.concatenate(door_ts)),
    )


def _up_signs(engine: AlertEngine, buckets: list[ActivityBucket]) -> tuple[IntArray, FloatArray]:
    """Getting up's signs besides bed exits: the first and last activity of each hour of the sensors outside the
    bedroom (k,)."""
    resident, device, first, last = _bucket_arrays(engine, buckets)
    outside = (resident != MISSING) & ~engine.population.device_bedroom[device]  # MISSING: the sentinel, no bedroom
    return np.tile(resident[outside], 2), np.concatenate([first[outside], last[outside]])


def _sensor_days(
    engine: AlertEngine, store: Store, which: BoolArray, kind: str, start: float, now: float
) -> Iterator[tuple[float, float, IntArray, FloatArray, FloatArray, BoolArray]]:
    """The own events of one ``kind`` of the devices ``which`` (D,) (bed sensors, front doors: a few to a few tens
    a day each), read a day at a time: the day's start and end, each attributed event's resident, time and value
    (k,), and which are changes (the first of a sensor is one). Hourly buckets show neither returns to bed, nor
    whether the resident is in bed now, nor a door's level repeats."""
    population = engine.population
    devices = [population.device_ids[d] for d in np.flatnonzero(which).tolist()]
    state = np.full(population.device_count + 1, np.nan)  # each sensor's latest value (NaN: none yet)
    for at in np.arange(start, now, DAY_S).tolist():  # days, not rows
        until = min(at + DAY_S, now)
        rows = store.device_events(devices, kind, at, until) if devices else []
        if len(rows) >= MAX_STATS_ROWS:
            log.warning("%s events of %.0f-%.0f truncated at %d rows", kind, at, until, MAX_STATS_ROWS)
        b_res, b_dev = _attributed(engine, [e.resident_id for e in rows], [e.device_id for e in rows])
        ts = np.array([e.ts for e in rows], np.float64)
        value = np.array([e.value for e in rows], np.float64)
        order = np.lexsort((ts, b_dev))  # by device and time (as stored)
        b_res, b_dev, ts, value = b_res[order], b_dev[order], ts[order], value[order]
        before = previous(value, firsts(b_dev), state[b_dev])
        state[b_dev[lasts(b_dev)]] = value[lasts(b_dev)]
        known = b_res != MISSING
        changed = value != before  # NaN: a change
        yield at, until, b_res[known], ts[known], value[known], changed[known]


def _bucket_arrays(
    engine: AlertEngine, buckets: list[ActivityBucket]
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Each bucket's resident (MISSING if none), device, first and last event (k,)."""
    resident, device = _attributed(engine, [b.resident_id for b in buckets], [b.device_id for b in buckets])
    first = np.array([b.first for b in buckets], np.float64)
    return resident, device, first, np.array([b.last for b in buckets], np.float64)


def _attributed(
    engine: AlertEngine, resident_ids: list[str | None], device_ids: list[str]
) -> tuple[IntArray, IntArray]:
    """Stored rows' residents (the one they name, else the one their device alone speaks for; MISSING) and devices."""
    population = engine.population
    named = engine.index.positions(resident_ids)
    device = population.device_positions(device_ids)
    ptr = population.speaks_ptr
    at = np.maximum(device, 0)
    single = (device != MISSING) & (ptr[at + 1] - ptr[at] == 1)
    shared = population.speaks_for[np.minimum(ptr[at], population.speaks_for.size - 1)] if single.any() else named
    return np.where(named != MISSING, named, np.where(single, shared, MISSING)), device


def _seed_devices(engine: AlertEngine, store: Store, now: float) -> None:
    rule = _find(engine, DeviceOfflineRule)
    if rule is None:
        return
    seen = store.device_last_seen(now - LAST_SEEN_S)
    device = engine.population.device_positions(seen)
    ts = np.fromiter(seen.values(), np.float64, len(seen))
    known = device != MISSING
    rule.seed(device[known], ts[known])


def _seed_worn(engine: AlertEngine, store: Store, now: float) -> None:
    worn = store.latest_device_readings("worn", now - WORN_LOOKBACK_S)
    device = engine.population.device_positions(worn)
    ts, value = (np.fromiter((tv[i] for tv in worn.values()), np.float64, len(worn)) for i in (0, 1))
    known = device != MISSING
    engine.signals.seed_worn(device[known], ts[known], value[known])


def _seed_falls(engine: AlertEngine, falls: list[Alert]) -> None:
    rule = _find(engine, LongLieRule)
    resident = engine.index.positions(a.resident_id for a in falls)
    known = resident != MISSING
    if rule is not None and known.any():
        rule.seed_falls(resident[known], np.array([a.opened_at for a in falls])[known])


def _find(engine: AlertEngine, kind: type[R]) -> R | None:
    return next((r for r in engine.rules if isinstance(r, kind)), None)
