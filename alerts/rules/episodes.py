"""Episodes of a condition, for many keys at once: when a condition starts, when it becomes alertable, when it ends.

Every observation carries a *code*: ``IN`` (the condition is present), ``OUT`` (it is absent) or ``HOLD`` (between
the enter and leave thresholds: the previous state continues; this is the hysteresis). An *episode* runs from an
observation that enters to the first one that leaves. It becomes alertable once it has lasted ``persist`` seconds.
Two kinds of condition:

- **sampled** (vital signs): the condition is known only where a reading says so. Its persistence clock runs while
  readings are *beyond the entry limit* (``IN``) and through a *dip* (readings not beyond: ``HOLD`` or ``OUT``) of at
  most the key's ``tolerance`` since the run's last ``IN`` reading (0 unless the caller gives one: then any reading
  not beyond ends the run); a longer dip ends the run, and so does a gap longer than ``max_gap`` between readings (no
  "sustained" across a device that was off). A short dip is beat-to-beat or measurement noise around a sustained
  value beyond the limit. The episode becomes alertable at the first ``IN`` reading at least ``persist`` after its
  run began at which more than half the run's readings are ``IN`` (the run's median is beyond the limit: values
  that hover in the band with a reading beyond every few dips do not alert; without a tolerance every reading of a
  run is ``IN``). Hysteresis applies only to clearing: an alertable episode stays so through ``HOLD`` readings, short
  dips and gaps, and clears at the first ``OUT`` reading outside a run (so, with a tolerance, at most ``tolerance``
  later than at the first ``OUT``; a raised alert does not flap on one noisy reading).
  This is how patient monitors delay alarms (the delay counts time beyond the limit, e.g. Welch, Biomed Instrum
  Technol 2011;45(s1):46-52; Taenzer et al., Anesthesiology 2010;112:282-7, a 15-s delay beyond the SpO2 limit):
  one reading past the limit followed by ordinary values inside the hysteresis band is not a sustained condition.
- **held** (a bathroom occupied, a smoke detector in alarm): the condition holds between observations, until one
  leaves. It becomes alertable at exactly ``onset + persist``, found either by a later observation or by ``tick(now)``;
  both give the same time, so when a batch arrives relative to the clock changes nothing.

State is four arrays indexed by key (six for sampled conditions: ``beyond_ts``, the run's last ``IN`` reading, and
``lead``, its ``IN`` readings less its others). Observations must come sorted by (key, time), one per key and
instant, and newer than ``last_ts`` of their key (``_arrays.sort_fresh`` does this). Nothing loops per observation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alerts._arrays import (
    BoolArray,
    FloatArray,
    IntArray,
    firsts,
    grown,
    last_index,
    lasts,
    previous,
    run_start,
)

IN, OUT, HOLD = 1, 0, -1


def codes(entered: BoolArray, left: BoolArray) -> np.ndarray:
    """(n,) int8 code from (n,) masks: IN where entered, else OUT where left, else HOLD."""
    return np.where(entered, IN, np.where(left, OUT, HOLD)).astype(np.int8)


@dataclass(frozen=True, slots=True)
class Step:
    """What one batch did. ``raised`` (k,) indexes the observations at which an episode became alertable, at
    ``raised_at`` (k,) with its ``raised_onset`` (k,) and ``raised_inside`` (k,): False where the observation that
    found it alertable is the one that ended it (held conditions); ``cleared`` (m,) indexes the observations that
    ended an alertable episode (at their own time)."""

    raised: IntArray
    raised_at: FloatArray
    raised_onset: FloatArray
    raised_inside: BoolArray
    cleared: IntArray

    @classmethod
    def empty(cls) -> Step:
        none = np.empty(0, np.int64)
        return cls(none, np.empty(0), np.empty(0), np.empty(0, bool), none.copy())


class Episodes:
    """Per-key episode state: ``last_ts`` newest observation, ``inside`` present after it, ``onset`` (NaN when not
    inside) and ``active`` (alertable: the episode has been raised). All (capacity,)."""

    def __init__(self, held: bool) -> None:
        self.held = held
        self.last_ts = np.empty(0)
        self.inside = np.empty(0, bool)
        self.onset = np.empty(0)
        self.active = np.empty(0, bool)
        self.beyond_ts = np.empty(0)  # sampled: the time of the current run's last IN reading (NaN: no run)
        self.lead = np.empty(0, np.int64)  # sampled: the current run's IN readings less its others (0: no run)

    def grow(self, capacity: int) -> None:
        self.last_ts = grown(self.last_ts, capacity, -np.inf)
        self.inside = grown(self.inside, capacity, False)
        self.onset = grown(self.onset, capacity, np.nan)
        self.active = grown(self.active, capacity, False)
        self.beyond_ts = grown(self.beyond_ts, capacity, np.nan)
        self.lead = grown(self.lead, capacity, 0)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.last_ts, self.inside, self.onset, self.active, self.beyond_ts, self.lead))

    def advance(
        self,
        key: IntArray,
        ts: FloatArray,
        code: np.ndarray,
        persist: FloatArray,
        max_gap: FloatArray | None = None,
        tolerance: FloatArray | None = None,
    ) -> Step:
        """Feed observations (n,) sorted by (key, ts): ``code`` IN/OUT/HOLD, ``persist`` and (sampled only)
        ``max_gap`` and ``tolerance`` (the longest dip into the band a run continues through; at most ``max_gap``;
        default 0) per observation (its key's values)."""
        n = key.shape[0]
        if n == 0:
            return Step.empty()
        first = firsts(key)
        if not self.held:
            assert max_gap is not None
            tol = np.zeros(n) if tolerance is None else tolerance
            if first.all():
                return self._advance_sampled_once(key, ts, code, persist, max_gap, tol)
            return self._advance_sampled(key, ts, code, persist, max_gap, tol)
        if first.all():
            return self._advance_once(key, ts, code, persist)
        last = lasts(key)
        stored_inside = self.inside[key]
        code = np.where(first & (code == HOLD), stored_inside.astype(np.int8), code)
        inside = code[last_index(code != HOLD)] == IN  # each key's first code is not HOLD: no leak across keys
        prev_inside = previous(inside, first, stored_inside)
        new_run = inside & ~prev_inside
        carried = inside & first & ~new_run
        stored_onset = self.onset[key]
        onset = np.where(inside, np.where(carried, stored_onset, ts)[last_index(new_run | carried)], np.nan)
        carried_active = first & inside & ~new_run & self.active[key]
        run_anchor = last_index(new_run | (first & inside))
        reached = inside & (ts - onset >= persist)
        active = inside & ((last_index(reached) >= run_anchor) | carried_active[run_anchor])
        step = _held_step(
            ts, persist, inside, onset, reached, prev_inside, previous(onset, first, stored_onset),
            previous(active, first, self.active[key]),
        )  # fmt: skip
        k = key[last]
        self.last_ts[k], self.inside[k] = ts[last], inside[last]
        self.onset[k], self.active[k] = onset[last], active[last]
        return step

    def _advance_once(self, key: IntArray, ts: FloatArray, code: np.ndarray, persist: FloatArray) -> Step:
        """Held `advance` where every key has one observation (the common case: a batch spans less than the interval
        between a device's readings): the same steps with each run one long, so no shifts or runs to find."""
        stored_inside, stored_onset, stored_active = self.inside[key], self.onset[key], self.active[key]
        inside = np.where(code == HOLD, stored_inside, code == IN)
        new_run = inside & ~stored_inside
        onset = np.where(inside, np.where(new_run, ts, stored_onset), np.nan)
        reached = inside & (ts - onset >= persist)
        active = reached | (inside & ~new_run & stored_active)
        step = _held_step(ts, persist, inside, onset, reached, stored_inside, stored_onset, stored_active)
        self.last_ts[key], self.inside[key], self.onset[key], self.active[key] = ts, inside, onset, active
        return step

    def _advance_sampled(self, key: IntArray, ts: FloatArray, code: np.ndarray, persist: FloatArray,
                         max_gap: FloatArray, tolerance: FloatArray) -> Step:  # fmt: skip
        """Sampled conditions: ``inside`` is a run of readings beyond the entry limit with dips no longer than
        ``tolerance``, ``onset`` its start; ``active`` is a latch set where a run reaches ``persist`` at an ``IN``
        reading and reset by an ``OUT`` reading outside a run."""
        first, last = firsts(key), lasts(key)
        start = run_start(first)
        beyond = code == IN
        # A reading not beyond continues the run of the key's latest IN reading (this batch's, else the stored one)
        # while the dip has lasted no longer than the tolerance (<= max_gap, so no gap within it).
        in_at = last_index(beyond)
        since = np.where(in_at >= start, ts[np.maximum(in_at, 0)], self.beyond_ts[key])  # NaN: no run
        counting = beyond | (ts - since <= tolerance)
        prev_counting = previous(counting, first, self.inside[key])
        prev_ts = previous(ts, first, self.last_ts[key])
        restart = beyond & (~prev_counting | (np.isfinite(prev_ts) & (ts - prev_ts > max_gap)))
        carried = counting & first & ~restart
        # Within a key every run begins with a restart or a carried first reading: no leak across keys.
        anchor = last_index(restart | carried)
        onset = np.where(counting, np.where(carried, self.onset[key], ts)[anchor], np.nan)
        vote = np.where(beyond, 1, -1)
        votes = np.cumsum(vote)
        base = np.where(carried, self.lead[key], 0)[anchor] - (votes - vote)[anchor]
        lead = np.where(counting, base + votes, 0)
        reached = beyond & (ts - onset >= persist) & (lead > 0)
        stored_active = self.active[key]
        set_at, reset_at = last_index(reached), last_index((code == OUT) & ~counting)
        decided = np.maximum(set_at, reset_at) >= start
        active = np.where(decided, set_at > reset_at, stored_active)
        prev_active = previous(active, first, stored_active)
        raised = active & ~prev_active
        cleared = ~active & prev_active
        k = key[last]
        self.last_ts[k], self.inside[k] = ts[last], counting[last]
        self.onset[k], self.active[k] = onset[last], active[last]
        self.beyond_ts[k], self.lead[k] = np.where(counting[last], since[last], np.nan), lead[last]
        return Step(
            raised.nonzero()[0], ts[raised], onset[raised], np.ones(int(raised.sum()), bool), cleared.nonzero()[0]
        )

    def _advance_sampled_once(self, key: IntArray, ts: FloatArray, code: np.ndarray, persist: FloatArray,
                              max_gap: FloatArray, tolerance: FloatArray) -> Step:  # fmt: skip
        """`_advance_sampled` where every key has one observation (the common case): each observation's
        predecessor is its key's stored state, so no shifts or runs to find."""
        beyond = code == IN
        prev_counting, prev_ts, stored_active = self.inside[key], self.last_ts[key], self.active[key]
        since = np.where(beyond, ts, self.beyond_ts[key])  # NaN: no run
        counting = beyond | (ts - since <= tolerance)
        restart = beyond & (~prev_counting | (np.isfinite(prev_ts) & (ts - prev_ts > max_gap)))
        onset = np.where(counting, np.where(restart, ts, self.onset[key]), np.nan)
        lead = np.where(counting, np.where(restart, 0, self.lead[key]) + np.where(beyond, 1, -1), 0)
        reached = beyond & (ts - onset >= persist) & (lead > 0)
        active = reached | (stored_active & ((code != OUT) | counting))
        raised = active & ~stored_active
        cleared = ~active & stored_active
        self.last_ts[key], self.inside[key], self.onset[key], self.active[key] = ts, counting, onset, active
        self.beyond_ts[key], self.lead[key] = np.where(counting, since, np.nan), lead
        return Step(
            raised.nonzero()[0], ts[raised], onset[raised], np.ones(int(raised.sum()), bool), cleared.nonzero()[0]
        )

    def tick(self, now: float, persist: FloatArray) -> tuple[IntArray, FloatArray, FloatArray]:
        """Held conditions that have lasted ``persist`` (capacity,) by ``now``: (keys, raised_at, onset), each (k,).
        They become active."""
        due = (self.inside & ~self.active & (now - self.onset >= persist)).nonzero()[0]
        self.active[due] = True
        return due, self.onset[due] + persist[due], self.onset[due]

    def force(self, keys: IntArray, onset: FloatArray) -> BoolArray:
        """Live alerts loaded at start-up for these keys (k,) since ``onset`` (k,). Returns (k,) True where the
        replayed data shows the condition ended after the alert opened (the caller reports those cleared); the
        others count as present and alerted, so a continuing condition is not raised again."""
        if not self.held:  # a run beyond the limit that has not reached its persistence yet also continues
            ended = ~self.inside[keys] & ~self.active[keys] & (self.last_ts[keys] >= onset)
            self.active[keys[~ended]] = True
            return ended
        ended = ~self.inside[keys] & (self.last_ts[keys] >= onset)
        keep, since = keys[~ended], onset[~ended]
        self.onset[keep] = np.where(self.inside[keep], np.fmin(self.onset[keep], since), since)
        self.inside[keep] = True
        self.active[keep] = True
        return ended


class Tally:
    """Sub-conditions (one per device, or per metric) folded into one alert per resident: the resident's alert is
    raised when their count of alertable sub-conditions leaves 0 and cleared when it returns to 0.

    A live alert loaded at start-up whose sub-conditions the replay did not re-establish counts as one *virtual*
    sub-condition until the resident's next observation, which releases it: the alert then clears unless a real
    sub-condition holds by that time, and a condition that continues is not raised again."""

    def __init__(self) -> None:
        self.count = np.empty(0, np.int32)  # (capacity,) alertable sub-conditions per resident
        self.virtual = np.empty(0, bool)  # (capacity,) one of them is a live alert's, awaiting new data

    def grow(self, capacity: int) -> None:
        self.count = grown(self.count, capacity, 0)
        self.virtual = grown(self.virtual, capacity, False)

    def nbytes(self) -> int:
        return int(self.count.nbytes + self.virtual.nbytes)

    @property
    def holds_virtual(self) -> bool:
        """Whether any virtual sub-condition awaits release (only after a start-up with live alerts)."""
        return bool(self.virtual.any())

    def release(self, observed: IntArray, observed_at: FloatArray) -> tuple[IntArray, FloatArray]:
        """Residents (o,) with new data at ``observed_at`` (o,): the virtual sub-conditions this releases, as
        (residents, times) for the caller to apply as -1 changes."""
        releasing = self.virtual[observed]
        gone = observed[releasing]
        self.virtual[gone] = False
        return gone, observed_at[releasing]

    def apply(self, resident: IntArray, at: FloatArray, delta: np.ndarray) -> tuple[IntArray, IntArray]:
        """Changes (c,): +1 (a sub-condition raised) or -1 (cleared) for ``resident`` at ``at``. Returns indices
        into the changes at which a resident's alert is raised and cleared. At one instant raises count first."""
        if resident.shape[0] == 0:
            none = np.empty(0, np.int64)
            return none, none.copy()
        order = np.lexsort((-delta, at, resident))
        r, d = resident[order], delta[order].astype(np.int64)
        first = firsts(r)
        running = np.cumsum(d)
        base = (running - d)[last_index(first)]
        after = self.count[r] + running - base
        before = after - d
        last = lasts(r)
        self.count[r[last]] = np.maximum(after[last], 0)
        return order[(before <= 0) & (after > 0)], order[(before > 0) & (after <= 0)]

    def force(self, residents: IntArray) -> None:
        """Live alerts loaded at start-up for these residents (k,): those with no alertable sub-condition after the
        replay get a virtual one."""
        add = residents[(self.count[residents] <= 0) & ~self.virtual[residents]]
        self.virtual[add] = True
        self.count[add] += 1


def last_per_key(key: IntArray, ts: FloatArray) -> tuple[IntArray, FloatArray]:
    """For observations sorted by key: each key once (u,) with its newest time (u,)."""
    if key.shape[0] == 0:
        return key, ts
    starts = firsts(key).nonzero()[0]
    return key[starts], np.maximum.reduceat(ts, starts)


def _held_step(
    ts: FloatArray,
    persist: FloatArray,
    inside: np.ndarray,
    onset: FloatArray,
    reached: np.ndarray,
    prev_inside: np.ndarray,
    prev_onset: FloatArray,
    prev_active: np.ndarray,
) -> Step:
    """A held condition's alerts from each observation and its predecessor's state: raised where it has lasted
    ``persist`` (also where it ended having lasted that long), at onset + persist; cleared where it ends."""
    leave = ~inside & prev_inside
    reached_leave = leave & (ts - prev_onset >= persist)
    raised = ~prev_active & (reached | reached_leave)
    raised_onset = np.where(inside, onset, prev_onset)[raised]
    cleared = leave & (prev_active | reached_leave)
    return Step(raised.nonzero()[0], raised_onset + persist[raised], raised_onset, inside[raised], cleared.nonzero()[0])
