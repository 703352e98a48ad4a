"""The same rules as `alerts.rules.default_rules()`, written the straightforward way: one reading at a time, plain
Python loops and per-resident state in dicts and lists. Never used to alert: it is the oracle of
tests/alerts/test_reference.py (both implementations must raise and clear the same alerts) and the baseline that
bench/alerts.py measures the vectorised engine against.

It shares the rules' parameters (the specs and named constants) and the registry view (`Population`), nothing of
their array code. Each rule's observations are sorted by (key, time) and walked one by one, as the obvious
implementation would; where the engine's semantics are subtle (an episode that becomes alertable at onset +
persist, a per-device condition folded into one alert per resident per batch) this file spells them out.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts import news2
from alerts.falls import _EDGE_GUARD_S, FallParams, _Grid
from alerts.residents import DEVICE_KINDS, MISSING, Population
from alerts.rules import (
    BATHROOM_LONG,
    BATTERY_LOW,
    COLD,
    GAS,
    HEAT,
    NOT_WORN,
    SMOKE,
    SPO2_FALLING,
    TEMP_RISING,
    THRESHOLDS,
    WATER_LEAK,
)
from alerts.rules import baseline as bl
from alerts.rules import behaviour as bh
from alerts.rules import devices as dv
from alerts.rules import early_warning as ew
from alerts.rules.held import HeldSpec
from alerts.rules.safety import NIGHT_REARM_S, REARM_S
from alerts.rules.threshold import ThresholdSpec
from alerts.rules.trend import TrendSpec
from alerts.signals import MIN_BLOCK_SAMPLES, MOVING_SD_G, RECOVERY_S
from carewatch.catalog import BODY_METRICS
from carewatch.model import Batch, Device, DeviceKind, Resident, Site
from carewatch.storage.base import (
    NEWS2_EMERGENCY_FROM,
    NEWS2_URGENT_FROM,
    News2Escalation,
    ThresholdContext,
)
from carewatch.storage.base import (
    Threshold as ClinicianThreshold,
)

Finding = tuple[str, str, float]  # (resident_id, rule, time)
Block = tuple[int, float, float, list[tuple[float, float, float]], int]  # resident, start, rate, samples, device
INF = math.inf
NAN = math.nan

HAZARD_METRICS = frozenset({"room_temp", "humidity"})
DEVICE_METRICS = frozenset({"battery", "rssi", "worn"})
HAZARD_KINDS = frozenset({"smoke", "gas", "water_leak"})
CHANGE_KINDS = frozenset({"door", "bed", "chair", "bathroom"})
DAY_S, HOUR_S = 86_400.0, 3600.0


@dataclass
class Out:
    raised: list[Finding] = field(default_factory=list)
    cleared: list[Finding] = field(default_factory=list)


@dataclass
class Rows:
    """One batch, attributed: readings (resident, metric, ts, value, device); events (resident, kind, ts, value,
    device); accel (resident, ts, rate, samples, device); status (device, metric, ts, value); seen (device, ts)."""

    readings: list[tuple[int, str, float, float, int]] = field(default_factory=list)
    events: list[tuple[int, str, float, float, int]] = field(default_factory=list)
    accel: list[Block] = field(default_factory=list)
    status: list[tuple[int, str, float, float]] = field(default_factory=list)
    seen: list[tuple[int, float]] = field(default_factory=list)
    activity: list[tuple[int, float]] = field(default_factory=list)
    recovery: list[tuple[int, float]] = field(default_factory=list)  # activity, a step count's rise at its start
    up: list[tuple[int, float]] = field(default_factory=list)  # leaving the bed, activity outside the bedroom
    inside: list[tuple[int, float]] = field(default_factory=list)  # room sensors' activity but the front door's
    entrance: list[tuple[int, float]] = field(default_factory=list)  # the front door's changes
    exertion: dict[int, list[float]] = field(default_factory=dict)  # resident -> sorted instants of body movement
    exerted_before: dict[int, float] = field(default_factory=dict)  # newest exertion of earlier batches
    beds: list[tuple[int, float, bool]] = field(default_factory=list)  # fresh bed samples and up signs: occupied?
    in_bed_before: dict[int, bool] = field(default_factory=dict)  # in bed before the batch (absent: not)

    def in_bed_at(self, r: int, ts: float) -> bool:
        """In bed at ``ts``: the newest of the batch's fresh bed samples and up signs at or before it, else the state
        before the batch."""
        mine = [b for b in self.beds if b[0] == r and b[1] <= ts]
        return mine[-1][2] if mine else self.in_bed_before.get(r, False)

    falls: list[tuple[int, float, bool]] = field(default_factory=list)  # resident, ts, reported by the device


def _fresh(obs: list[tuple[Any, ...]], last: Callable[[Any], float]) -> list[tuple[Any, ...]]:
    """Sort (key, ts, tiebreak...) tuples; keep the first per (key, ts); drop those at or before ``last(key)``."""
    out: list[tuple[Any, ...]] = []
    for o in sorted(obs):
        if out and out[-1][0] == o[0] and out[-1][1] == o[1]:
            continue
        if o[1] > last(o[0]):
            out.append(o)
    return out


# Episodes, one observation at a time ------------------------------------------------------------------------------
@dataclass
class Episode:
    last_ts: float = -INF
    inside: bool = False
    onset: float = NAN
    active: bool = False
    value: float = NAN
    beyond_ts: float = NAN  # sampled: the current run's last reading beyond the entry limit
    lead: int = 0  # sampled: the current run's readings beyond the entry limit less its others


def sampled(
    e: Episode, ts: float, code: int, persist: float, max_gap: float, tolerance: float = 0.0
) -> tuple[float | None, bool]:
    """One reading of a sampled condition: (raise time or None, cleared). The persistence clock runs while readings
    are beyond the entry limit (code 1) and through a dip (codes -1 and 0) of at most ``tolerance`` since the run's
    last reading beyond; it alerts at a reading beyond once the run has lasted ``persist`` with more than half its
    readings beyond. Outside a run the hysteresis band (code -1) only keeps a raised alert, and code 0 clears it."""
    beyond = code == 1
    gap = math.isfinite(e.last_ts) and ts - e.last_ts > max_gap
    raised, cleared = None, False
    if beyond:
        if not e.inside or gap:
            e.onset = ts
            e.lead = 0
        e.inside, e.beyond_ts, e.lead = True, ts, e.lead + 1
        if not e.active and ts - e.onset >= persist and e.lead > 0:
            e.active, raised = True, ts
    elif e.inside and ts - e.beyond_ts <= tolerance:
        e.lead -= 1  # a short dip: the run continues, and a raised alert stays
    else:
        e.inside, e.onset, e.beyond_ts, e.lead = False, NAN, NAN, 0
        if code == 0 and e.active:
            e.active, cleared = False, True
    e.last_ts = ts
    return raised, cleared


def held(e: Episode, ts: float, code: int, persist: float, value: float) -> tuple[float | None, float, bool]:
    """One observation of a held condition: (raise time or None, the value shown with it, cleared)."""
    inside = e.inside if code == -1 else code == 1
    raised: float | None = None
    shown, cleared = value, False
    if inside:
        if not e.inside:
            e.onset, e.active = ts, False
        if not e.active and ts - e.onset >= persist:
            raised, e.active = e.onset + persist, True
    elif e.inside:
        if not e.active and ts - e.onset >= persist:
            raised, shown = e.onset + persist, e.value
        cleared = e.active or raised is not None
        e.onset, e.active = NAN, False
    e.inside, e.last_ts, e.value = inside, ts, value
    return raised, shown, cleared


def held_tick(e: Episode, now: float, persist: float) -> float | None:
    if e.inside and not e.active and now - e.onset >= persist:
        e.active = True
        return e.onset + persist
    return None


def code_of(value: float, below: bool, enter: float, leave: float, inclusive: bool = False) -> int:
    """1 beyond the entry limit (at it too, ``inclusive``), 0 past the leave limit, -1 in between."""
    if below:
        return 1 if value < enter or (inclusive and value == enter) else 0 if value >= leave else -1
    return 1 if value > enter or (inclusive and value == enter) else 0 if value <= leave else -1


class Tally:
    """Per-batch folding of sub-conditions into one alert per resident (as the engine does)."""

    def __init__(self) -> None:
        self.count: dict[int, int] = defaultdict(int)

    def apply(self, changes: list[tuple[int, float, int]]) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        raised: list[tuple[int, float]] = []
        cleared: list[tuple[int, float]] = []
        for resident, at, delta in sorted(changes, key=lambda c: (c[0], c[1], -c[2])):
            before = self.count[resident]
            after = before + delta
            if before <= 0 < after:
                raised.append((resident, at))
            if before > 0 >= after:
                cleared.append((resident, at))
            self.count[resident] = max(after, 0)
        return raised, cleared


# The rules -----------------------------------------------------------------------------------------------------------
class Ref:
    name: str
    clears = True

    def __init__(self, world: ReferenceEngine) -> None:
        self.world = world

    def id(self, position: int) -> str:
        return self.world.population.residents[position].resident_id

    def evaluate(self, rows: Rows, out: Out) -> None:
        raise NotImplementedError

    def tick(self, now: float, out: Out) -> None:
        return None

    def report(self, out: Out, raised: list[tuple[int, float]], cleared: list[tuple[int, float]]) -> None:
        out.raised += [(self.id(p), self.name, t) for p, t in raised]
        if self.clears:
            out.cleared += [(self.id(p), self.name, t) for p, t in cleared]


class Threshold(Ref):
    def __init__(self, world: ReferenceEngine, spec: ThresholdSpec) -> None:
        super().__init__(world)
        self.spec, self.name = spec, spec.name
        self.ep: dict[int, Episode] = defaultdict(Episode)

    def limits(self, position: int, in_bed: bool) -> tuple[float, float]:
        """(enter, leave) in force: a clinician's limit for the time in bed while in bed, else their other limit, else
        the default; a clinician's limit keeps the default hysteresis."""
        s = self.spec
        clinician = self.world.clinician
        value = clinician.get((s.name, position, True)) if in_bed else None
        value = clinician.get((s.name, position, False)) if value is None else value
        if value is None:
            return s.for_resident(self.world.population.residents[position]) if s.for_resident else (s.enter, s.leave)
        gap = abs(s.leave - s.enter)
        return value, value + gap if s.below else value - gap

    def evaluate(self, rows: Rows, out: Out) -> None:
        obs = [(r, ts, v) for r, m, ts, v, _ in rows.readings if m == self.spec.metric]
        raised: list[tuple[int, float]] = []
        cleared: list[tuple[int, float]] = []
        for r, ts, v in _fresh(obs, lambda k: self.ep[k].last_ts):
            enter, leave = self.limits(r, rows.in_bed_at(r, ts))
            code = code_of(v, self.spec.below, enter, leave, self.spec.inclusive)
            if code == 1 and self.spec.at_rest and ts - self.exerted(rows, r, ts) <= RECOVERY_S:
                code = -1  # exertion or its recovery: neither starts nor continues the persistence
            tolerance = min(self.spec.dip_fraction * self.spec.persist_s, self.spec.max_gap_s)
            at, gone = sampled(self.ep[r], ts, code, self.spec.persist_s, self.spec.max_gap_s, tolerance)
            if at is not None:
                raised.append((r, at))
            if gone:
                cleared.append((r, ts))
        self.report(out, raised, cleared)

    @staticmethod
    def exerted(rows: Rows, r: int, ts: float) -> float:
        """The newest exertion of resident ``r`` at or before ``ts`` (this batch's, else the earlier batches')."""
        mine = rows.exertion.get(r, [])
        k = bisect_right(mine, ts)
        before = rows.exerted_before.get(r, -INF)
        return max(mine[k - 1] if k else -INF, before if before <= ts else -INF)


