"""alerts.rules.episodes: the one-observation-per-key paths give the general paths' steps and state."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from alerts.rules.episodes import Episodes, Step

KEYS = 40


def state(e: Episodes) -> list[np.ndarray]:
    return [e.last_ts, e.inside, e.onset, e.active, e.beyond_ts, e.lead]


def same(a: Step, b: Step) -> bool:
    return all(np.array_equal(getattr(a, f.name), getattr(b, f.name), equal_nan=True) for f in fields(Step))


@pytest.mark.parametrize("seed", range(5))
def test_sampled_once_equals_the_general_path(seed: int) -> None:
    rng = np.random.default_rng(seed)
    fast, general = Episodes(held=False), Episodes(held=False)
    fast.grow(KEYS)
    general.grow(KEYS)
    t = 0.0
    for _ in range(60):
        key = np.sort(rng.choice(KEYS, rng.integers(1, KEYS), replace=False))
        t += rng.uniform(1, 40)
        ts = t + rng.uniform(0, 1, key.shape[0])
        code = rng.choice(np.array([1, 0, -1], np.int8), key.shape[0], p=[0.5, 0.2, 0.3])
        persist = rng.choice([0.0, 30.0, 60.0], key.shape[0])
        gap = np.full(key.shape[0], 50.0)
        tolerance = rng.choice([0.0, 20.0, 50.0], key.shape[0])  # dips into the band a run continues through
        a = fast.advance(key, ts, code, persist, gap, tolerance)
        b = general._advance_sampled(key, ts, code, persist, gap, tolerance)
        assert same(a, b)
        assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(state(fast), state(general), strict=True))
