"""Fall detection on waist-worn accelerometer streams, for many residents at once, pure numpy.

The scheme is the classic one: impact, then posture change, then stillness (Kangas et al. 2008,
Bourke et al. 2007; see :class:`FallParams`). A resident's samples are summarised on a fixed grid of
*frames* ``frame_s`` long, aligned to the epoch so that the grid does not depend on how the stream was
cut into blocks. Per frame we keep sums (count, seconds covered, x, y, z, |a|, |a|^2) and the peak |a|
with its timestamp. Frame ``f`` holds a fall when

1. impact: its peak |a| reaches ``impact_g`` and is the largest peak within ``merge_s`` on either
   side (the rebounds of one fall make one event);
2. posture change: the mean acceleration vector (gravity, as the device sees it) over a window
   *before* the impact and over a window *after* it differ by at least ``min_tilt_deg``;
3. stillness: the standard deviation of |a| over the window after the impact is at most
   ``still_sd_g``;
4. samples cover both windows for at least ``min_coverage`` of their length (one lost message does not hide a
   fall; longer gaps decide nothing).

Frame ``f`` is decided as soon as the last frame of its post-impact window is complete, that is when
a sample of a later frame has arrived; ``detected_ts`` is that window's end (data time, not wall-clock
time). A stream that stops less than ``post_window_s[1]`` after an impact never reports it.

State is a ring of the last ``L`` frames per resident (see :class:`FallDetector`); the alert engine's
"residents" here are accelerometer streams, one per device (alerts.signals), which it maps back to whom each is
about. A call concatenates its blocks and sums samples into frames. Most residents have no impact to decide:
their new frames are written to the ring, and only the sums a window *before* an impact reads (count, seconds, x, y, z),
since a later impact reads nothing else of them (their peaks are below ``impact_g``: they neither are
nor beat an impact, and an impact's post window is summed while it is to be decided). A resident with an
impact in the call, or one still to decide, gets all nine fields: one contiguous *timeline* (its ring,
then its new frames) in a flat array, every frame that became decidable tested, the newest ``L`` frames
written back. Nothing loops per sample, per block or per resident.

Free fall (|a| well below 1 g before the impact) is deliberately not required: falls from sitting and
fainting falls show no clear free-fall phase (on the SisFall development subset a 0.6 g free-fall gate
lost 10 to 14 of 105 falls, depending on the rate).

Known limits: the thresholds were checked on the same SisFall subset the benchmark reports on, so its
figures are optimistic; lying down quickly with a hard landing (SisFall D13) looks like a fall to this
scheme; cutting a stream into blocks differently changes sample times by their rounding error and
window sums in their last bits, so ``impact_ts`` and ``tilt_deg`` agree to about 1e-6, not exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from alerts._arrays import firsts, lasts, ragged_arange

__all__ = ["FallDetector", "FallEvents", "FallParams", "magnitude"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Fields of a frame (last axis of frame arrays). The first _N_ADDITIVE are sums, merged by addition; the first
# _N_SUMS are what a window before an impact reads, kept for every frame; the rest (the |a| sums, the peak and its
# time) only while an impact is to be decided.
_N, _COVER, _SX, _SY, _SZ, _SM, _SM2, _PK, _PK_TS = range(9)
_N_SUMS: Final = 5
_N_ADDITIVE: Final = 7
_NF: Final = 9
# Sample times are computed as start_ts + j / rate_hz, which at epoch magnitudes (~1.7e9 s) carries a
# rounding error of about 0.5 us, and at common rates (25, 50, 200 Hz...) every few samples fall exactly
# on a frame edge. Moving the edges 0.1 ms earlier puts such samples firmly in the later frame, so the
# frame of a sample does not depend on where the stream was cut into blocks.
_EDGE_GUARD_S: Final = 1e-4
_NO_FRAME: Final = np.iinfo(np.int64).min // 2


@dataclass(frozen=True, slots=True)
class FallParams:
    """Thresholds and windows: times in seconds, accelerations in g (9.80665 m/s^2), angles in degrees.

    Values come from the literature and physical reasoning, then were checked (not fitted file by
    file) on the SisFall development subset with ``python -m bench.eval_falls``.
    """

    # Grid of the per-resident history. 0.1 s resolves the 1-2 s windows below finely enough and keeps
    # the state at about 4 KiB per resident.
    frame_s: float = 0.1
    # Impact: peak |a| at the waist. Kangas et al. 2008 (waist, impact + posture) use 2 g, Bourke et
    # al. 2007 (trunk, impact alone) about 3 g. With posture and stillness checked after it we sit in
    # between, low enough for a 25 Hz device, whose low-pass flattens the spike (SisFall falls: median
    # peak 6.0 g at 200 Hz and 4.1 g at 25 Hz; lowest 2.9 g at 200 Hz, 2.4 g at 25 Hz).
    impact_g: float = 2.5
    # Rebounds and second contacts (hip, then shoulder) follow within about a second: only the
    # largest peak within this distance is an impact, so one fall gives one event.
    merge_s: float = 1.0
    # Gravity before the fall: mean vector over [impact - 2.5 s, impact - 1.0 s). The fall itself
    # (loss of balance to impact) lasts up to about 1 s (Bourke et al. 2007; Kangas et al. 2008), so
    # this window still shows the pre-fall posture; 1.5 s averages out the sway of gait.
    pre_window_s: tuple[float, float] = (2.5, 1.0)
    # After the fall: [impact + 1 s, impact + 3 s). One second lets the body settle after the
    # rebounds; 2 s of lying still is the stillness evidence and sets the latency at about 3 s.
    post_window_s: tuple[float, float] = (1.0, 3.0)
    # Posture change: standing or sitting -> lying turns the trunk by about 90 deg; 45 deg is the
    # midpoint (Kangas et al. 2008 call "lying" 60 deg from vertical on a known device axis; a relative
    # change does not depend on how the device is clipped on).
    min_tilt_deg: float = 45.0
    # Stillness: SD of |a| over the post window. At rest a MEMS accelerometer shows 0.01-0.02 g;
    # walking or getting up again 0.2-0.4 g. 0.15 g lies between, with room for small movements.
    still_sd_g: float = 0.15
    # A window counts only if samples cover at least this fraction of it (a device off decides nothing). A radio
    # link loses a few messages, and one lost 1-second message must not hide a fall: it leaves at least a third of
    # the 1.5-s window before the impact and half the 2-s window after it. Less than that estimates the posture
    # from under half a second of samples. (At 0.8, one lost message next to the impact hid a syncope in the
    # evaluation, seed 13: docs/detection.md.)
    min_coverage: float = 0.3

    def __post_init__(self) -> None:
        (pre_far, pre_near), (post_near, post_far) = self.pre_window_s, self.post_window_s
        if not (self.frame_s > 0 and self.impact_g > 0 and self.still_sd_g > 0):
            raise ValueError("frame_s, impact_g and still_sd_g must be positive")
        if not (pre_far - pre_near >= self.frame_s and post_far - post_near >= self.frame_s):
            raise ValueError("windows are (far, near) before and (near, far) after, at least a frame long")
        if not (pre_near >= 0 and post_near >= 0 and 0 <= self.merge_s <= post_far):
            raise ValueError("window offsets must be >= 0 and merge_s within the post-impact window")
        if not (0 < self.min_coverage <= 1 and 0 <= self.min_tilt_deg <= 180):
            raise ValueError("min_coverage must be in (0, 1], min_tilt_deg in [0, 180]")


@dataclass(frozen=True, slots=True)
class FallEvents:
    """``k`` detected falls, every array shape ``(k,)``, sorted by resident, then impact time."""

    resident: IntArray  # resident index
    impact_ts: FloatArray  # epoch seconds of the impact sample (the peak)
    detected_ts: FloatArray  # end of the post-impact window: data time at which the fall was confirmed
    peak_g: FloatArray  # peak |a| at impact
    tilt_deg: FloatArray  # angle between the gravity vector before and after the impact

    def __len__(self) -> int:
        return int(self.resident.shape[0])


def _no_events() -> FallEvents:
    empty = np.empty(0, dtype=np.float64)
    return FallEvents(np.empty(0, dtype=np.int64), empty, empty.copy(), empty.copy(), empty.copy())


@dataclass(frozen=True, slots=True)
class _Grid:
    """``FallParams`` in frames, relative to the impact frame ``f``."""

    pre_lo: int  # pre window: frames [f - pre_lo, f - pre_hi)
    pre_hi: int
    post_lo: int  # post window: frames [f + post_lo, f + post_hi)
    post_hi: int  # so frame f is decidable once frame f + post_hi - 1 is complete
    merge: int  # the impact is the largest peak of frames [f - merge, f + merge]
    ring: int  # L: frames kept per resident, the look-back of the oldest frame not yet decided

    @classmethod
    def of(cls, p: FallParams) -> _Grid:
        def frames(seconds: float) -> int:
            return round(seconds / p.frame_s)

        pre_lo, pre_hi = frames(p.pre_window_s[0]), frames(p.pre_window_s[1])
        post_lo, post_hi = 1 + frames(p.post_window_s[0]), 1 + frames(p.post_window_s[1])
        merge = frames(p.merge_s)
        return cls(pre_lo, pre_hi, post_lo, post_hi, merge, ring=post_hi + max(pre_lo, merge))


@dataclass(frozen=True, slots=True)
class _Timeline:
    """Frames of the ``u`` residents of one call, laid end to end.

    Resident ``i`` owns positions ``base[i] .. base[i] + length[i] - 1``: first its ring (``L`` frames
    ending at its previous newest frame), then its new frames up to ``new_hi[i]``. After a gap longer
    than ``L`` frames only the last ``L`` empty frames of the gap are laid out: no window is longer.
    """

    frames: FloatArray  # (T, 9)
    frame_no: IntArray  # (T,) frame number at each position
    resident: IntArray  # (u,)
    base: IntArray  # (u,)
    length: IntArray  # (u,)
    new_hi: IntArray  # (u,)


@dataclass(frozen=True, slots=True)
class _Frames:
    """The ``K`` distinct (resident, frame) of a call's ``S`` samples, sorted by resident, then frame."""

    resident: IntArray  # (K,)
    number: IntArray  # (K,) frame number
    sums: FloatArray  # (K, 5) count, seconds, x, y, z
    first: IntArray  # (K,) first sample
    segment: IntArray  # (S,) frame (0 .. K - 1) of each sample

    def take(self, index: IntArray) -> _Frames:
        """Frames ``index`` (k,), in that order (their ``segment`` as it was)."""
        return _Frames(self.resident[index], self.number[index], np.take(self.sums, index, axis=0),
                       self.first[index], self.segment)  # fmt: skip