class Held(Ref):
    def __init__(self, world: ReferenceEngine, spec: HeldSpec) -> None:
        super().__init__(world)
        self.spec, self.name, self.clears = spec, spec.name, spec.clears
        self.ep: dict[int, Episode] = defaultdict(Episode)
        self.tally = Tally()

    def evaluate(self, rows: Rows, out: Out) -> None:
        s = self.spec
        if s.events:
            obs = [(r, ts, v) for r, k, ts, v, _ in rows.events if k == s.signal]
        elif s.per_device:
            obs = [(d, ts, v) for d, m, ts, v in rows.status if m == s.signal]
        else:
            obs = [(r, ts, v) for r, m, ts, v, _ in rows.readings if m == s.signal]
        raised: list[tuple[int, float]] = []
        cleared: list[tuple[int, float]] = []
        for key, ts, v in _fresh(obs, lambda k: self.ep[k].last_ts):
            at, _, gone = held(self.ep[key], ts, code_of(v, s.below, s.enter, s.leave), s.persist_s, v)
            if at is not None:
                raised.append((key, at))
            if gone:
                cleared.append((key, ts))
        self._out(out, raised, cleared)

    def tick(self, now: float, out: Out) -> None:
        raised = []
        for key, e in self.ep.items():
            at = held_tick(e, now, self.spec.persist_s)
            if at is not None:
                raised.append((key, at))
        self._out(out, sorted(raised), [])

    def _out(self, out: Out, raised: list[tuple[int, float]], cleared: list[tuple[int, float]]) -> None:
        if not self.spec.per_device:
            self.report(out, raised, cleared)
            return
        speaks = self.world.speaks_for
        changes = [(r, at, 1) for d, at in raised for r in speaks[d]]
        changes += [(r, at, -1) for d, at in cleared for r in speaks[d]]
        self.report(out, *self.tally.apply(changes))


