"""Ring buffers at a fixed resolution: per key, the sums of the last ``L`` slots (e.g. 10-second slots of SpO2 for a
trend, day slots for a baseline), updated for a whole batch at once.

A batch is laid out as one flat *timeline*: for every key it touches, its ring (the ``L`` slots ending at its newest
slot) followed by the batch's new slots, so a window can look back ``L`` slots from any new slot with plain index
arithmetic; after a gap longer than ``L`` slots only the last ``L`` empty ones are laid out (no window is longer).
The newest ``L`` slots of each key are then written back. The same scheme as alerts.falls, for any sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alerts._arrays import BoolArray, FloatArray, IntArray, firsts, grown, ragged_arange

NEVER = np.iinfo(np.int64).min // 2  # the newest slot of a key that has no data yet


@dataclass(frozen=True, slots=True)
class Timeline:
    """Slots of the ``u`` keys of one batch laid end to end: key ``i`` owns positions ``base[i] ..
    base[i] + length[i] - 1``, the first ``L`` its ring (slots ``old[i] - L + 1 .. old[i]``), then its new slots
    ``after[i] .. new[i]``. ``sums`` (T, F); ``slot`` (T,) slot number at each position; ``position`` (n,) of each
    observation."""

    sums: FloatArray
    slot: IntArray
    key: IntArray
    base: IntArray
    length: IntArray
    old: IntArray
    after: IntArray
    new: IntArray
    position: IntArray


class SlotRing:
    """``flat`` (capacity * L + 1, F) float64: slot ``s`` of key ``k`` is row ``k * L + s % L``; the last row is
    always zero (what a slot without data reads as, so a whole timeline is one ``np.take``). ``sums`` is the same
    memory as (capacity, L, F); ``newest`` (capacity,) each key's newest slot."""

    def __init__(self, length: int, fields: int) -> None:
        self.length = length
        self.fields = fields
        self.flat = np.zeros((1, fields))
        self.newest = np.empty(0, np.int64)

    @property
    def sums(self) -> FloatArray:
        view: FloatArray = self.flat[:-1].reshape(-1, self.length, self.fields)
        return view

    @property
    def zero_row(self) -> int:
        return self.flat.shape[0] - 1

    def grow(self, capacity: int) -> None:
        extra = capacity - self.newest.shape[0]
        if extra > 0:
            self.flat = np.concatenate([self.flat[:-1], np.zeros((extra * self.length + 1, self.fields))])
        self.newest = grown(self.newest, capacity, NEVER)

    def nbytes(self) -> int:
        return int(self.flat.nbytes + self.newest.nbytes)

    def in_newest(self, key: IntArray, slot: IntArray) -> BoolArray:
        """(n,) True for the observations (grouped by key) of keys whose observations all lie in the key's newest
        slot: no slot of theirs is completed or moved past, so they need no timeline (`add` them in place)."""
        starts = firsts(key).nonzero()[0]
        stays = np.maximum.reduceat(slot, starts) == self.newest[key[starts]] if starts.shape[0] else starts > 0
        return np.repeat(stays, np.diff(np.append(starts, key.shape[0])))

    def rows(self, key: IntArray, slot: IntArray) -> IntArray:
        """(n,) rows of ``flat`` holding slot ``slot`` of key ``key`` (slots within the ring)."""
        return key * self.length + slot % self.length

    def add(self, key: IntArray, slot: IntArray, values: FloatArray) -> None:
        """Add ``values`` (n, F) of observations to their slots in place: slots within the ring, as those in their
        key's newest slot (`in_newest`) are."""
        _add_rows(self.flat, self.rows(key, slot), values)

    def count(self, sums: FloatArray, rows: IntArray, field: IntArray) -> None:
        """Add 1 to field ``field`` (n,) of rows ``rows`` (n,) of ``sums`` (``flat``, or a timeline's sums): one
        ``add.at`` for a count per observation, where `add` takes one per field."""
        np.add.at(sums.reshape(-1), rows * self.fields + field, 1.0)

    def timeline(self, key: IntArray, slot: IntArray, values: FloatArray | None = None) -> Timeline:
        """Lay out the keys of observations (n,) sorted by key and add ``values`` (n, F) (if given) to their slot's
        sums. Every observation's slot must be at or after its key's newest slot, or within its ring (then `store` the
        line ``whole``)."""
        L = self.length
        first = firsts(key)
        starts = first.nonzero()[0]
        k = key[first]
        if k.shape[0] == 0:
            none = np.empty(0, np.int64)
            return Timeline(np.zeros((0, self.fields)), none, none, none, none, none, none, none, none)
        lo, hi = np.minimum.reduceat(slot, starts), np.maximum.reduceat(slot, starts)
        old = self.newest[k]
        seen = old != NEVER
        old = np.where(seen, old, lo - 1)
        after = np.maximum(old + 1, lo - L)  # first slot laid out after the ring (a long gap is shortened)
        length = L + np.maximum(hi - after + 1, 0)
        base = np.cumsum(length) - length
        owner, j = ragged_arange(length)
        in_ring = j < L
        slot_at = np.where(in_ring, old[owner] - L + 1 + j, after[owner] + j - L)
        source = np.where(in_ring & seen[owner], k[owner] * L + slot_at % L, self.zero_row)
        sums = np.take(self.flat, source, axis=0)
        group = np.cumsum(first) - 1
        position = base[group] + self._offset(old[group], after[group], slot)
        if values is not None:
            _add_rows(sums, position, values)
        return Timeline(sums, slot_at, k, base, length, old, after, np.maximum(hi, old), position)

    def locate(self, line: Timeline, owner: IntArray, slot: IntArray) -> IntArray:
        """(e,) positions in ``line`` of slot ``slot`` (e,) of key ``line.key[owner]``: a slot of its ring or one
        laid out after it."""
        return line.base[owner] + self._offset(line.old[owner], line.after[owner], slot)

    def _offset(self, old: IntArray, after: IntArray, slot: IntArray) -> IntArray:
        L = self.length
        offset: IntArray = np.where(slot <= old, L - 1 - (old - slot), L + slot - after)
        return offset

    def store(self, line: Timeline, whole: bool = False) -> None:
        """Write back what the batch changed: each key's slots from its old newest one on (at most ``L``; older
        slots in the ring are as they were), or, ``whole``, its newest ``L`` slots (for observations added to older
        slots of the ring: late ones)."""
        L = self.length
        first = line.base + line.length - L if whole else np.maximum(line.base + L - 1, line.base + line.length - L)
        owner, j = ragged_arange(line.base + line.length - first)
        pos = first[owner] + j
        self.flat[line.key[owner] * L + line.slot[pos] % L] = line.sums[pos]
        self.newest[line.key] = line.new

    def windows(self, line: Timeline, position: IntArray, width: int, count: int) -> FloatArray:
        """Sums over ``count`` consecutive windows of ``width`` slots ending at each ``position`` (e,) and stepping
        back: (e, count, F), window 0 = slots [p - width + 1, p]. Needs width * count <= L."""
        back = position[:, None] - np.arange(width * count)[None, :]
        gathered = np.take(line.sums, back, axis=0)
        sums: FloatArray = gathered.reshape(position.shape[0], count, width, self.fields).sum(axis=2)
        return sums


def _add_rows(sums: FloatArray, rows: IntArray, values: FloatArray) -> None:
    """``sums[rows] += values`` (n, F) with repeated rows adding up, in observation order: a 1-D ``add.at`` per
    field (numpy's fast path)."""
    for f in range(values.shape[1]):
        np.add.at(sums[:, f], rows, values[:, f])
