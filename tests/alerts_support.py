"""A small simulated world for the alert-core tests: homes and a care home in four time zones, a week of ordinary
life for every resident (so that baselines and activity profiles are learned), then one day on which every rule of
`alerts.rules.default_rules()` has a reason to fire. Deterministic for a seed; plain Python (test code)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from alerts.engine import AlertEngine, Cleared, Found
from alerts.rules import default_rules
from carewatch.model import (
    AccelRow,
    AlertDraft,
    Batch,
    Device,
    DeviceKind,
    EventRow,
    ReadingRow,
    Resident,
    Site,
    SiteKind,
)
from carewatch.storage.base import Store, Threshold, ThresholdContext

T0 = 1_764_374_400.0  # 2025-11-29 00:00 UTC; no daylight-saving change in the next two weeks in these zones
DAY, HOUR, MINUTE = 86_400.0, 3600.0, 60.0
HISTORY_DAYS = 8  # more than every rule's learning period (no activity needs 7 days)
TEST_DAY = HISTORY_DAYS
SITES = (
    Site("h0", "Home of R0", SiteKind.HOME, "UTC"),
    Site("h1", "Home of R1", SiteKind.HOME, "Europe/Berlin"),
    Site("h2", "Home of R2 and R3", SiteKind.HOME, "Asia/Shanghai"),
    Site("c1", "Care home", SiteKind.CARE_INSTITUTION, "America/New_York"),
)
OFFSET = {"h0": 0.0, "h1": 3600.0, "h2": 8 * 3600.0, "c1": -5 * 3600.0}
RESIDENTS = (
    Resident("r0", "h0", "R0"),
    Resident("r1", "h1", "R1"),
    Resident("r2", "h2", "R2"),
    Resident("r3", "h2", "R3", spo2_scale=2),
    Resident("r4", "c1", "R4", room="101"),
    Resident("r5", "c1", "R5", room="102"),
)
BASELINE = {"hr": 70.0, "spo2": 97.0, "rr": 16.0, "sbp": 125.0, "dbp": 78.0, "temp": 36.7}
NOISE = {"hr": 3.0, "spo2": 0.7, "rr": 1.0, "sbp": 4.0, "dbp": 3.0, "temp": 0.1}
UPRIGHT, LYING = np.array([0.0, -1.0, 0.0]), np.array([0.0, 0.0, -1.0])


def devices() -> list[Device]:
    out = []
    for r in RESIDENTS:
        out += [
            Device(f"w-{r.resident_id}", r.site_id, DeviceKind.WEARABLE, r.resident_id),
            Device(f"bed-{r.resident_id}", r.site_id, DeviceKind.BED, r.resident_id),
            Device(f"sos-{r.resident_id}", r.site_id, DeviceKind.SOS_BUTTON, r.resident_id),
        ]
    for site in ("h0", "h1", "h2"):  # shared home sensors: attributed to the household; the door is the front door
        for kind in (DeviceKind.MOTION, DeviceKind.DOOR, DeviceKind.BATHROOM, DeviceKind.ENVIRONMENT,
                     DeviceKind.SMOKE, DeviceKind.GAS, DeviceKind.WATER):  # fmt: skip
            out.append(Device(f"{kind.value}-{site}", site, kind, None, "hall" if kind is DeviceKind.DOOR else None))
    for room in ("101", "102"):  # care rooms: shared by nobody but their resident (matched by room)
        for kind in (DeviceKind.MOTION, DeviceKind.DOOR, DeviceKind.BATHROOM, DeviceKind.ENVIRONMENT):
            out.append(Device(f"{kind.value}-c1-{room}", "c1", kind, None, room))
    out.append(Device("motion-c1-corridor", "c1", DeviceKind.MOTION, None, "corridor"))
    return out


def home_of(resident: str) -> str:
    return next(r.site_id for r in RESIDENTS if r.resident_id == resident)


@dataclass
class Stream:
    """Rows under construction. Sensors are addressed by resident: ``sensor(r, kind)`` is the one that speaks for
    them (their home's, or their care room's)."""

    rng: np.random.Generator
    readings: list[ReadingRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    accel: list[AccelRow] = field(default_factory=list)
    quiet: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # routine activity suppressed

    def at(self, resident: str, day: int, hours: float) -> float:
        return T0 + day * DAY + hours * HOUR - OFFSET[home_of(resident)]

    def sensor(self, resident: str, kind: str) -> tuple[str, str | None]:
        site = home_of(resident)
        if site == "c1":
            room = "101" if resident == "r4" else "102"
            return f"{kind}-c1-{room}", None
        return f"{kind}-{site}", None

    def vital(self, resident: str, t: float, metric: str, value: float, artefact: bool = False) -> None:
        self.readings.append(
            ReadingRow(t, home_of(resident), f"w-{resident}", resident, metric, float(value), 0, artefact)
        )

    def vitals(self, resident: str, t: float, **override: float) -> None:
        for metric, base in BASELINE.items():
            value = override.get(metric, base + self.rng.normal(0, NOISE[metric]))
            self.vital(resident, t, metric, round(value, 1))

    def status(self, resident: str, t: float, metric: str, value: float) -> None:
        self.readings.append(ReadingRow(t, home_of(resident), f"w-{resident}", resident, metric, value, 0, False))

    def room(self, resident: str, t: float, metric: str, value: float) -> None:
        device, owner = self.sensor(resident, "environment")
        self.readings.append(ReadingRow(t, home_of(resident), device, owner, metric, value, 0, False))

    def event(self, resident: str, t: float, kind: str, value: float = 1.0, personal: str | None = None) -> None:
        if personal is not None:
            device, owner = f"{personal}-{resident}", resident
        else:
            device, owner = self.sensor(resident, {"water_leak": "water"}.get(kind, kind))
        self.events.append(EventRow(t, home_of(resident), device, owner, kind, value, 0))

    def blocks(self, resident: str, t: float, xyz: np.ndarray, rate: float = 25.0) -> None:
        per = int(rate)
        for k in range(0, xyz.shape[0], per):
            block = xyz[k : k + per].astype(np.float32)
            self.accel.append(AccelRow(t + k / rate, home_of(resident), f"w-{resident}", resident, k, rate, block))

    def drop(self, resident: str, metrics: tuple[str, ...], start: float, end: float) -> None:
        """Remove the readings of ``metrics`` about ``resident`` (their wearable's and their room's) in [start, end):
        an incident replaces the routine values."""
        room = self.sensor(resident, "environment")[0]

        def theirs(r: ReadingRow) -> bool:
            mine = r.resident_id == resident or r.device_id == room
            return mine and r.metric in metrics and start <= r.ts < end

        self.readings = [r for r in self.readings if not theirs(r)]

    def silent(self, resident: str, start: float, end: float) -> None:
        self.quiet.setdefault(resident, []).append((start, end))

    def active(self, resident: str, t: float) -> bool:
        return not any(a <= t < b for a, b in self.quiet.get(resident, []))

    def batch(self) -> Batch:
        return Batch(readings=list(self.readings), events=list(self.events), accel=list(self.accel))


def toilet_visit(s: Stream, resident: str, day: int, hours: float) -> None:
    """Out of bed at ``hours``, to the bathroom (the motion sensor sees it: a bathroom sensor that reports on some
    days only would go offline in between), back in bed 6 minutes later."""
    t = s.at(resident, day, hours)
    s.event(resident, t, "bed", 0.0, personal="bed")
    s.event(resident, t + 60, "motion")
    s.event(resident, t + 300, "motion")
    s.event(resident, t + 360, "bed", 1.0, personal="bed")


def routine(s: Stream, resident: str, day: int, vitals_every_min: float = 10.0) -> None:
    """An ordinary day: on half the nights a toilet visit between 04:15 and 06:30, up at about 07:00, about until
    22:00 (motion every half hour), in bed at night, vitals every ``vitals_every_min`` minutes, the wearable worn and
    charged."""
    visit = np.random.default_rng([day, int(resident[1:])])  # its own stream: the rest of the week stays as it was
    if visit.random() < 0.5:
        hours = visit.uniform(4.25, 6.5)
        if s.active(resident, s.at(resident, day, hours)):
            toilet_visit(s, resident, day, hours)
    rng = s.rng
    wake = 7.0 + rng.uniform(-0.25, 0.25)
    if s.active(resident, s.at(resident, day, wake)):
        s.event(resident, s.at(resident, day, wake), "bed", 0.0, personal="bed")
    for k in range(31):
        t = s.at(resident, day, wake + 0.05 + k * 0.5 + rng.uniform(0, 0.1))
        if s.active(resident, t):
            s.event(resident, t, "motion")
    s.event(resident, s.at(resident, day, 22.5 + rng.uniform(0, 0.2)), "bed", 1.0, personal="bed")
    for k in range(int(24 * 60 / vitals_every_min)):
        s.vitals(resident, s.at(resident, day, k * vitals_every_min / 60 + rng.uniform(0, 0.01)))
    for h in range(24):
        t = s.at(resident, day, h + 0.5)
        s.status(resident, t, "worn", 1.0)
        s.status(resident, t, "battery", 80.0)
        s.room(resident, t, "room_temp", 21.0)


def synthetic_fall(rate: float, after_s: float, rng: np.random.Generator) -> np.ndarray:
    """Upright, a 4.5 g impact, then lying still for ``after_s``: (n, 3) in g."""

    def still(g: np.ndarray, seconds: float) -> np.ndarray:
        return g + rng.normal(0.0, 0.01, (round(seconds * rate), 3))

    impact = np.array([[0.5, -3.0, -3.3], [0.2, -1.5, -2.0]])
    return np.concatenate([still(UPRIGHT, 6.0), impact, still(LYING, after_s)])


Incident = Callable[[Stream], None]


def incidents() -> list[Incident]:
    """The test day's events, one or more per rule (comments name the rule each one is for)."""
    d = TEST_DAY

    def hypoxia(s: Stream) -> None:  # spo2_low, news2_urgent, news2_emergency (a sudden drop: no spo2_falling)
        s.drop("r0", ("spo2", "rr", "hr"), s.at("r0", d, 9.0), s.at("r0", d, 9.0) + 300)
        for k in range(60):
            t = s.at("r0", d, 9.0) + 5 * k
            s.vitals("r0", t, spo2=86 if k >= 6 else 97, rr=26 if k >= 6 else 16, hr=135 if k >= 6 else 72)

    def sinking(s: Stream) -> None:  # spo2_falling: 97 -> 91 % over 8 minutes, readings every 5 s
        for k in range(120):
            t = s.at("r2", d, 10.0) + 5 * k
            s.vital("r2", t, "spo2", round(97 - min(6.0, k * 6 / 96) + s.rng.normal(0, 0.2), 1))

    def fever(s: Stream) -> None:  # temp_rising then temp_high (r3)
        s.drop("r3", ("temp",), s.at("r3", d, 11.0), s.at("r3", d, 13.5))
        for k in range(30):
            t = s.at("r3", d, 11.0) + 300 * k
            s.vital("r3", t, "temp", round(36.7 + min(1.6, k * 0.07), 2))

    def cold_body(s: Stream) -> None:  # temp_low, rr_high (r4)
        s.drop("r4", ("temp", "rr"), s.at("r4", d, 13.0), s.at("r4", d, 13.25))
        for k in range(90):
            t = s.at("r4", d, 13.0) + 10 * k
            s.vital("r4", t, "temp", 34.6)
            s.vital("r4", t, "rr", 28.0)

    def slow_heart(s: Stream) -> None:  # hr_low, rr_low (r5)
        s.drop("r5", ("hr", "rr"), s.at("r5", d, 14.0), s.at("r5", d, 14.0) + 200)
        for k in range(40):
            t = s.at("r5", d, 14.0) + 5 * k
            s.vital("r5", t, "hr", 38.0)
            s.vital("r5", t, "rr", 7.0)

    def racing(s: Stream) -> None:  # hr_high (r1), baseline_deviation (r1, earlier: 104 bpm)
        s.drop("r1", ("hr",), s.at("r1", d, 8.0), s.at("r1", d, 8.0) + 1200)
        s.drop("r1", ("hr",), s.at("r1", d, 15.0), s.at("r1", d, 15.0) + 400)
        for k in range(80):
            s.vital("r1", s.at("r1", d, 8.0) + 15 * k, "hr", 104.0 + s.rng.normal(0, 1))
        for k in range(80):
            s.vital("r1", s.at("r1", d, 15.0) + 5 * k, "hr", 140.0)

    def pressure(s: Stream) -> None:  # sbp_high, dbp_high (r2); sbp_low (r0)
        s.drop("r2", ("sbp", "dbp"), s.at("r2", d, 17.0), s.at("r2", d, 17.0) + 400)
        s.drop("r0", ("sbp",), s.at("r0", d, 16.0), s.at("r0", d, 16.0) + 400)
        for k in range(80):
            s.vital("r2", s.at("r2", d, 17.0) + 5 * k, "sbp", 190.0)
            s.vital("r2", s.at("r2", d, 17.0) + 5 * k, "dbp", 125.0)
            s.vital("r0", s.at("r0", d, 16.0) + 5 * k, "sbp", 85.0)

    def artefacts(s: Stream) -> None:  # never an alert: impossible values
        for k in range(40):
            s.vital("r4", s.at("r4", d, 17.0) + 5 * k, "spo2", 20.0, artefact=True)

    def fall(s: Stream) -> None:  # fall, fall_long_lie (r0, nothing moves for 15 minutes)
        t = s.at("r0", d, 18.0)
        s.silent("r0", t - 60, t + 20 * MINUTE)
        s.blocks("r0", t, synthetic_fall(25.0, 12.0, s.rng))
        s.event("r0", t + 20 * MINUTE, "motion")

    def reported_fall(s: Stream) -> None:  # fall (device-reported, r4)
        s.events.append(EventRow(s.at("r4", d, 12.0), "c1", "w-r4", "r4", "fall", 1.0, 0))

    def sos(s: Stream) -> None:  # sos (r5, pressed three times)
        for k in range(3):
            s.event("r5", s.at("r5", d, 12.5) + 4 * k, "sos", personal="sos")

    def quiet_day(s: Stream) -> None:  # no_activity (r1: nothing from 10:00 to 14:00)
        s.silent("r1", s.at("r1", d, 9.9), s.at("r1", d, 14.0))

    def late_riser(s: Stream) -> None:  # not_up (r4: up at 10:30, usually 07:00; to the toilet and back twice)
        s.silent("r4", s.at("r4", d, 4.0), s.at("r4", d, 10.5))
        toilet_visit(s, "r4", d, 6.5)
        toilet_visit(s, "r4", d, 8.5)

    def bathroom(s: Stream) -> None:  # bathroom_long (r1: an hour)
        s.event("r1", s.at("r1", d, 19.0), "bathroom", 1.0)
        s.event("r1", s.at("r1", d, 20.0), "bathroom", 0.0)

    def night(s: Stream) -> None:  # night_wandering: door at 01:00 (r0); out of bed 02:00-03:00 (r5)
        s.event("r0", s.at("r0", d, 1.0), "door", 1.0)
        s.event("r0", s.at("r0", d, 1.0) + 8, "door", 0.0)
        s.event("r5", s.at("r5", d, 2.0), "bed", 0.0, personal="bed")
        s.event("r5", s.at("r5", d, 3.0), "bed", 1.0, personal="bed")

    def climate(s: Stream) -> None:  # heat (r0), cold (r1)
        s.drop("r0", ("room_temp",), s.at("r0", d, 12.0), s.at("r0", d, 13.0))
        s.drop("r1", ("room_temp",), s.at("r1", d, 12.0), s.at("r1", d, 14.0))
        for k in range(10):
            s.room("r0", s.at("r0", d, 12.0) + 300 * k, "room_temp", 28.0)
            s.room("r1", s.at("r1", d, 12.0) + 600 * k, "room_temp", 16.0)

    def hazards(s: Stream) -> None:  # smoke (r2 and r3: shared), gas (r0), water_leak (r1, then dry)
        s.event("r2", s.at("r2", d, 12.0), "smoke", 1.0)
        s.event("r2", s.at("r2", d, 12.2), "smoke", 0.0)
        s.event("r0", s.at("r0", d, 13.0), "gas", 1.0)
        s.event("r1", s.at("r1", d, 13.0), "water_leak", 1.0)
        s.event("r1", s.at("r1", d, 13.5), "water_leak", 0.0)

    def devices_trouble(s: Stream) -> None:  # battery_low (r3), not_worn (r2), device_offline (r5, filtered below)
        s.status("r3", s.at("r3", d, 9.7), "battery", 12.0)
        s.drop("r2", ("worn",), s.at("r2", d, 14.0), s.at("r2", d, 16.7))
        s.status("r2", s.at("r2", d, 14.0), "worn", 0.0)
        s.status("r2", s.at("r2", d, 16.7), "worn", 1.0)

    return [hypoxia, sinking, fever, cold_body, slow_heart, racing, pressure, artefacts, fall, reported_fall, sos,
            quiet_day, late_riser, bathroom, night, climate, hazards, devices_trouble]  # fmt: skip


