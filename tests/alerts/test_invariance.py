"""Invariances of the whole rule registry on a simulated week (tests/alerts_support.py): the order of rows within a
batch, cutting the data into batches (with the clock ticking in between) and duplicated rows change no alert.

The scenario is built so that every rule of `default_rules()` raises at least once; the test checks that first, or
it would prove nothing."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from alerts_support import DAY, HOUR, LIMITS, T0, TEST_DAY, end_of, engine, scenario, split

from alerts.engine import AlertEngine, Cleared
from alerts.rules import default_rules
from carewatch.model import AlertDraft, Batch
from carewatch.storage.base import Threshold

Outcome = tuple[list[tuple[str, str, float]], list[tuple[str, str, float]]]


def outcome(drafts: list[AlertDraft], cleared: list[Cleared]) -> Outcome:
    return (
        sorted((d.resident_id, d.rule, d.opened_at) for d in drafts),
        sorted((c.resident_id, c.rule, c.at) for c in cleared),
    )


def run(batches: list[tuple[Batch, float]], end: float, limits: tuple[Threshold, ...] = ()) -> Outcome:
    """Feed the batches in turn, the clock ticking after each at the time its data reaches, then at ``end``; with
    clinicians' ``limits`` in force."""
    e = engine()
    e.apply_thresholds(limits)
    drafts: list[AlertDraft] = []
    cleared: list[Cleared] = []
    for batch, until in batches:
        found = e.process(batch)
        drafts += found[0]
        cleared += found[1]
        if until < end:
            ticked = e.tick(until)
            drafts += ticked[0]
            cleared += ticked[1]
    ticked = e.tick(end)
    return outcome(drafts + ticked[0], cleared + ticked[1])


@cache
def reference(seed: int) -> tuple[Batch, float, Outcome]:
    s = scenario(seed)
    batch, end = s.batch(), end_of(s)
    return batch, end, run([(batch, end)], end)


def shuffled(batch: Batch, rng: np.random.Generator) -> Batch:
    return Batch(
        readings=[batch.readings[i] for i in rng.permutation(len(batch.readings))],
        events=[batch.events[i] for i in rng.permutation(len(batch.events))],
        accel=[batch.accel[i] for i in rng.permutation(len(batch.accel))],
    )


def test_every_rule_raises_in_the_scenario() -> None:
    _, _, (drafts, cleared) = reference(0)
    raised = {rule for _, rule, _ in drafts}
    assert raised == {rule.name for rule in default_rules()}
    assert {rule for _, rule, _ in cleared} >= {"spo2_low", "bathroom_long", "device_offline", "water_leak"}


def test_toilet_visits_on_the_not_up_morning_are_not_getting_up() -> None:
    """r4 stays in bed until 10:30 (usually up at about 07:00) but goes to the toilet and back at 06:30 and 08:30."""
    _, _, (drafts, cleared) = reference(0)
    day = T0 + TEST_DAY * DAY + 5 * HOUR  # local midnight in New York
    [opened] = [t for r, rule, t in drafts if (r, rule) == ("r4", "not_up") and t > day]
    [ended] = [t for r, rule, t in cleared if (r, rule) == ("r4", "not_up") and t > day]
    assert day + 7.5 * HOUR < opened < day + 8.5 * HOUR  # the usual time plus an hour
    assert day + 10.5 * HOUR <= ended < day + 11 * HOUR  # up for good at 10:30, not at a visit


def test_order_within_a_batch_does_not_matter() -> None:
    batch, end, expected = reference(0)
    assert run([(shuffled(batch, np.random.default_rng(1)), end)], end) == expected


@pytest.mark.parametrize(("seed", "parts"), [(0, 2), (0, 5), (1, 3)])
def test_cutting_into_batches_with_ticks_between_gives_the_same_alerts(seed: int, parts: int) -> None:
    batch, end, expected = reference(seed)
    times = np.array([r.ts for r in batch.readings])
    rng = np.random.default_rng(seed + parts)
    cuts = sorted(rng.uniform(times.min(), times.max(), parts - 1).tolist())
    assert run(list(split(batch, cuts)), end) == expected


def test_duplicated_rows_change_nothing() -> None:
    batch, end, expected = reference(0)
    rng = np.random.default_rng(2)
    doubled = Batch(
        readings=batch.readings + [batch.readings[i] for i in rng.choice(len(batch.readings), 5000)],
        events=batch.events + [batch.events[i] for i in rng.choice(len(batch.events), 300)],
        accel=batch.accel + batch.accel[::3],
    )
    assert run([(shuffled(doubled, rng), end)], end) == expected


def test_a_redelivered_batch_raises_nothing_new() -> None:
    batch, _, _ = reference(0)
    e: AlertEngine = engine()
    e.process(batch)
    drafts, cleared = e.process(batch)
    assert drafts == [] and cleared == []


def test_limits_for_the_time_in_bed_keep_every_invariance() -> None:
    """The in-bed limits (tests/alerts_support.py, LIMITS) change alerts, and neither order, cuts nor duplicates
    change what they raise."""
    batch, end, default = reference(0)
    expected = run([(batch, end)], end, LIMITS)
    assert expected != default
    rng = np.random.default_rng(3)
    assert run([(shuffled(batch, rng), end)], end, LIMITS) == expected
    times = np.array([r.ts for r in batch.readings])
    cuts = sorted(rng.uniform(times.min(), times.max(), 4).tolist())
    assert run(list(split(batch, cuts)), end, LIMITS) == expected
    doubled = Batch(
        readings=batch.readings + [batch.readings[i] for i in rng.choice(len(batch.readings), 5000)],
        events=batch.events + [batch.events[i] for i in rng.choice(len(batch.events), 300)],
        accel=batch.accel,
    )
    assert run([(shuffled(doubled, rng), end)], end, LIMITS) == expected
