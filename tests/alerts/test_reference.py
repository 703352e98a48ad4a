"""The vectorised engine against the straightforward per-reading implementation of the same rules
(alerts.reference): on the simulated week, in one batch and cut into batches with the clock ticking between, both
raise and clear exactly the same alerts at exactly the same times."""

from __future__ import annotations

import numpy as np
import pytest
from alerts_support import RESIDENTS, SITES, T0, devices, end_of, engine, scenario, split

from alerts.reference import ReferenceEngine
from carewatch.model import Batch

Findings = tuple[list[tuple[str, str, float]], list[tuple[str, str, float]]]


def reference_engine() -> ReferenceEngine:
    e = ReferenceEngine()
    e.population.refresh_offsets(T0)
    e.add_residents(RESIDENTS, SITES, devices())
    return e


def vectorised(batches: list[tuple[Batch, float]], end: float) -> Findings:
    e = engine()
    raised, cleared = [], []
    for batch, until in batches:
        for drafts, gone in (e.process(batch), e.tick(min(until, end))):
            raised += [(d.resident_id, d.rule, d.opened_at) for d in drafts]
            cleared += [(c.resident_id, c.rule, c.at) for c in gone]
    return sorted(raised), sorted(cleared)


def straightforward(batches: list[tuple[Batch, float]], end: float) -> Findings:
    e = reference_engine()
    raised, cleared = [], []
    for batch, until in batches:
        for found, gone in (e.process(batch), e.tick(min(until, end))):
            raised += found
            cleared += gone
    return sorted(raised), sorted(cleared)


@pytest.mark.parametrize("parts", [1, 6])
def test_vectorised_and_straightforward_rules_agree(parts: int) -> None:
    s = scenario(2)
    batch, end = s.batch(), end_of(s)
    times = np.array([r.ts for r in batch.readings])
    cuts = sorted(np.random.default_rng(parts).uniform(times.min(), times.max(), parts - 1).tolist())
    batches = list(split(batch, cuts))
    expected = straightforward(batches, end)
    assert len(expected[0]) > 40  # every rule raised at least once (tests/alerts/test_invariance.py)
    assert vectorised(batches, end) == expected
