"""The evaluation's population (bench/eval_scenarios.py): cohorts of simulated homes, their incidents, the week of
history stored before the scored days, and the settling-in review of it.

One resident per home; each cohort is a `build_world` with its own id prefix and seed:

| cohort | prefix | share | incidents | accelerometer | history |
|---|---|---|---|---|---|
| falls | ``evf`` | 1/16, at least 2 | fall, fall with a long lie, syncope | 25 Hz | 7 days |
| moving | ``evg`` | 1/16, at least 2 | none | 25 Hz | 7 days |
| learned | ``evl`` | 1/12, at least 2 | no activity, not up (from the first local midnight) | | 7 days |
| learned, quiet | ``evm`` | 1/16, at least 1 | none | | 7 days |
| incident | ``evi`` | 1/4, at least 2 | every other scenario of the library | | 7 days |
| quiet | ``evq`` | the rest | none | | 7 days |

Only an eighth of the wearables stream the accelerometer (the heaviest stream, a message a second; not every
wearable does): those of the residents who fall, and as many who do not, for false falls. The quiet cohorts give
the false-alert figure. The history is simulated (every room-sensor event, vitals every minute, status every 5
minutes, 5-s steps), decoded by ingest's own decoder and written with the store's batch write, as if carewatch had
been running for a week; the platform learns from it through its restart rebuild (alerts/rebuild.py):
`no_activity` needs 7 days, `not_up` 5, so the learned cohort's incidents start after the first local midnight.

The settling-in review (`settle_in`): every resident has a week of history before the scored period; at its start
a clinician reviews each resident's week with carewatch's own review (alerts/review.py) and accepts every suggestion,
as thresholds and NEWS2 escalations set by ``CLINICIAN``. The scored days come after the week the limits were
derived from, so recall on residents whose limits changed is measured honestly; `probe` plans the library's
vital-sign incidents on exactly those residents, to measure what their new limits still find.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from alerts.review import LimitReview, review_limits
from carewatch.model import AccelRow, Batch, DeadLetter, EventRow, ReadingRow
from carewatch.registry import Registry
from carewatch.storage.base import Store
from ingest.decode import decode
from simulators.floorplans import build_world
from simulators.reports import Streams
from simulators.runner import Simulation
from simulators.scenarios.base import Incident
from simulators.scenarios.library import SCENARIOS, plan_incidents
from simulators.world import World

DAY_S = 86_400.0
HISTORY_DAYS = 7.0  # no_activity learns for 7 local days, not_up for 5
LEARNED_SCENARIOS = ("no_activity", "not_up")
FALL_SCENARIOS = ("fall", "fall_long_lie", "syncope")
MOTION_HZ = 25.0
# The history: vitals every minute (each 5-minute window of the settling-in review a median of five readings; the
# live wearables send every 5 s, so a production review's medians are steadier still), status and climate every 5
# minutes, room sensors' battery reports hourly (nothing learned reads them; their offline limit is 25 hours).
HISTORY_STREAMS = Streams(vitals_s=60.0, status_s=300.0, climate_s=300.0, heartbeat_s=3600.0, tick_s=5.0,
                          artefacts=False)  # fmt: skip
HISTORY_BATCH_ROWS = 20_000
HISTORY_KEY = 1  # the history's seed is drawn from (run seed, this)
MAX_COHORTS = 100  # seeds of one run's cohorts: seed * MAX_COHORTS + k
MIN_RESIDENTS = 10
CLINICIAN = "eval-clinician"  # who accepts the settling-in review's suggestions
# The library's vital-sign incidents. Their expected rules: spo2_low, hr_low, hr_high, temp_high, news2_urgent
# (sepsis), sbp_low, rr_high; of the limits the review may widen, rr_low, sbp_high, dbp_high, temp_low and NEWS2's
# emergency level are no incident's expected rule (news2_emergency is some incidents' also).
PROBE_SCENARIOS = ("hypoxia", "bradycardia", "tachycardia", "fever", "sepsis", "hypotension", "tachypnoea")


@dataclass(frozen=True, slots=True)
class Cohort:
    world: World
    scenarios: tuple[str, ...] = ()  # planned here; starting from the first local midnight when learned
    accelerometer: bool = False
    learned: bool = False  # incidents of behaviour learned from the history: from the first local midnight


def cohorts(residents: int, seed: int, names: Sequence[str] = SCENARIOS) -> list[Cohort]:
    """The cohorts of a population of ``residents`` homes (at least 10), for the scenarios ``names``."""
    if residents < MIN_RESIDENTS:
        raise ValueError(f"the evaluation needs at least {MIN_RESIDENTS} residents (every cohort)")
    falls, learned = tuple(n for n in names if n in FALL_SCENARIOS), tuple(n for n in names if n in LEARNED_SCENARIOS)
    plain = tuple(n for n in names if n not in FALL_SCENARIOS + LEARNED_SCENARIOS)
    sizes = [max(2, residents // 16), max(2, residents // 16), max(2, residents // 12), max(1, residents // 16),
             max(2, residents // 4)]  # fmt: skip
    sizes.append(residents - sum(sizes))
    spec = [("evf", falls, True, False), ("evg", (), True, False), ("evl", learned, False, True),
            ("evm", (), False, True), ("evi", plain, False, False), ("evq", (), False, False)]  # fmt: skip
    return [
        Cohort(build_world("home", n, 1, cohort_seed(seed, k), prefix=prefix), scenarios, motion, history)
        for k, (n, (prefix, scenarios, motion, history)) in enumerate(zip(sizes, spec, strict=True))
    ]


def cohort_seed(seed: int, k: int) -> int:
    """The seed of cohort ``k`` of the run of ``seed``: distinct for every (seed, cohort), so that runs of different
    seeds share no resident (with ``seed + k`` the cohorts of seeds 17 and 20 were drawn alike)."""
    return seed * MAX_COHORTS + k


def merged(parts: Sequence[Cohort]) -> World:
    return World.merge([c.world for c in parts])


def streams(parts: Sequence[Cohort]) -> Streams:
    """The live run's report periods: the standard load model, the accelerometer on the chosen cohorts' wearables."""
    wearables = frozenset(r.wearable_id for c in parts if c.accelerometer for r in c.world.residents)
    return Streams(motion_hz=MOTION_HZ, motion_devices=wearables)


def plan(parts: Sequence[Cohort], start: float, duration_s: float, seed: int, per_scenario: int) -> list[Incident]:
    """``per_scenario`` incidents of each cohort's scenarios within ``[start, start + duration_s)``; on learned
    cohorts from the first local midnight (UTC, the homes' time zone), when 7 whole days are learned."""
    planned: list[Incident] = []
    for k, c in enumerate(parts):
        if not c.scenarios:
            continue
        lo = math.ceil(start / DAY_S) * DAY_S if c.learned else start
        if lo < start + duration_s:
            planned += plan_incidents(c.world, lo, start + duration_s - lo, cohort_seed(seed, k),
                                      count=per_scenario * len(c.scenarios), names=c.scenarios)  # fmt: skip
    return sorted(planned, key=lambda incident: incident.truth.start)


def settle_in(store: Store, world: World, start: float, end: float) -> list[LimitReview]:
    """The settling-in review of every resident of ``world`` over ``[start, end)``, every suggestion accepted at
    ``end`` by ``CLINICIAN`` (thresholds merged with any stored ones, NEWS2 escalations); the reviews, by resident."""
    registered = {r.resident_id: r for r in store.residents()}
    reviews = []
    for resident_id in sorted(r.resident_id for r in world.residents):
        review = review_limits(store, registered[resident_id], start, end)
        for threshold in review.thresholds_to_set(CLINICIAN, end, store.thresholds(resident_id)):
            store.set_threshold(threshold)
        escalation = review.news2_escalation(CLINICIAN, end)
        if escalation is not None:
            store.set_news2_escalation(escalation)
        reviews.append(review)
    return reviews


def probe(world: World, reviews: Sequence[LimitReview], start: float, duration_s: float, seed: int) -> list[Incident]:
    """One of each of PROBE_SCENARIOS on every resident whose limits the review changed, within ``[start, start +
    duration_s)``: what their new limits still find."""
    changed = {v.resident_id for v in reviews if v.changes}
    planned: list[Incident] = []
    for k, resident in enumerate(r for r in world.residents if r.resident_id in changed):
        planned += plan_incidents(replace(world, residents=(resident,)), start, duration_s, seed + k,
                                  names=PROBE_SCENARIOS)  # fmt: skip
    return sorted(planned, key=lambda incident: incident.truth.start)


def history_seed(seed: int) -> int:
    """The history's simulation seed in the run of ``seed``, not the live run's: with the same seed the live days
    replayed the first days of the history (each day's routine, its outings to the minute), which the learned
    profiles had seen."""
    return int(np.random.SeedSequence((seed, HISTORY_KEY)).generate_state(1)[0])


def write_history(store: Store, world: World, start: float, end: float, seed: int) -> int:
    """Simulate ``world`` over ``[start, end)`` and store it through ingest's decoder; returns rows written. Raises
    if any message is rejected (the history must be clean)."""
    registry = Registry()
    registry.refresh(store)
    pending = _Pending()

    def publish(topic: str, payload: bytes) -> None:
        item = decode(topic, payload, end, registry)
        if isinstance(item, DeadLetter):
            raise RuntimeError(f"history message rejected: {item.reason} {item.detail}")
        pending.readings += item.readings
        pending.events += item.events
        pending.accel += item.accel
        if pending.rows >= HISTORY_BATCH_ROWS:
            pending.flush(store)

    Simulation(world, [], publish, history_seed(seed), streams=HISTORY_STREAMS).run(start, end - start, math.inf)
    pending.flush(store)
    return pending.written


class _Pending:
    def __init__(self) -> None:
        self.readings: list[ReadingRow] = []
        self.events: list[EventRow] = []
        self.accel: list[AccelRow] = []
        self.written = 0

    @property
    def rows(self) -> int:
        return len(self.readings) + len(self.events) + len(self.accel)

    def flush(self, store: Store) -> None:
        result = store.write_batch(Batch(self.readings, self.events, self.accel))
        self.written += result.readings + result.events + result.accel
        self.readings, self.events, self.accel = [], [], []
