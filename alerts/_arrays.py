"""Small vectorised building blocks shared by the rules: grouping sorted keys, shifting within groups, ragged ranges.

Every function takes and returns 1-D arrays; "sorted by key" means equal keys are contiguous (``np.lexsort`` with the
key as the last sort key). No function loops over elements in Python.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NO_INDEX = -1


def firsts(key: np.ndarray) -> BoolArray:
    """(n,) True at the first element of each run of equal ``key`` values."""
    first = np.ones(key.shape[0], bool)
    first[1:] = key[1:] != key[:-1]
    return first


def lasts(key: np.ndarray) -> BoolArray:
    """(n,) True at the last element of each run of equal ``key`` values."""
    last = np.ones(key.shape[0], bool)
    last[:-1] = key[1:] != key[:-1]
    return last


def previous(values: np.ndarray, first: BoolArray, stored: np.ndarray) -> np.ndarray:
    """``values`` (n,) shifted by one within each run; a run's first element takes ``stored`` (n,) instead."""
    shifted = np.empty_like(values)
    shifted[1:] = values[:-1]
    shifted[first] = stored[first]
    return shifted


def last_index(mask: BoolArray) -> IntArray:
    """(n,) index of the latest True at or before each position, NO_INDEX where there is none."""
    return np.maximum.accumulate(np.where(mask, np.arange(mask.shape[0]), NO_INDEX))


def run_start(first: BoolArray) -> IntArray:
    """(n,) index of the first element of each element's run."""
    return last_index(first)


def present(index: IntArray, size: int) -> IntArray:
    """The distinct values of ``index`` (n,) (each in ``0 .. size - 1``), sorted: ``np.unique`` through a table of
    ``size`` flags, where ``np.unique`` hashes or sorts (residents of a batch: n in thousands, size the population)."""
    flags = np.zeros(size, bool)
    flags[index] = True
    return flags.nonzero()[0]


def member_table(ids: Iterable[int], size: int) -> BoolArray:
    """(size,) True at ``ids``: ``table[x]`` tests small non-negative ids (catalogue metrics, event kinds) for
    membership with one gather, where ``np.isin`` sorts."""
    table = np.zeros(size, bool)
    table[list(ids)] = True
    return table


def ragged_arange(counts: IntArray) -> tuple[IntArray, IntArray]:
    """``counts`` (u,) -> ``(owner, k)``, both (sum(counts),): k runs 0..counts[i]-1 for owner i."""
    owner = np.repeat(np.arange(counts.shape[0], dtype=np.int64), counts)
    start = np.cumsum(counts) - counts
    return owner, np.arange(owner.shape[0], dtype=np.int64) - start[owner]


def sort_fresh(key: IntArray, ts: FloatArray, last_ts: FloatArray, *tiebreak: np.ndarray) -> IntArray:
    """Indices that order observations by (key, ts) and keep one per (key, ts), newer than ``last_ts[key]``.

    Among observations of one key at one instant the first in ``tiebreak`` order is kept (the smallest value), so
    the result does not depend on the order of the input; observations at or before what was already evaluated
    for their key (``last_ts``, indexed by key) are dropped: redelivered and late data change nothing.
    """
    order = np.lexsort((*tiebreak[::-1], ts, key))
    return order[fresh(key[order], ts[order], last_ts)]


def arrival_sort(key: IntArray, ts: FloatArray, value: FloatArray) -> IntArray:
    """``np.lexsort((value, ts, key))`` for integer ``key``: one stable sort of ``key`` alone when the rows of each
    key already come in (ts, value) order (rows that arrive in time order), else the full sort."""
    order = np.argsort(key, kind="stable")
    k, t, v = key[order], ts[order], value[order]
    in_order = (t[1:] > t[:-1]) | ((t[1:] == t[:-1]) & (v[1:] >= v[:-1]))  # False for NaN
    if (~in_order & (k[1:] == k[:-1])).any():
        return np.lexsort((value, ts, key))
    return order


def fresh(key: IntArray, ts: FloatArray, last_ts: FloatArray) -> IntArray:
    """`sort_fresh` of observations already sorted by (key, ts, tiebreak): the indices to keep."""
    repeat = np.zeros(key.shape[0], bool)
    repeat[1:] = (key[1:] == key[:-1]) & (ts[1:] == ts[:-1])
    return (~repeat & (ts > last_ts[key])).nonzero()[0]


def grown(array: np.ndarray, capacity: int, fill: float | bool | int | np.ndarray) -> np.ndarray:
    """``array`` extended along its first axis to ``capacity`` rows filled with ``fill`` (a scalar, or one row),
    unchanged if long enough."""
    extra = capacity - array.shape[0]
    if extra <= 0:
        return array
    return np.concatenate([array, np.full((extra, *array.shape[1:]), fill, dtype=array.dtype)])