OFFLINE = ("r5", 19.0, 20.0)  # r5's wearable sends nothing in these local hours of the test day: device_offline


def scenario(seed: int = 0) -> Stream:
    """History days of routine, then the test day's routine with every incident."""
    s = Stream(np.random.default_rng(seed))
    for incident in incidents():
        if incident.__name__ in ("fall", "quiet_day", "late_riser"):
            incident(s)  # these silence the routine first
    for day in range(HISTORY_DAYS + 1):
        for r in RESIDENTS:
            routine(s, r.resident_id, day)
    for incident in incidents():
        if incident.__name__ not in ("fall", "quiet_day", "late_riser"):
            incident(s)
    resident, start, end = OFFLINE
    lo, hi = s.at(resident, TEST_DAY, start), s.at(resident, TEST_DAY, end)
    s.readings = [r for r in s.readings if not (r.device_id == f"w-{resident}" and lo <= r.ts < hi)]
    s.events = [e for e in s.events if not (e.device_id == f"w-{resident}" and lo <= e.ts < hi)]
    return s


# Clinicians' limits, always and for the time in bed, that change the simulated week's alerts: the routine's vitals
# come every 10 minutes, so only the spot-measured rules (blood pressure, their gaps up to 30 minutes) form runs from
# them; r2's systolic pressure (125 +- 4) dips under 121 at night, r4's diastolic (78 +- 3) passes 82 now and then
# (90 in bed, so not at night), and r5's slow heart of the test day comes in the afternoon, out of bed.
IN_BED = ThresholdContext.IN_BED
LIMITS = (
    Threshold("r2", "sbp", 121.0, None, "watch for nocturnal hypotension", T0, "dr:li", IN_BED),
    Threshold("r4", "dbp", None, 82.0, "hypertension under treatment", T0, "dr:li"),
    Threshold("r4", "dbp", None, 90.0, "higher asleep (non-dipper)", T0, "dr:li", IN_BED),
    Threshold("r5", "hr", 35.0, None, "pulse 38 asleep (fit sleeper)", T0, "dr:li", IN_BED),
)