class News2(Ref):
    """Both levels share one scorer (as in the engine). Each resident's NEWS2 readings are walked in time order, each
    used when newer than the newest of its own parameter; when one falls LATE_SLOTS + 1 minutes or more after a minute
    with a measured reading not yet scored, that minute is scored at the start of the minute LATE_SLOTS after it: each
    measured parameter from the median of its readings of the minute's last WINDOW_SLOTS minutes (the lower score of
    the two middle readings), else its newest value if recent enough. A reading more than RING_SLOTS minutes older
    than the resident's newest one counts only as a newest value."""

    def __init__(self, world: ReferenceEngine) -> None:
        super().__init__(world)
        self.latest: dict[int, list[float]] = defaultdict(lambda: [NAN] * 7)
        self.latest_ts: dict[int, list[float]] = defaultdict(lambda: [-INF] * 7)
        self.slot: dict[int, int | None] = defaultdict(lambda: None)  # the resident's newest minute
        self.window: dict[int, list[tuple[int, int, float]]] = defaultdict(list)  # (minute, column, value)
        self.levels: dict[str, dict[int, Episode]] = {
            "news2_urgent": defaultdict(Episode),
            "news2_emergency": defaultdict(Episode),
        }

    def evaluate(self, rows: Rows, out: Out) -> None:
        column = {m: i for i, m in enumerate(ew.METRICS)}
        obs = sorted((r, ts, column[m], v) for r, m, ts, v, _ in rows.readings if m in column)
        kept: list[tuple[int, float, int, float]] = []
        for o in obs:
            if kept and kept[-1][:3] == o[:3]:
                continue
            if o[1] > self.latest_ts[o[0]][o[2]]:
                kept.append(o)
        found: dict[str, list[tuple[int, float]]] = {"news2_urgent": [], "news2_emergency": []}
        lost: dict[str, list[tuple[int, float]]] = {"news2_urgent": [], "news2_emergency": []}
        measured = set(ew.MEASURED.tolist())
        for r, ts, c, v in kept:
            if c in measured and ts - Threshold.exerted(rows, r, ts) <= RECOVERY_S:
                continue  # observations are taken at rest
            slot = math.floor(ts / ew.SLOT_S)
            newest = self.slot[r]
            if newest is None or slot > newest:
                pending = -INF if newest is None else newest - ew.LATE_SLOTS
                due = {s for s, k, _ in self.window[r] if k in measured and pending <= s < slot - ew.LATE_SLOTS}
                for p in sorted(due):
                    self.score_minute(r, p, found, lost)
                self.slot[r] = slot
                self.window[r] = [x for x in self.window[r] if x[0] > slot - ew.RING_SLOTS]
            elif slot <= newest - ew.RING_SLOTS:
                self.latest[r][c], self.latest_ts[r][c] = v, ts  # too old for the medians
                continue
            self.window[r].append((slot, c, v))
            self.latest[r][c], self.latest_ts[r][c] = v, ts
        for name in found:
            out.raised += [(self.id(p), name, t) for p, t in found[name]]
            out.cleared += [(self.id(p), name, t) for p, t in lost[name]]

    def score_minute(
        self, r: int, p: int, found: dict[str, list[tuple[int, float]]], lost: dict[str, list[tuple[int, float]]]
    ) -> None:
        at = (p + 1 + ew.LATE_SLOTS) * ew.SLOT_S
        newest = [self.latest[r][k] if at - self.latest_ts[r][k] <= ew.MAX_AGE_S[k] else NAN for k in range(7)]
        low, high = list(newest), list(newest)
        for c in ew.MEASURED.tolist():
            values = sorted(v for s, k, v in self.window[r] if k == c and p - ew.WINDOW_SLOTS < s <= p)
            if values:
                low[c], high[c] = values[(len(values) - 1) // 2], values[len(values) // 2]
        points = [min(a, b) for a, b in zip(self.points(r, low), self.points(r, high), strict=True)]
        e = self.world.news2_escalations.get(r)  # a clinician's levels for this resident, else the RCP's
        urgent = e.urgent_from if e else NEWS2_URGENT_FROM
        emergency = e.emergency_from if e else NEWS2_EMERGENCY_FROM
        total = sum(points)  # a floor of the aggregate when parameters are missing
        red = max(points) >= news2.RED_SCORE and (e is None or e.red_score)
        # Ending a level counts a missing parameter with the points of its last reading within OBSERVED_S.
        last = [NAN] * 7
        last[2] = low[2]  # SpO2's column follows the oxygen in use
        for k in ew.MEASURED.tolist():
            if math.isnan(low[k]) and at - self.latest_ts[r][k] <= ew.OBSERVED_S:
                last[k] = self.latest[r][k]
        stale = [self.points(r, last)[k] for k in ew.MEASURED.tolist()]
        stale_red = max(stale) >= news2.RED_SCORE and (e is None or e.red_score)
        emergency_open = False
        for name, enter, persist in (
            ("news2_emergency", emergency, ew.EMERGENCY_PERSIST_S), ("news2_urgent", urgent, ew.URGENT_PERSIST_S)
        ):  # fmt: skip
            leave = max(enter - ew.HYSTERESIS, 0)
            if name == "news2_urgent":
                code = (
                    1
                    if total >= enter or red
                    else 0
                    if total + sum(stale) <= leave and not red and not stale_red
                    else -1
                )
                if emergency_open or total >= emergency:
                    persist = INF  # not opened at the emergency level or beside the emergency alert
            else:
                code = 1 if total >= enter else 0 if total + sum(stale) <= leave else -1
            raised, gone = sampled(self.levels[name][r], at, code, persist, ew.MAX_GAP_S)
            if raised is not None:
                found[name].append((r, raised))
            if gone:
                lost[name].append((r, at))
            emergency_open = self.levels[name][r].active

    def points(self, r: int, v: list[float]) -> list[int]:
        rr, spo2, o2, sbp, hr, avpu, temp = v
        oxygen = o2 >= 0.5
        scale2 = self.world.population.residents[r].spo2_scale == 2

        def band(table: news2.BandTable, x: float) -> int:
            return 0 if math.isnan(x) else int(table.points[bisect_right(table.edges.tolist(), x)])

        if scale2:
            spo2_points = band(news2.SPO2_SCALE2_OXYGEN if oxygen else news2.SPO2_SCALE2_AIR, spo2)
        else:
            spo2_points = band(news2.SPO2_SCALE1, spo2)
        return [band(news2.RR, rr), spo2_points, 2 if oxygen else 0, band(news2.SBP, sbp), band(news2.HR, hr),
                3 if avpu == 1 else 0, band(news2.TEMP, temp)]  # fmt: skip


class Baseline(Ref):
    name = "baseline_deviation"

    def __init__(self, world: ReferenceEngine) -> None:
        super().__init__(world)
        self.days: dict[int, dict[int, list[float]]] = defaultdict(dict)  # resident -> day -> 3 per metric
        self.newest: dict[int, float] = defaultdict(lambda: -INF)
        self.ep: dict[tuple[int, int], Episode] = defaultdict(Episode)
        self.tally = Tally()
        self.limits = {m: self.world.limits(m) for m in bl.METRICS}

    def evaluate(self, rows: Rows, out: Out) -> None:
        m_count = len(bl.METRICS)
        obs = [(r * m_count + bl.METRICS.index(m), ts, v) for r, m, ts, v, _ in rows.readings if m in bl.METRICS]
        kept = _fresh(obs, lambda k: self.ep[divmod(k, m_count)].last_ts)
        newest = dict(self.newest)
        changes: list[tuple[int, float, int]] = []
        for key, ts, v in kept:
            r, c = divmod(key, m_count)
            day = math.floor(ts / bl.DAY_S)
            if day < newest.get(r, -INF):
                continue
            x = v - float(bl.REFERENCE[c])
            slot = self.days[r].setdefault(day, [0.0] * (3 * m_count))
            slot[3 * c] += 1.0
            slot[3 * c + 1] += x
            slot[3 * c + 2] += x * x
            self.newest[r] = max(self.newest[r], day)
            n = s1 = s2 = 0.0
            days = 0
            for back in range(1, bl.DAYS + 1):
                past = self.days[r].get(day - back)
                if past is not None:
                    n, s1, s2 = n + past[3 * c], s1 + past[3 * c + 1], s2 + past[3 * c + 2]
                    days += past[3 * c] > 0
            mean = s1 / max(n, 1.0)
            sd = max(math.sqrt(max(s2 / max(n, 1.0) - mean * mean, 0.0)), float(bl.MIN_SD[c]))
            deviation = v - (mean + float(bl.REFERENCE[c]))
            mature = n >= bl.MIN_READINGS and days >= bl.MIN_DAYS
            low, high = self.limits[bl.METRICS[c]]
            within = not low(r, v) and not high(r, v)
            change = float(bl.MIN_CHANGE[c])
            far = abs(deviation) >= max(bl.Z_ENTER * sd, change)
            near = abs(deviation) <= max(bl.Z_LEAVE * sd, change / 2)
            code = 1 if mature and within and far else 0 if mature and near else -1
            at, gone = sampled(self.ep[(r, c)], ts, code, bl.PERSIST_S, bl.MAX_GAP_S)
            if at is not None:
                changes.append((r, at, 1))
            if gone:
                changes.append((r, ts, -1))
        for r in list(self.days):  # only the last 8 days can ever be looked at again
            for day in [d for d in self.days[r] if d <= self.newest[r] - bl.DAYS - 1]:
                del self.days[r][day]
        self.report(out, *self.tally.apply(changes))


class Trend(Ref):
    def __init__(self, world: ReferenceEngine, spec: TrendSpec, limit: str, origin: str | None) -> None:
        super().__init__(world)
        self.spec, self.name = spec, spec.name
        self.limit, self.origin = world.beyond(limit), world.beyond(origin) if origin else None
        self.slots: dict[int, dict[int, list[float]]] = defaultdict(dict)
        self.newest: dict[int, int | None] = defaultdict(lambda: None)
        self.last_ts: dict[int, float] = defaultdict(lambda: -INF)
        self.ep: dict[int, Episode] = defaultdict(Episode)
        self.days: dict[int, dict[int, list[float]]] = defaultdict(dict)  # resident -> UTC day -> count, sum
        self.newest_day: dict[int, float] = defaultdict(lambda: -INF)

    def evaluate(self, rows: Rows, out: Out) -> None:
        s = self.spec
        obs = [(r, ts, v) for r, m, ts, v, _ in rows.readings if m == s.metric
               and not (s.at_rest and ts - Threshold.exerted(rows, r, ts) <= RECOVERY_S)]  # fmt: skip
        raised: list[tuple[int, float]] = []
        cleared: list[tuple[int, float]] = []
        for r, ts, v in _fresh(obs, lambda k: self.last_ts[k]):
            day = math.floor(ts / bl.DAY_S)
            if s.above_usual is not None and day <= self.newest_day[r] - bl.DAYS - 1:
                continue  # over a week late: its day is gone
            slot = math.floor(ts / s.slot_s)
            newest = self.newest[r]
            if newest is not None and slot > newest and self.slots[r].get(newest, [0.0])[0] > 0:
                self.evaluate_slot(r, newest, raised, cleared)
            sums = self.slots[r].setdefault(slot, [0.0, 0.0])
            sums[0] += 1.0
            sums[1] += v
            self.newest[r] = slot if newest is None else max(newest, slot)
            self.last_ts[r] = ts
            span = s.window * (s.lookback + 1)
            for old in [k for k in self.slots[r] if k <= self.newest[r] - span]:  # type: ignore[operator]
                del self.slots[r][old]
            if s.above_usual is not None:
                self.add_day(r, day, 1.0, v)
        self.report(out, raised, cleared)

    def add_day(self, r: int, day: int, count: float, total: float) -> None:
        sums = self.days[r].setdefault(day, [0.0, 0.0])
        sums[0] += count
        sums[1] += total
        self.newest_day[r] = max(self.newest_day[r], day)
        for old in [d for d in self.days[r] if d <= self.newest_day[r] - bl.DAYS - 1]:
            del self.days[r][old]

    def usual(self, r: int, day: int) -> float:
        n = 0.0
        daily: list[float] = []
        for back in range(1, bl.DAYS + 1):
            past = self.days[r].get(day - back)
            if past is not None and past[0] > 0:
                n += past[0]
                daily.append(past[1] / past[0])
        return statistics.median(daily) if n >= bl.MIN_READINGS and len(daily) >= bl.MIN_DAYS else NAN

    def evaluate_slot(self, r: int, p: int, raised: list[tuple[int, float]], cleared: list[tuple[int, float]]) -> None:
        s = self.spec
        levels = []
        for k in range(s.lookback + 1):
            n = total = 0.0
            for back in range(s.window):
                slot = self.slots[r].get(p - k * s.window - back)
                if slot is not None:
                    n, total = n + slot[0], total + slot[1]
            levels.append(total / max(n, 1.0) if n >= s.min_count else NAN)
        now, before = levels[0], [x for x in levels[1:] if not math.isnan(x)]
        latest = self.slots[r][p][1] / self.slots[r][p][0]
        if s.falling:
            reference = max(before) if before else -INF
            change = reference - now
        else:
            reference = min(before) if before else INF
            change = now - reference
        safe = not self.limit(r, latest)  # still on the safe side of the threshold rule's limit
        if self.origin is not None:
            safe = safe and not self.origin(r, reference)  # not a recovery from beyond the other rule's limit
        if s.ends_beyond is not None:  # a change that ends inside the resident's target range is none
            end = s.ends_beyond(self.world.population.residents[r])
            safe = safe and (now < end if s.falling else now > end)
        if s.above_usual is not None:
            usual = self.usual(r, math.floor(p * s.slot_s / bl.DAY_S))
            safe = safe and (now > s.usual_cap or now >= usual + s.above_usual)  # NaN usual: the cap alone
        known = math.isfinite(reference) and not math.isnan(now)
        code = 1 if known and safe and change >= s.delta else 0 if known and change <= s.leave_delta else -1
        at_ts = (p + 1) * s.slot_s
        at, gone = sampled(self.ep[r], at_ts, code, 0.0, s.slot_s * s.window * (s.lookback + 1))
        if at is not None:
            raised.append((r, at))
        if gone:
            cleared.append((r, at_ts))


class Incidents:
    def __init__(self) -> None:
        self.last: dict[int, float] = defaultdict(lambda: -INF)

    def new(self, r: int, ts: float, rearm: float) -> bool:
        fresh = ts - self.last[r] > rearm
        self.last[r] = max(self.last[r], ts)
        return fresh


class Sos(Ref):
    name, clears = "sos", False

    def __init__(self, world: ReferenceEngine) -> None:
        super().__init__(world)
        self.incidents = Incidents()

    def evaluate(self, rows: Rows, out: Out) -> None:
        presses = sorted((r, ts) for r, k, ts, v, _ in rows.events if k == "sos" and v >= 0.5)
        self.report(out, [(r, ts) for r, ts in presses if self.incidents.new(r, ts, REARM_S)], [])


class Fall(Ref):
    name, clears = "fall", False

    def __init__(self, world: ReferenceEngine) -> None:
        super().__init__(world)
        self.incidents = Incidents()

    def evaluate(self, rows: Rows, out: Out) -> None:
        falls = sorted(rows.falls)
        self.report(out, [(r, ts) for r, ts, _ in falls if self.incidents.new(r, ts, REARM_S)], [])


class LongLie(Ref):
    name, clears = "fall_long_lie", False
    PERSIST = 600.0

    def __init__(self, world: ReferenceEngine) -> None:
        super().__init__(world)
        self.ep: dict[int, Episode] = defaultdict(Episode)

    def evaluate(self, rows: Rows, out: Out) -> None:
        obs = [(r, ts, -1) for r, ts, _ in rows.falls] + [(r, ts, 0) for r, ts in rows.recovery]
        raised = []
        for r, ts, negative_code in _fresh(obs, lambda k: self.ep[k].last_ts):
            at, _, _ = held(self.ep[r], ts, -negative_code, self.PERSIST, 0.0)
            if at is not None:
                raised.append((r, at))
        self.report(out, raised, [])

    def tick(self, now: float, out: Out) -> None:
        raised = [(r, at) for r, e in self.ep.items() if (at := held_tick(e, now, self.PERSIST)) is not None]
        self.report(out, sorted(raised), [])


class NightWandering(Ref):
    name, clears = "night_wandering", False
    START, END, BED_EMPTY = 23 * 3600.0, 5 * 3600.0, 1800.0

    def __init__(self, world: ReferenceEngine) -> None:
        super().__init__(world)
        self.ep: dict[int, Episode] = defaultdict(Episode)
        self.incidents = Incidents()

    def night(self, r: int, ts: float) -> bool:
        of_day = (ts + self.world.offset(r)) % DAY_S
        return of_day >= self.START or of_day < self.END

    def evaluate(self, rows: Rows, out: Out) -> None:
        beds = [(r, ts, v) for r, k, ts, v, _ in rows.events if k == "bed"]
        candidates = []
        for r, ts, v in _fresh(beds, lambda k: self.ep[k].last_ts):
            code = 0 if v >= 0.5 else 1 if self.night(r, ts) else -1
            at, _, _ = held(self.ep[r], ts, code, self.BED_EMPTY, v)
            if at is not None:
                candidates.append((r, at, 1))
        candidates += [(r, ts, 0) for r, k, ts, v, _ in rows.events if k == "door" and v >= 0.5 and self.night(r, ts)]
        self._incidents(out, candidates)

    def tick(self, now: float, out: Out) -> None:
        due = [(r, at, 1) for r, e in self.ep.items() if (at := held_tick(e, now, self.BED_EMPTY)) is not None]
        self._incidents(out, due)

    def _incidents(self, out: Out, candidates: list[tuple[int, float, int]]) -> None:
        self.report(out, [(r, at) for r, at, _ in sorted(candidates) if self.incidents.new(r, at, NIGHT_REARM_S)], [])


class NoActivity(Ref):
    name = "no_activity"
    QUIET, SHARE, MIN_DAYS = 2 * HOUR_S, 0.8, 7

    def __init__(self, world: ReferenceEngine) -> None:
        super().__init__(world)
        self.last: dict[int, float] = defaultdict(lambda: -INF)
        self.active: dict[int, bool] = defaultdict(bool)
        self.hours: dict[int, list[int]] = defaultdict(lambda: [0] * bh.RING_DAYS)
        self.stamp: dict[int, list[float]] = defaultdict(lambda: [-INF] * bh.RING_DAYS)
        self.away: dict[int, list[int]] = defaultdict(lambda: [0] * bh.RING_DAYS)  # bit h: out for all of hour h
        self.out_since: dict[int, float] = defaultdict(lambda: NAN)  # the current outing's start; NaN at home

    def day(self, r: int, ts: float) -> int:
        return math.floor((ts + self.world.offset(r)) / DAY_S)

    def learn(self, r: int, ts: float) -> None:
        local = ts + self.world.offset(r)
        self.mark(self.hours, r, math.floor(local / DAY_S), int((local % DAY_S) // HOUR_S))

    def mark(self, bits: dict[int, list[int]], r: int, day: int, hour: int) -> None:
        """Set bit ``hour`` of ``bits`` (hours or away) for ``day``, if the ring holds it (a newer day clears both)."""
        slot = day % bh.RING_DAYS
        if day > self.stamp[r][slot]:
            self.hours[r][slot], self.away[r][slot], self.stamp[r][slot] = 0, 0, day
        if day == self.stamp[r][slot]:
            bits[r][slot] |= 1 << hour

    def at_home(self, r: int, ts: float, door: bool) -> None:
        """An instant at home (``door``: only the front door changed): a departure starts an outing, activity
        inside ends one, and the hours wholly inside it are learned as away."""
        out = not math.isnan(self.out_since[r])
        if door and not out:
            self.out_since[r] = ts
        elif not door and out:
            offset = self.world.offset(r)
            end_day = math.floor((ts + offset) / DAY_S)
            first = max(math.ceil((self.out_since[r] + offset) / HOUR_S), (end_day - bh.RING_DAYS + 1) * 24)
            for hour_no in range(first, math.floor((ts + offset) / HOUR_S)):  # at most RING_DAYS days of hours
                self.mark(self.away, r, hour_no // 24, hour_no % 24)
            self.out_since[r] = NAN

    def expected(self, r: int, day: int) -> list[bool]:
        learned = [(i, self.hours[r][i]) for i in range(bh.RING_DAYS)
                   if day - bh.LEARN_DAYS <= self.stamp[r][i] < day and self.hours[r][i]]  # fmt: skip
        out = []
        for h in range(24):
            # A day monitored hour h when it had activity at or before it and at or after it; an hour the resident
            # was out for all of counts as active.
            monitored = [i for i, bits in learned if (bits & -bits).bit_length() - 1 <= h < bits.bit_length()]
            n = len(monitored)
            active = sum(((self.hours[r][i] | self.away[r][i]) >> h) & 1 for i in monitored)
            out.append(n >= self.MIN_DAYS and n > 0 and active >= self.SHARE * n)
        return out

    def raise_at(self, r: int, last: float) -> float:
        expected = self.expected(r, self.day(r, last))
        offset = self.world.offset(r)
        local = last + offset
        hour_no = math.floor(local / HOUR_S)
        need = self.QUIET
        for j in range(48):
            start = local if j == 0 else (hour_no + j) * HOUR_S
            span = (hour_no + j + 1) * HOUR_S - start
            if expected[(hour_no + j) % 24]:
                if need <= span:
                    return start + need - offset
                need -= span
        return INF

    def evaluate(self, rows: Rows, out: Out) -> None:
        raised: list[tuple[int, float]] = []
        cleared: list[tuple[int, float]] = []
        seen: set[int] = set()
        home = [(r, ts, False) for r, ts in rows.inside] + [(r, ts, True) for r, ts in rows.entrance]
        door = {(r, ts): only_door for r, ts, only_door in _fresh(home, lambda k: self.last[k])}
        for r, ts in rows.activity:
            prev = self.last[r]
            if ts <= prev:
                continue
            first = r not in seen
            seen.add(r)
            gone = not math.isnan(self.out_since[r])  # the state after every instant at home up to ``prev``
            silent = math.isfinite(prev) and prev + self.QUIET < ts and not rows.in_bed_at(r, prev) and not gone
            due = self.raise_at(r, prev) if silent else INF
            self.learn(r, ts)
            if (r, ts) in door:
                self.at_home(r, ts, door[(r, ts)])
            already = first and self.active[r]
            if ts > due and not already:
                raised.append((r, due))
            if ts > due or already:
                cleared.append((r, ts))
            self.last[r] = ts
        for r in seen:
            self.active[r] = False
        self.report(out, raised, cleared)

    def tick(self, now: float, out: Out) -> None:
        raised = []
        for r, last in self.last.items():
            in_bed = self.world.bed.get(r, (-INF, False))[1]
            at_home = math.isnan(self.out_since[r])
            if not self.active[r] and not in_bed and at_home and math.isfinite(last) and last + self.QUIET < now:
                due = self.raise_at(r, last)
                if due < now:
                    self.active[r] = True
                    raised.append((r, due))
        self.report(out, sorted(raised), [])


class NotUp(Ref):
    """Getting up = out of bed and staying out: the first up sign after the morning start and after the last return
    to bed is a candidate; a bed sensor's occupied sample before its confirmation time cancels it; an observation
    at or after that time (or the clock) confirms it, and its time is the day's getting up."""

    name = "not_up"
    GRACE, MORNING, MIN_DAYS, CONFIRM = HOUR_S, 4 * HOUR_S, 5, bh.CONFIRM_S

    def __init__(self, world: ReferenceEngine) -> None:
        super().__init__(world)
        self.last: dict[int, float] = defaultdict(lambda: -INF)
        self.active: dict[int, bool] = defaultdict(bool)
        self.pending: dict[int, float] = {}  # resident -> a candidate out of bed, not yet confirmed
        self.up: dict[int, list[float]] = defaultdict(lambda: [NAN] * bh.RING_DAYS)
        self.stamp: dict[int, list[float]] = defaultdict(lambda: [-INF] * bh.RING_DAYS)

    def day(self, r: int, ts: float) -> tuple[int, float]:
        local = ts + self.world.offset(r)
        return math.floor(local / DAY_S), local % DAY_S

    def recorded(self, r: int, day: int) -> bool:
        return self.stamp[r][day % bh.RING_DAYS] >= day

    def usual(self, r: int, day: int) -> float:
        ups = sorted(
            self.up[r][i]
            for i in range(bh.RING_DAYS)
            if day - bh.LEARN_DAYS <= self.stamp[r][i] < day and not math.isnan(self.up[r][i])
        )
        n = len(ups)
        if n < self.MIN_DAYS or n == 0:
            return NAN
        return (ups[(n - 1) // 2] + ups[n // 2]) / 2

    def deadline(self, r: int, day: int) -> float:
        return day * DAY_S - self.world.offset(r) + self.usual(r, day) * 60 + self.GRACE

    def confirmed_at(self, r: int, candidate: float) -> float:
        day, _ = self.day(r, candidate)
        next_morning = (day + 1) * DAY_S - self.world.offset(r) + self.MORNING
        return min(candidate + (self.CONFIRM if r in self.world.bed_owners else 0.0), next_morning)

    def confirm(self, r: int, raised: list[tuple[int, float]], cleared: list[tuple[int, float]]) -> None:
        """The pending candidate is the day's getting up: raise at the deadline if it came after it, clear."""
        up = self.pending.pop(r)
        day, of_day = self.day(r, up)
        due = self.deadline(r, day)
        late = up > due
        if late and not self.active[r]:
            raised.append((r, due))
        if late or self.active[r]:
            cleared.append((r, up))
        self.active[r] = False
        slot = day % bh.RING_DAYS
        if day > self.stamp[r][slot]:
            self.up[r][slot], self.stamp[r][slot] = of_day / 60, day

    def not_up(self, r: int, at: float, raised: list[tuple[int, float]]) -> None:
        """At ``at``, with the data before it seen: not up today by the deadline (nothing pending from before it)."""
        day, of_day = self.day(r, at)
        if self.active[r] or self.recorded(r, day) or of_day < self.MORNING:
            return
        due = self.deadline(r, day)
        if due < at and not self.pending.get(r, INF) <= due:
            self.active[r] = True
            raised.append((r, due))

    def observe(self, r: int, ts: float, in_bed: bool, raised: list[tuple[int, float]],
                cleared: list[tuple[int, float]]) -> None:  # fmt: skip
        if r in self.pending and ts >= self.confirmed_at(r, self.pending[r]):
            self.confirm(r, raised, cleared)
        day, of_day = self.day(r, ts)
        if in_bed:
            self.pending.pop(r, None)  # back in bed: the candidate was a visit
        elif r not in self.pending and of_day >= self.MORNING and not self.recorded(r, day):
            self.pending[r] = ts
            if self.confirmed_at(r, ts) <= ts:  # no bed sensor: a return to bed cannot be seen
                self.confirm(r, raised, cleared)
        self.not_up(r, ts, raised)

    def evaluate(self, rows: Rows, out: Out) -> None:
        signs = [(r, ts, 1) for r, ts in rows.up]
        signs += [(r, ts, 0) for r, k, ts, v, _ in rows.events if k == "bed" and v >= 0.5]
        raised: list[tuple[int, float]] = []
        cleared: list[tuple[int, float]] = []
        for r, ts, up in _fresh(signs, lambda k: self.last[k]):  # at one instant, in bed (0) wins
            self.last[r] = ts
            self.observe(r, ts, up == 0, raised, cleared)
        self.report(out, raised, cleared)

    def seed(self, resident: Sequence[int], ts: Sequence[float], in_bed: Sequence[bool]) -> None:
        """As `NotUpRule.seed`: stored up signs and occupied bed samples, learned as a batch, nothing reported."""
        signs = [(r, t, 0 if b else 1) for r, t, b in zip(resident, ts, in_bed, strict=True)]
        for r, t, up in _fresh(signs, lambda k: self.last[k]):
            self.last[r] = t
            self.observe(r, t, up == 0, [], [])

    def tick(self, now: float, out: Out) -> None:
        raised: list[tuple[int, float]] = []
        cleared: list[tuple[int, float]] = []
        for r in sorted(self.pending):
            if now >= self.confirmed_at(r, self.pending[r]):
                self.confirm(r, raised, cleared)
        for r in range(len(self.world.population)):
            self.not_up(r, now, raised)
        self.report(out, raised, cleared)


class DeviceOffline(Ref):
    name = "device_offline"

    def __init__(self, world: ReferenceEngine) -> None:
        super().__init__(world)
        self.last_seen: dict[int, float] = defaultdict(lambda: -INF)
        self.active: dict[int, bool] = defaultdict(bool)
        self.tally = Tally()

    def offline(self, d: int) -> float:
        kind = DEVICE_KINDS[self.world.population.device_kind[d]]
        return dv.OFFLINE_S.get(kind, dv.SENSOR_OFFLINE_S)

    def evaluate(self, rows: Rows, out: Out) -> None:
        changes: list[tuple[int, float, int]] = []
        touched: set[int] = set()
        for d, ts in _fresh([(d, ts) for d, ts in rows.seen], lambda k: self.last_seen[k]):
            prev = self.last_seen[d]
            due = prev + self.offline(d)
            gap = math.isfinite(prev) and ts > due
            already = d not in touched and self.active[d]
            touched.add(d)
            if gap and not already:
                changes += [(r, due, 1) for r in self.world.speaks_for[d]]
            if gap or already:
                changes += [(r, ts, -1) for r in self.world.speaks_for[d]]
            self.last_seen[d] = ts
        for d in touched:
            self.active[d] = False
        self.report(out, *self.tally.apply(changes))

    def tick(self, now: float, out: Out) -> None:
        changes = []
        for d, last in self.last_seen.items():
            due = last + self.offline(d)
            if not self.active[d] and math.isfinite(last) and due < now:
                self.active[d] = True
                changes += [(r, due, 1) for r in self.world.speaks_for[d]]
        self.report(out, *self.tally.apply(changes))


# Signals and the engine ------------------------------------------------------------------------------------------
class Falls:
    """The accelerometer fall detector (alerts.falls), one sample at a time: per device (one timeline per
    accelerometer stream), frames of sums in a dict and the decision of each frame once its post-impact window is
    complete; a fall is the resident's of the block that decided it."""

    def __init__(self, params: FallParams) -> None:
        self.p, self.g = params, _Grid.of(params)
        self.frames: dict[int, dict[int, list[float]]] = defaultdict(dict)
        self.hi: dict[int, int] = {}
        self.last_ts: dict[int, float] = defaultdict(lambda: -INF)

    def blocks(self, accel: list[Block]) -> list[tuple[int, float]]:
        found = []
        ends: dict[int, float] = {}
        for r, start, rate, samples, d in sorted(accel, key=lambda b: (b[4], b[1])):
            if not samples or d == MISSING:
                continue
            end = start + (len(samples) - 1) / rate
            if start <= max(self.last_ts[d], ends.get(d, -INF)):
                continue  # a resend, or late
            ends[d] = end
            for j, (x, y, z) in enumerate(samples):
                found += [(r, at) for _, at in self.sample(d, start + j / rate, rate, x, y, z)]
        return found

    def sample(self, key: int, ts: float, rate: float, x: float, y: float, z: float) -> list[tuple[int, float]]:
        frame = math.floor((ts + _EDGE_GUARD_S) / self.p.frame_s)
        found = []
        if key in self.hi and frame > self.hi[key]:  # frames up to frame - 1 are complete: decide those now due
            lo, hi = self.hi[key] - self.g.post_hi + 1, frame - self.g.post_hi
            due = sorted(f for f, s in self.frames[key].items() if lo <= f <= hi and s[7] >= self.p.impact_g)
            for f in due:
                if (at := self.decide(key, f)) is not None:
                    found.append((key, at))
            for old in [f for f in self.frames[key] if f <= frame - self.g.ring]:
                del self.frames[key][old]
        self.hi[key] = max(self.hi.get(key, frame), frame)
        mag = math.sqrt(x * x + y * y + z * z)
        sums = self.frames[key].setdefault(frame, [0.0] * 9)
        for k, v in enumerate((1.0, 1.0 / rate, x, y, z, mag, mag * mag)):
            sums[k] += v
        if mag > sums[7] or sums[0] == 1.0:
            sums[7], sums[8] = mag, ts
        self.last_ts[key] = ts
        return found

    def decide(self, key: int, f: int) -> float | None:
        p, g = self.p, self.g
        empty = [0.0] * 9
        frames = self.frames[key]
        peak = frames.get(f, empty)[7]
        if peak < p.impact_g:
            return None
        before = max((frames.get(f - k, empty)[7] for k in range(1, g.merge + 1)), default=0.0)
        after = max((frames.get(f + k, empty)[7] for k in range(1, g.merge + 1)), default=0.0)
        if not (peak > max(before, 0.0) and peak >= max(after, 0.0)):
            return None

        def window(lo: int, hi: int) -> list[float]:
            total = [0.0] * 7
            for k in range(lo, hi):
                for i, v in enumerate(frames.get(f + k, empty)[:7]):
                    total[i] += v
            return total

        pre, post = window(-g.pre_lo, -g.pre_hi), window(g.post_lo, g.post_hi)
        covered = pre[1] >= p.min_coverage * (g.pre_lo - g.pre_hi) * p.frame_s and (
            post[1] >= p.min_coverage * (g.post_hi - g.post_lo) * p.frame_s
        )
        g_pre = [v / max(pre[0], 1.0) for v in pre[2:5]]
        n_post = max(post[0], 1.0)
        g_post = [v / n_post for v in post[2:5]]
        norms = math.hypot(*g_pre) * math.hypot(*g_post)
        cos = sum(a * b for a, b in zip(g_pre, g_post, strict=True)) / (norms if norms > 0 else 1.0)
        tilt = math.degrees(math.acos(min(1.0, max(-1.0, cos))))
        mean = post[5] / n_post
        sd = math.sqrt(max(post[6] / n_post - mean * mean, 0.0))
        if covered and norms > 0 and tilt >= p.min_tilt_deg and sd <= p.still_sd_g:
            return (f + g.post_hi) * p.frame_s
        return None


class ReferenceEngine:
    """Batches in, (raised, cleared) lists of (resident_id, rule, time) out, like `AlertEngine.process`/`tick`."""

    def __init__(self) -> None:
        self.population = Population()
        self.speaks_for: list[list[int]] = []
        self.bed_owners: set[int] = set()  # residents a bed sensor speaks for alone
        self.worn: dict[int, tuple[float, float]] = {}  # device -> (ts, value) of the newest worn reading
        self.steps: dict[int, tuple[float, float]] = {}  # device -> (ts, count) of the newest step count
        self.device_event: dict[int, tuple[float, float]] = {}
        self.exerted: dict[int, float] = {}  # resident -> newest exertion instant
        self.bed: dict[int, tuple[float, bool]] = {}  # resident -> newest bed sample or up sign: (ts, occupied)
        self.clinician: dict[tuple[str, int, bool], float] = {}  # (rule, resident, in bed) -> a clinician's limit
        self.falls = Falls(FallParams())
        self.rules: list[Ref] = []
        self.news2_escalations: dict[int, News2Escalation] = {}  # position -> a clinician's NEWS2 levels

    def add_residents(self, residents: Sequence[Resident], sites: Sequence[Site], devices: Sequence[Device]) -> None:
        self.population.update(residents, sites, devices)
        ptr, targets = self.population.speaks_ptr.tolist(), self.population.speaks_for.tolist()
        self.speaks_for = [targets[ptr[d] : ptr[d + 1]] for d in range(self.population.device_count)]
        bed, kind = DEVICE_KINDS.index(DeviceKind.BED), self.population.device_kind
        self.bed_owners = {t[0] for d, t in enumerate(self.speaks_for) if kind[d] == bed and len(t) == 1}
        if not self.rules:
            self.rules = [
                *(Threshold(self, spec) for spec in THRESHOLDS), News2(self), Baseline(self),
                Trend(self, SPO2_FALLING, "spo2_low", None), Trend(self, TEMP_RISING, "temp_high", "temp_low"),
                Fall(self), LongLie(self), Sos(self), NoActivity(self), NotUp(self), Held(self, BATHROOM_LONG),
                NightWandering(self), Held(self, HEAT), Held(self, COLD), Held(self, SMOKE), Held(self, GAS),
                Held(self, WATER_LEAK), DeviceOffline(self), Held(self, BATTERY_LOW), Held(self, NOT_WORN),
            ]  # fmt: skip

    def apply_news2_escalations(self, escalations: Sequence[News2Escalation]) -> None:
        """As `AlertEngine.apply_news2_escalations`: those in force, all of them."""
        by_id = {e.resident_id: e for e in escalations}
        self.news2_escalations = {}
        for r, resident in enumerate(self.population.residents):
            if resident.resident_id in by_id:
                self.news2_escalations[r] = by_id[resident.resident_id]

    def apply_thresholds(self, thresholds: Sequence[ClinicianThreshold]) -> None:
        """As `AlertEngine.apply_thresholds` for the vital-sign threshold rules: the limits in force, all of them,
        always or for the time in bed."""
        self.clinician = {}
        for t in thresholds:
            r = self.population.index.position(t.resident_id)
            for spec in THRESHOLDS:
                value = t.low if spec.below else t.high
                if r != MISSING and spec.metric == t.metric and value is not None:
                    self.clinician[(spec.name, r, t.context == ThresholdContext.IN_BED)] = float(value)

    def offset(self, r: int) -> float:
        return float(self.population.utc_offset[r])

    def seed_baselines(self, resident: Sequence[int], column: Sequence[int], day: Sequence[int],
                       numbers: Sequence[Sequence[float]]) -> None:  # fmt: skip
        """As `AlertEngine.seed_day_sums`: stored day aggregates (readings, sum, sum of squares)."""
        rule = next(r for r in self.rules if isinstance(r, Baseline))
        usual = [r for r in self.rules if isinstance(r, Trend) and r.spec.above_usual is not None]
        for r, c, d, (n, total, total_sq) in zip(resident, column, day, numbers, strict=True):
            ref = float(bl.REFERENCE[c])
            slot = rule.days[r].setdefault(d, [0.0] * (3 * len(bl.METRICS)))
            slot[3 * c] += n
            slot[3 * c + 1] += total - n * ref
            slot[3 * c + 2] += total_sq - 2 * ref * total + n * ref * ref
            rule.newest[r] = max(rule.newest[r], d)
            for trend in usual:
                if trend.spec.metric == bl.METRICS[c]:
                    trend.add_day(r, d, n, total)

    def seed_activity(self, resident: Sequence[int], first: Sequence[float], last: Sequence[float]) -> None:
        """As `NoActivityRule.seed`: hourly activity, sorted by (resident, first)."""
        quiet = next(r for r in self.rules if isinstance(r, NoActivity))
        for r, f, seen in zip(resident, first, last, strict=True):
            quiet.learn(r, f)
            quiet.last[r] = max(quiet.last[r], seen)

    def seed_up(self, resident: Sequence[int], ts: Sequence[float], in_bed: Sequence[bool]) -> None:
        """As `NotUpRule.seed`: stored up signs and bed sensors' occupied samples."""
        next(r for r in self.rules if isinstance(r, NotUp)).seed(resident, ts, in_bed)

    def beyond(self, name: str) -> Callable[[int, float], bool]:
        """Whether a value of resident r is beyond a threshold rule's entry limit out of bed (the trends and the
        baseline speak only on the safe side of it)."""

        def beyond(r: int, v: float) -> bool:
            rule = next(x for x in self.rules if isinstance(x, Threshold) and x.name == name)
            return code_of(v, rule.spec.below, rule.limits(r, False)[0], NAN, rule.spec.inclusive) == 1

        return beyond

    def limits(self, metric: str) -> tuple[Callable[[int, float], bool], Callable[[int, float], bool]]:
        low = next((s.name for s in THRESHOLDS if s.metric == metric and s.below), None)
        high = next((s.name for s in THRESHOLDS if s.metric == metric and not s.below), None)
        never: Callable[[int, float], bool] = lambda r, v: False  # noqa: E731
        return (self.beyond(low) if low else never), (self.beyond(high) if high else never)

    def process(self, batch: Batch) -> tuple[list[Finding], list[Finding]]:
        rows = self.attribute(batch)
        self.derive(rows)
        out = Out()
        for rule in self.rules:
            rule.evaluate(rows, out)
        return out.raised, out.cleared

    def tick(self, now: float) -> tuple[list[Finding], list[Finding]]:
        out = Out()
        for rule in self.rules:
            rule.tick(now, out)
        return out.raised, out.cleared

    # Attribution (alerts.frame) ------------------------------------------------------------------------------
    def attribute(self, batch: Batch) -> Rows:
        rows = Rows()
        index, devices = self.population.index, self.population.device_positions
        for reading in batch.readings:
            d = int(devices([reading.device_id])[0])
            if d != MISSING:
                rows.seen.append((d, reading.ts))
            if reading.artefact:
                continue
            if reading.metric in DEVICE_METRICS:
                if d != MISSING:
                    rows.status.append((d, reading.metric, reading.ts, reading.value))
                continue
            for r in self.residents_of(reading.resident_id, d, reading.metric in HAZARD_METRICS):
                rows.readings.append((r, reading.metric, reading.ts, reading.value, d))
        for event in batch.events:
            d = int(devices([event.device_id])[0])
            if d != MISSING:
                rows.seen.append((d, event.ts))
            for r in self.residents_of(event.resident_id, d, event.kind in HAZARD_KINDS):
                rows.events.append((r, event.kind, event.ts, event.value, d))
        for block in batch.accel:
            d = int(devices([block.device_id])[0])
            if d != MISSING:
                rows.seen.append((d, block.ts))
            r = index.position(block.resident_id) if block.resident_id else MISSING
            if r != MISSING:
                samples = [(float(x), float(y), float(z)) for x, y, z in block.xyz.tolist()]
                rows.accel.append((r, block.ts, block.rate_hz, samples, d))
        return rows

    def residents_of(self, resident_id: str | None, device: int, hazard: bool) -> list[int]:
        if resident_id:
            r = self.population.index.position(resident_id)
            return [] if r == MISSING else [r]
        if device == MISSING:
            return []
        targets = self.speaks_for[device]
        return targets if hazard or len(targets) == 1 else []

    # Signals (alerts.signals) --------------------------------------------------------------------------------
    def derive(self, rows: Rows) -> None:
        wearable = DEVICE_KINDS.index(DeviceKind.WEARABLE)
        worn = defaultdict(list)
        for d, m, ts, v in rows.status:
            if m == "worn":
                worn[d].append((ts, v))
        for d in worn:
            worn[d].sort()

        def off(d: int, ts: float) -> bool:
            before = [v for t, v in worn.get(d, []) if t <= ts]
            value = before[-1] if before else self.worn.get(d, (-INF, NAN))[1]
            return value < 0.5

        kind = self.population.device_kind
        rows.readings = [
            x for x in rows.readings
            if not (x[1] in BODY_METRICS and x[4] != MISSING and kind[x[4]] == wearable and off(x[4], x[2]))
        ]  # fmt: skip
        rows.accel = [b for b in rows.accel if not off(b[4], b[1])]
        for d, values in worn.items():
            ts, v = values[-1]
            if ts >= self.worn.get(d, (-INF, NAN))[0]:
                self.worn[d] = (ts, v)
        bedroom = self.population.device_bedroom
        motion = [(r, ts, d) for r, k, ts, v, d in rows.events if k == "motion" and v >= 0.5]
        changes = self.changes(rows)
        up = [(r, ts) for r, ts, d in motion if d == MISSING or not bedroom[d]]
        up += [(r, ts) for r, ts, k, v, d in changes if (v < 0.5 if k == "bed" else not bedroom[d])]
        increases = self.step_increases(rows)
        exertion = [(r, ts) for r, ts, _ in increases]
        moving = []
        for r, ts, _, samples, _ in rows.accel:
            if len(samples) >= MIN_BLOCK_SAMPLES:
                mags = [math.sqrt(x * x + y * y + z * z) for x, y, z in samples]
                mean = sum(mags) / len(mags)
                if math.sqrt(max(sum(m * m for m in mags) / len(mags) - mean * mean, 0.0)) >= MOVING_SD_G:
                    moving.append((r, ts))
        exertion += moving
        seen = [(r, ts) for r, ts, _ in motion] + [(r, ts) for r, ts, *_ in changes] + moving
        rows.activity = sorted(set(seen + exertion))
        rows.recovery = sorted(set(seen + [(r, since) for r, _, since in increases]))
        rows.up = sorted(set(up))
        self.note_beds(rows)
        front = self.population.device_entrance
        rows.inside = sorted({(r, ts) for r, ts, _ in motion} | {(r, ts) for r, ts, _, _, d in changes if not front[d]})
        rows.entrance = sorted({(r, ts) for r, ts, _, _, d in changes if front[d]})
        for r, ts in sorted(set(exertion)):
            rows.exertion.setdefault(r, []).append(ts)
        rows.exerted_before = dict(self.exerted)
        for r, instants in rows.exertion.items():
            self.exerted[r] = max(self.exerted.get(r, -INF), instants[-1])
        rows.falls = [(r, ts, False) for r, ts in self.falls.blocks(rows.accel)]
        rows.falls += [(r, ts, True) for r, k, ts, v, _ in rows.events if k == "fall" and v >= 0.5]

    def note_beds(self, rows: Rows) -> None:
        """Who is in bed (alerts.signals.Beds): the batch's bed samples and up signs newer than the state, one per
        resident and instant (occupied wins), with the state before them; then the newest of each sets the state."""
        samples = [(r, ts, v < 0.5) for r, k, ts, v, _ in rows.events if k == "bed"] + [(*u, True) for u in rows.up]
        rows.beds = [(r, ts, not empty) for r, ts, empty in _fresh(samples, lambda k: self.bed.get(k, (-INF,))[0])]
        rows.in_bed_before = {r: occupied for r, (_, occupied) in self.bed.items()}
        for r, ts, occupied in rows.beds:
            self.bed[r] = (ts, occupied)

    def changes(self, rows: Rows) -> list[tuple[int, float, str, float, int]]:
        """Door, bed, chair and bathroom sensors changing state: (resident, ts, kind, value, device)."""
        by_observation: dict[tuple[int, float], list[tuple[float, int, str]]] = defaultdict(list)
        for r, k, ts, v, d in rows.events:
            if k in CHANGE_KINDS and d != MISSING:
                by_observation[(d, ts)].append((v, r, k))
        out = []
        for (d, ts), copies in sorted(by_observation.items()):
            value = min(v for v, _, _ in copies)
            last_ts, last_value = self.device_event.get(d, (-INF, NAN))
            if ts <= last_ts:
                continue
            if value != last_value:
                out += [(r, ts, k, v, d) for v, r, k in copies]
            self.device_event[d] = (ts, value)
        return out

    def step_increases(self, rows: Rows) -> list[tuple[int, float, float]]:
        """Step counts going up, each device's against its own: (resident, ts, ts of the report before)."""
        steps = [(d, ts, v, r) for r, m, ts, v, d in rows.readings if m == "steps" and d != MISSING]
        out = []
        for d, ts, v, r in _fresh(steps, lambda k: self.steps.get(k, (-INF, NAN))[0]):
            since, before = self.steps.get(d, (-INF, NAN))
            if v > before:
                out.append((r, ts, since))
            self.steps[d] = (ts, v)
        return out