class FallDetector:
    """Streaming fall detector; resident ``r`` is row ``r`` of every state array.

    State, with ``L = _Grid.ring`` frames (56 with the default parameters):

    - ``_sums`` ``(capacity, L, 5)`` float64: count, seconds, x, y, z of frame ``g`` of resident ``r`` at
      ``_sums[r, g % L]``; the ring holds frames ``_hi[r] - L + 1 .. _hi[r]``.
    - ``_detail`` ``(capacity, L, 4)`` float64: |a|, |a|^2, peak |a| and its time, laid out alike; valid only
      while the resident has an impact to decide (written then, with all of its ``L`` frames). A resident
      taking the fast path leaves it as it was, and the next impact reads it as zeros.
    - ``_hi`` ``(capacity,)`` int64: newest frame with data (possibly still incomplete).
    - ``_last_ts`` ``(capacity,)`` float64: time of the newest processed sample, ``-inf`` before any.
    - ``_impact_hi`` ``(capacity,)`` int64: newest frame whose peak reached ``impact_g``. A resident with no
      such frame awaiting its decision takes a fast path: its new frames' sums are written to the ring
      directly, no timeline is laid out (most calls, for most residents: impacts are rare).
    - ``stale_blocks``: blocks ignored because they were not newer than their resident's data.
    """

    def __init__(self, capacity: int, params: FallParams = FallParams()) -> None:
        self.params = params
        self._grid = _Grid.of(params)
        self.capacity = 0
        self._sums = np.zeros((0, self._grid.ring, _N_SUMS), dtype=np.float64)
        self._detail = np.zeros((0, self._grid.ring, _NF - _N_SUMS), dtype=np.float64)
        self._hi = np.zeros(0, dtype=np.int64)
        self._last_ts = np.zeros(0, dtype=np.float64)
        self._impact_hi = np.zeros(0, dtype=np.int64)  # newest frame with a peak >= impact_g
        self.stale_blocks = 0
        self.grow(capacity)

    def grow(self, capacity: int) -> None:
        """Make room for residents ``0 .. capacity - 1``, keeping the state of existing ones."""
        if capacity < self.capacity:
            raise ValueError(f"capacity can only grow ({self.capacity} -> {capacity})")
        extra = capacity - self.capacity
        self._sums = np.concatenate([self._sums, np.zeros((extra, *self._sums.shape[1:]))])
        self._detail = np.concatenate([self._detail, np.zeros((extra, *self._detail.shape[1:]))])
        self._hi = np.concatenate([self._hi, np.zeros(extra, dtype=np.int64)])
        self._last_ts = np.concatenate([self._last_ts, np.full(extra, -np.inf)])
        self._impact_hi = np.concatenate([self._impact_hi, np.full(extra, _NO_FRAME, dtype=np.int64)])
        self.capacity = capacity

    def nbytes(self) -> int:
        """Bytes of state arrays."""
        return sum(a.nbytes for a in (self._sums, self._detail, self._hi, self._last_ts, self._impact_hi))

    def process_blocks(
        self,
        resident: IntArray,
        start_ts: FloatArray,
        rate_hz: FloatArray,
        samples: list[npt.NDArray[np.floating]],
    ) -> FallEvents:
        """Feed ``b`` blocks; return the falls they confirm.

        ``resident`` ``(b,)`` int, ``start_ts`` ``(b,)`` epoch seconds of each block's first sample,
        ``rate_hz`` ``(b,)``; ``samples[i]`` has shape ``(n_i, 3)`` in g, its sample ``j`` taken at
        ``start_ts[i] + j / rate_hz[i]``. Blocks may mix residents and come in any order. A block that
        does not start after its resident's newest sample (a resend, or late) is ignored and counted
        in ``stale_blocks``; an empty block is ignored.
        """
        counts = np.fromiter(map(len, samples), dtype=np.int64, count=len(samples))
        if not samples:
            xyz: npt.NDArray[np.floating] = np.empty((0, 3))
        else:
            try:
                xyz = np.concatenate(samples)
            except ValueError:  # blocks of different shapes
                raise ValueError("each block of samples must have shape (n, 3)") from None
        return self.process(resident, start_ts, rate_hz, counts, xyz.T)

    def process(
        self,
        resident: IntArray,
        start_ts: FloatArray,
        rate_hz: FloatArray,
        counts: IntArray,
        axes: npt.NDArray[np.floating],
        mag: FloatArray | None = None,
    ) -> FallEvents:
        """As `process_blocks`, with the blocks' samples laid one after the other, axis by axis: ``counts``
        ``(b,)`` samples per block and ``axes`` ``(3, sum(counts))`` x, y, z in g (the alert engine's form: no list
        of arrays; blocks already in (resident, time) order skip a gather). ``mag`` ``(sum(counts),)``: |a| of each
        sample as `magnitude` computes it, if the caller has it already (the engine does, for movement too)."""
        res, start, rate, counts, axes = self._validate(resident, start_ts, rate_hz, counts, axes)
        if mag is not None and mag.shape != axes.shape[1:]:
            raise ValueError("mag must have one value per sample")
        order = self._fresh_blocks(res, start, rate, counts)
        self.stale_blocks += int(np.count_nonzero(counts > 0)) - order.shape[0]
        if order.shape[0] == 0:
            return _no_events()
        # Samples in (resident, time) order: blocks sorted, and kept blocks of a resident never overlap.
        s_res, s_ts, s_rate, taken = self._samples(res, start, rate, counts, order)
        s_axes = axes if taken is None else np.take(axes, taken, axis=1)
        if mag is None:
            mag = magnitude(s_axes)
        elif taken is not None:
            mag = mag[taken]
        slow = self._undecided_impact(res[order], s_res, mag)  # (S,) samples of residents with an impact to decide
        frames = self._to_frames(s_res, s_ts, s_axes, s_rate)
        events = _no_events()
        if slow is not None and (to_decide := slow[frames.first]).any():  # (K,): all fields, the full timeline
            picked = to_decide.nonzero()[0]
            values = np.concatenate([frames.sums[picked], _detail(frames, picked, slow, s_ts, mag)], axis=1)
            line = self._timeline(frames.resident[picked], frames.number[picked], values)
            events = self._decide(line)
            self._store(line)
            impact = picked[values[:, _PK] >= self.params.impact_g]
            np.maximum.at(self._impact_hi, frames.resident[impact], frames.number[impact])
            frames = frames.take((~to_decide).nonzero()[0])
        if frames.resident.shape[0]:  # everyone else: nothing to decide, only new frames' sums to write
            self._write(frames.resident, frames.number, frames.sums)
        last = order[lasts(res[order])]  # each resident's newest block: its last sample, as `_samples` times it
        self._last_ts[res[last]] = start[last] + (counts[last] - 1) / rate[last]
        return events

    # -- the steps of process_blocks, in order ------------------------------------------------------

    def _validate(
        self,
        resident: IntArray,
        start_ts: FloatArray,
        rate_hz: FloatArray,
        counts: IntArray,
        axes: npt.NDArray[np.floating],
    ) -> tuple[IntArray, FloatArray, FloatArray, IntArray, FloatArray]:
        """Check the inputs once. Returns the three ``(b,)`` arrays, ``counts`` ``(b,)`` and all samples
        ``(3, sum n_i)`` float64, each axis contiguous."""
        res = np.asarray(resident)
        start = np.asarray(start_ts, dtype=np.float64)
        rate = np.asarray(rate_hz, dtype=np.float64)
        n = np.asarray(counts, dtype=np.int64)
        b = n.shape[0]
        if res.shape != (b,) or start.shape != (b,) or rate.shape != (b,):
            raise ValueError(f"resident, start_ts and rate_hz must have shape ({b},), one per block")
        if b and not np.issubdtype(res.dtype, np.integer):
            raise TypeError(f"resident must be an integer array, got {res.dtype}")
        res = res.astype(np.int64)
        if b and (res.min() < 0 or res.max() >= self.capacity):
            raise ValueError(f"resident index out of range [0, {self.capacity})")
        if not (np.isfinite(start).all() and np.isfinite(rate).all() and (rate > 0).all()):
            raise ValueError("start_ts and rate_hz must be finite, rate_hz > 0")
        xyz = np.ascontiguousarray(axes, dtype=np.float64)
        if xyz.ndim != 2 or xyz.shape[0] != 3 or xyz.shape[1] != int(n.sum()) or (n < 0).any():
            raise ValueError("each block of samples must have shape (n, 3)")
        if not np.isfinite(xyz).all():
            raise ValueError("samples must be finite")
        return res, start, rate, n, xyz

    def _fresh_blocks(self, res: IntArray, start: FloatArray, rate: FloatArray, counts: IntArray) -> IntArray:
        """Indices ``(k,)`` in (resident, start) order of the non-empty blocks that start after all data kept
        before them for their resident.

        A block is compared with its resident's newest processed sample and with the end of the previous
        kept block of this call (in start order). Dropping a block can make the next one fresh again,
        hence the loop; it runs once unless blocks of one call overlap.
        """
        end = start + np.maximum(counts - 1, 0) / rate
        order = _order_by(res, start)
        keep = counts > 0
        while True:
            idx = order[keep[order]]
            prev_end = self._last_ts[res[idx]]
            same = np.zeros(idx.shape[0], dtype=bool)  # same resident as the previous kept block
            same[1:] = res[idx][1:] == res[idx][:-1]
            prev_end[same] = np.maximum(prev_end[same], end[idx][:-1][same[1:]])
            stale = start[idx] <= prev_end
            if not stale.any():
                return idx
            keep[idx[stale]] = False

    @staticmethod
    def _samples(
        res: IntArray, start: FloatArray, rate: FloatArray, counts: IntArray, order: IntArray
    ) -> tuple[IntArray, FloatArray, FloatArray, IntArray | None]:
        """The samples of blocks ``order`` ``(k,)``, one after the other: resident, time and rate ``(S,)``, and
        their indices among all samples ``(S,)`` (None when ``order`` is every block as they are: no gather)."""
        n = counts[order]
        first = np.cumsum(n) - n
        j = np.arange(int(first[-1] + n[-1]), dtype=np.int64) - np.repeat(first, n)
        s_rate = np.repeat(rate[order], n)
        s_ts = np.repeat(start[order], n) + j / s_rate
        taken = None
        if order.shape[0] < counts.shape[0] or (order[1:] < order[:-1]).any():
            taken = np.repeat((np.cumsum(counts) - counts)[order], n) + j
        return np.repeat(res[order], n), s_ts, s_rate, taken

    def _to_frames(self, s_res: IntArray, s_ts: FloatArray, s_axes: FloatArray, s_rate: FloatArray) -> _Frames:
        """Sum ``S`` samples, sorted by (resident, time), into frames: their sums a window before an impact
        reads (`_detail` adds the rest where needed). ``s_res``, ``s_ts``, ``s_rate`` have shape ``(S,)`` and
        ``s_axes`` ``(3, S)``."""
        frame = np.floor((s_ts + _EDGE_GUARD_S) / self.params.frame_s).astype(np.int64)
        cut = firsts(s_res)
        cut[1:] |= frame[1:] != frame[:-1]
        first = cut.nonzero()[0]
        k = first.shape[0]
        count = np.diff(np.append(first, s_res.shape[0]))
        segment = np.repeat(np.arange(k), count)  # (S,) frame of each sample (a cumsum of `cut` is 5 times slower)
        sums = np.empty((k, _N_SUMS))
        sums[:, _N] = count
        # Per-segment sums with bincount: faster than reduceat for many short segments, and the same sums (each
        # bin adds its samples in order, starting from zero, as the reference's per-sample sums do).
        x, y, z = s_axes
        for column, weights in ((_COVER, 1.0 / s_rate), (_SX, x), (_SY, y), (_SZ, z)):
            sums[:, column] = np.bincount(segment, weights=weights, minlength=k)
        return _Frames(s_res[first], frame[first], sums, first, segment)

    def _undecided_impact(self, block_res: IntArray, s_res: IntArray, mag: FloatArray) -> BoolArray | None:
        """(S,) True for the samples of residents with an impact frame not decided yet: in their ring (newer than
        ``_hi - post_hi``, the last decided frame) or among their new samples; None if there are none (most calls).
        Only those residents can fall in this call; the others take the fast path (`_write`) with the same result.
        ``block_res`` ``(k,)``: the resident of each block the samples ``(S,)`` come from."""
        impact = mag >= self.params.impact_g
        if not (impact.any() or self._pending(block_res).any()):
            return None
        starts = firsts(s_res).nonzero()[0]
        new = np.maximum.reduceat(impact, starts)
        return np.repeat(self._pending(s_res[starts]) | new, np.diff(np.r_[starts, s_res.shape[0]]))

    def _pending(self, res: IntArray) -> BoolArray:
        """(n,) True for residents ``res`` (n,) with an impact in their ring not decided yet."""
        return np.isfinite(self._last_ts[res]) & (self._impact_hi[res] > self._hi[res] - self._grid.post_hi)

    def _write(self, frame_res: IntArray, frame_no: IntArray, sums: FloatArray) -> None:
        """Add new frames' sums ``(K, 5)`` (sorted by resident, then frame; updated in place) to the rings, without
        a timeline: the slots of each resident's frames after its old newest one are cleared first (they hold
        frames ``L`` older), the old newest frame itself is continued. The residents have no impact to decide:
        their ``_detail`` is left as it is (see :class:`FallDetector`)."""
        L = self._grid.ring
        starts = np.r_[True, frame_res[1:] != frame_res[:-1]].nonzero()[0]
        ends = np.r_[starts[1:], frame_res.shape[0]] - 1
        r, new_hi = frame_res[starts], frame_no[ends]
        seen = np.isfinite(self._last_ts[r])
        old_hi = np.where(seen, self._hi[r], frame_no[starts] - 1)
        lo = np.maximum(old_hi + 1, new_hi - L + 1)
        ring = self._sums.reshape(-1, _N_SUMS)  # a view: row r * L + slot is frame slot of resident r
        group = np.repeat(np.arange(starts.shape[0]), ends - starts + 1)
        fresh = frame_no > old_hi[group]
        recent = fresh & (frame_no > new_hi[group] - L)  # a call longer than the ring keeps its last L frames
        # Slots of new frames without data (a lost block) still hold a frame L older: clear the range [lo, new_hi]
        # of residents with such gaps (rare: with data in every frame, the new frames overwrite their slots).
        gaps = np.bincount(group[recent], minlength=starts.shape[0]) < new_hi - lo + 1
        owner, k = ragged_arange(np.where(gaps, np.maximum(new_hi - lo + 1, 0), 0))
        ring[r[owner] * L + (lo[owner] + k) % L] = 0.0
        continued = (~fresh).nonzero()[0]  # the old newest frame of a resident: its new sums add to the old ones
        total = np.take(ring, frame_res[continued] * L + frame_no[continued] % L, axis=0)  # take: faster than [ ]
        total += np.take(sums, continued, axis=0)
        sums[continued] = total
        written = recent | ~fresh  # all, unless a call outran the ring
        if not written.all():
            keep = written.nonzero()[0]
            frame_res, frame_no, sums = frame_res[keep], frame_no[keep], np.take(sums, keep, axis=0)
        np.put(_rows(ring), frame_res * L + frame_no % L, _rows(sums))  # one row scatter
        self._hi[r] = np.maximum(old_hi, new_hi)

    def _timeline(self, frame_res: IntArray, frame_no: IntArray, values: FloatArray) -> _Timeline:
        """Lay out ring + new frames ``(K,)`` per resident of the call (see :class:`_Timeline`)."""
        L = self._grid.ring
        firsts = np.r_[True, frame_res[1:] != frame_res[:-1]].nonzero()[0]
        lasts = np.r_[firsts[1:], frame_res.shape[0]] - 1
        r = frame_res[firsts]
        new_first, new_hi = frame_no[firsts], frame_no[lasts]
        old_hi = self._hi[r]
        # First frame laid out after the ring: the one after old_hi, or L frames before the new data.
        seen = np.isfinite(self._last_ts[r])
        after_ring = np.where(seen, np.maximum(old_hi + 1, new_first - L), new_first - L)
        length = L + new_hi - after_ring + 1
        base = np.cumsum(length) - length
        owner, k = ragged_arange(length)
        in_ring = k < L
        frame_at = np.where(in_ring, old_hi[owner] - L + 1 + k, after_ring[owner] + k - L)
        frames = np.zeros((base[-1] + length[-1], _NF))
        frames[in_ring, :_N_SUMS] = self._sums[r[owner[in_ring]], frame_at[in_ring] % L]
        # Detail is kept only while an impact is to be decided (before this call's impacts): zeros otherwise.
        kept = self._pending(r)[owner] & in_ring
        frames[kept, _N_SUMS:] = self._detail[r[owner[kept]], frame_at[kept] % L]
        group = np.repeat(np.arange(r.shape[0]), lasts - firsts + 1)
        pos = base[group] + L + frame_no - after_ring[group]
        frames[pos, :_N_ADDITIVE] += values[:, :_N_ADDITIVE]
        higher = values[:, _PK] > frames[pos, _PK]  # on a tie the earlier sample stays the peak
        frames[pos, _PK] = np.where(higher, values[:, _PK], frames[pos, _PK])
        frames[pos, _PK_TS] = np.where(higher, values[:, _PK_TS], frames[pos, _PK_TS])
        return _Timeline(frames, frame_at, r, base, length, new_hi)

    def _decide(self, line: _Timeline) -> FallEvents:
        """Test the frames whose post window was completed by this call: for each resident, the
        ``length - L`` frames from ring position ``L - post_hi`` on (frame ``old_hi - post_hi + 1``)."""
        grid, L = self._grid, self._grid.ring
        owner, k = ragged_arange(line.length - L)
        pos = line.base[owner] + L - grid.post_hi + k
        candidate = line.frames[pos, _PK] >= self.params.impact_g
        return self._test_impacts(line, pos[candidate], line.resident[owner[candidate]])

    def _test_impacts(self, line: _Timeline, pos: IntArray, res: IntArray) -> FallEvents:
        """Apply the four conditions to candidate frames at positions ``pos`` ``(c,)`` of residents
        ``res`` ``(c,)``. Windows are gathered per candidate (they are few) and summed."""
        p, grid, frames = self.params, self._grid, line.frames
        peak = frames[pos, _PK]
        around = frames[pos[:, None] + np.arange(-grid.merge, grid.merge + 1), _PK]
        largest = (peak > around[:, : grid.merge].max(axis=1, initial=0.0)) & (
            peak >= around[:, grid.merge + 1 :].max(axis=1, initial=0.0)
        )
        pos, res, peak = pos[largest], res[largest], peak[largest]
        pre = frames[pos[:, None] + np.arange(-grid.pre_lo, -grid.pre_hi), :_N_ADDITIVE].sum(axis=1)
        post = frames[pos[:, None] + np.arange(grid.post_lo, grid.post_hi), :_N_ADDITIVE].sum(axis=1)
        covered = (pre[:, _COVER] >= p.min_coverage * (grid.pre_lo - grid.pre_hi) * p.frame_s) & (
            post[:, _COVER] >= p.min_coverage * (grid.post_hi - grid.post_lo) * p.frame_s
        )
        g_pre = pre[:, _SX : _SZ + 1] / np.maximum(pre[:, _N], 1.0)[:, None]
        n_post = np.maximum(post[:, _N], 1.0)
        g_post = post[:, _SX : _SZ + 1] / n_post[:, None]
        norms = np.linalg.norm(g_pre, axis=1) * np.linalg.norm(g_post, axis=1)
        cos = np.einsum("ij,ij->i", g_pre, g_post) / np.where(norms > 0, norms, 1.0)
        tilt = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        mean_mag = post[:, _SM] / n_post
        sd = np.sqrt(np.maximum(post[:, _SM2] / n_post - mean_mag * mean_mag, 0.0))
        fall = covered & (norms > 0) & (tilt >= p.min_tilt_deg) & (sd <= p.still_sd_g)
        return FallEvents(
            resident=res[fall],
            impact_ts=frames[pos[fall], _PK_TS],
            detected_ts=(line.frame_no[pos[fall]] + grid.post_hi) * p.frame_s,
            peak_g=peak[fall],
            tilt_deg=tilt[fall],
        )

    def _store(self, line: _Timeline) -> None:
        """Write the newest ``L`` frames of each resident's timeline back to the ring."""
        L = self._grid.ring
        last = line.base + line.length - L
        pos = last[:, None] + np.arange(L)
        slots = (line.resident[:, None], line.frame_no[pos] % L)
        self._sums[slots] = line.frames[pos, :_N_SUMS]
        self._detail[slots] = line.frames[pos, _N_SUMS:]
        self._hi[line.resident] = line.new_hi