def engine(sites: set[str] | None = None) -> AlertEngine:
    """An engine with every rule and this world registered (only the residents and devices of ``sites``, a worker's
    partition, when given), its clock at T0 (for the residents' UTC offsets)."""
    e = AlertEngine(default_rules())
    e.population.refresh_offsets(T0)
    mine = (lambda site: site in sites) if sites is not None else (lambda site: True)
    e.add_residents([r for r in RESIDENTS if mine(r.site_id)], SITES, [d for d in devices() if mine(d.site_id)])
    return e


def end_of(s: Stream) -> float:
    return T0 + (HISTORY_DAYS + 1) * DAY + 6 * HOUR  # after every local test day has ended


def split(batch: Batch, cuts: list[float]) -> Iterator[tuple[Batch, float]]:
    """The batch cut in time at ``cuts`` (ascending): each part with the time up to which it has data."""
    edges = [-np.inf, *cuts, np.inf]
    for lo, hi in pairwise(edges):
        yield (
            Batch(
                readings=[r for r in batch.readings if lo <= r.ts < hi],
                events=[e for e in batch.events if lo <= e.ts < hi],
                accel=[a for a in batch.accel if lo <= a.ts < hi],
            ),
            hi,
        )


# A store, and the lifecycle's part in it (tests of the restart) ------------------------------------------------
NOW = T0 + TEST_DAY * DAY + 9 * HOUR  # 09:00 UTC on the test day (r0 lives in UTC)


