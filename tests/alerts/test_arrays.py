"""alerts._arrays: the shortcuts give what the numpy calls they stand for do."""

from __future__ import annotations

import numpy as np
import pytest

from alerts._arrays import arrival_sort, present


@pytest.mark.parametrize("seed", range(20))
def test_arrival_sort_is_lexsort(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 300))
    key = rng.integers(0, 12, n)
    ts = np.round(rng.uniform(0, 20, n))  # ties in time, and in (time, value)
    value = rng.integers(0, 3, n).astype(np.float64)
    if seed % 2:  # in arrival order: by time, then value (the shortcut's case)
        order = np.lexsort((value, ts))
        key, ts, value = key[order], ts[order], value[order]
    if seed % 5 == 0 and n:  # NaN never passes for ordered
        value[rng.integers(0, n)] = np.nan
    assert np.array_equal(arrival_sort(key, ts, value), np.lexsort((value, ts, key)))


@pytest.mark.parametrize("seed", range(5))
def test_present_is_unique(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 50))
    index = rng.integers(0, size, int(rng.integers(0, 80)))
    found = present(index, size)
    assert np.array_equal(found, np.unique(index)) and found.dtype == np.unique(index).dtype