def _detail(frames: _Frames, picked: IntArray, slow: BoolArray, s_ts: FloatArray, mag: FloatArray) -> FloatArray:
    """The |a| sums, the peak |a| and its time ``(k, 4)`` of frames ``picked`` ``(k,)``, whose samples are those
    of ``slow`` ``(S,)``; ``s_ts`` and ``mag`` ``(S,)``. On a tie the earlier sample is the peak."""
    sample = slow.nonzero()[0]
    seg = np.searchsorted(picked, frames.segment[sample])  # (s,) position of each sample's frame in `picked`
    k, m = picked.shape[0], mag[sample]
    detail = np.zeros((k, _NF - _N_SUMS))
    detail[:, _SM - _N_SUMS] = np.bincount(seg, weights=m, minlength=k)
    detail[:, _SM2 - _N_SUMS] = np.bincount(seg, weights=m * m, minlength=k)
    peak = detail[:, _PK - _N_SUMS]
    np.maximum.at(peak, seg, m)  # |a| >= 0
    at_peak = (m == peak[seg]).nonzero()[0]
    first = at_peak[firsts(seg[at_peak])]
    detail[seg[first], _PK_TS - _N_SUMS] = s_ts[sample[first]]
    return detail


def _order_by(res: IntArray, start: FloatArray) -> IntArray:
    """``np.lexsort((start, res))``, without the sort when the blocks already come in that order (the engine's do)."""
    if not (res[1:] > res[:-1]).all():
        unordered = (res[1:] < res[:-1]) | ((res[1:] == res[:-1]) & (start[1:] < start[:-1]))
        if unordered.any():
            return np.lexsort((start, res))
    return np.arange(res.shape[0])


def magnitude(axes: FloatArray) -> FloatArray:
    """|a| ``(S,)`` of ``axes`` ``(3, S)``, as x*x + y*y + z*z (the reference's formula)."""
    x, y, z = axes
    mag: FloatArray = x * x
    mag += y * y
    mag += z * z
    np.sqrt(mag, out=mag)
    return mag


def _rows(frames: FloatArray) -> npt.NDArray[np.void]:
    """``frames`` ``(n, f)`` C-contiguous as ``(n,)`` opaque rows: a row scatter is then one flat copy per row."""
    return frames.view(np.dtype((np.void, frames.shape[1] * frames.itemsize))).reshape(-1)