def register(store: Store) -> None:
    store.upsert_sites(SITES)
    store.upsert_residents(RESIDENTS)
    store.upsert_devices(devices())


def apply(store: Store, drafts: list[AlertDraft], cleared: list[Cleared]) -> None:
    """What the lifecycle does with findings, without its notifications."""
    for draft in drafts:
        store.raise_alert(draft)
    for done in cleared:
        store.resolve_live(done.resident_id, done.rule, "system", done.at)


def spo2(start: float, seconds: float, value: float) -> Batch:
    s = Stream(np.random.default_rng(0))
    for k in range(int(seconds // 5)):
        s.vital("r0", start + 5 * k, "spo2", value)
    return s.batch()


def live(store: Store) -> set[tuple[str, str]]:
    return {(a.resident_id, a.rule) for a in store.alerts(live_only=True)}


def crash_sweep(
    store: Store, down_s: float, restart: Callable[[float], list[AlertDraft]],
    saves: Callable[[float, AlertEngine, Found], None] | None = None, save_every_s: float = 300.0,
) -> set[str]:  # fmt: skip
    """The busy test day (and the night after) through a process that crashes every 20 minutes and 10 s after each
    alert the day raises: each time it commits a last minute of rows, ticks, and dies before alerting what that
    showed; it starts again at once, or ``down_s`` later with nothing come meanwhile. ``restart(start)`` readies a
    new engine as the start does and returns what it and its first tick raise: exactly those alerts and what an
    engine that never stopped raises at the start (the time down), at their times, and nothing alerted before
    (asserted). With ``saves``, the process saves its state every ``save_every_s``: ``saves(at, engine, findings)``,
    the findings of its last batch not yet applied. Returns the rules of the lost alerts."""
    register(store)
    day = T0 + TEST_DAY * DAY
    batch = scenario(0).batch()
    (history, _), (test_day, _) = split(batch, [day])
    once = engine()
    once.process(history)
    alerted = [d.opened_at for d in once.process(test_day)[0]]
    crashes = sorted({day + k * 20 * 60 + 300 for k in range(30 * 3)} | {round(at + 10, 3) for at in alerted})
    saved_at = set((day - 600 + save_every_s * np.arange(1 + 31 * HOUR // save_every_s)).tolist()) if saves else set()
    edges = sorted({t for crash in crashes for t in (crash - 60, crash)} | saved_at)
    steady = engine()
    lost_in_all: set[str] = set()
    for part, upto in split(batch, edges):
        store.write_batch(part)
        found = steady.process(part)
        if saves is not None and upto in saved_at:
            saves(upto, steady, found)  # the lifecycle applies them after the save
        if upto not in crashes:
            apply(store, *found)
            continue
        ticked = steady.tick(upto)
        if upto >= day:
            start = upto + down_s
            never_stopped = copy.deepcopy(steady).tick(start)[0] if down_s else []
            lost = [(d.resident_id, d.rule, round(d.opened_at, 3)) for d in found[0] + ticked[0] + never_stopped]
            expected = sorted((r, rule, at) for r, rule, at in lost if (r, rule) not in live(store))
            raised = restart(start)
            assert sorted((d.resident_id, d.rule, round(d.opened_at, 3)) for d in raised) == expected, upto - day
            lost_in_all.update(rule for _, rule, _ in expected)
        apply(store, *found)
        apply(store, *ticked)
    return lost_in_all


def sites_read(store: Store) -> list[tuple[str, ...]]:
    """The ``sites`` that each `Store.replay_batch` call on ``store`` from now on names (the list fills as it reads)."""
    read: list[tuple[str, ...]] = []
    replay = store.replay_batch

    def replay_batch(*args: Any, **kwargs: Any) -> Batch:
        read.append(tuple(kwargs["sites"]))
        return replay(*args, **kwargs)

    store.replay_batch = replay_batch  # type: ignore[method-assign]
    return read
