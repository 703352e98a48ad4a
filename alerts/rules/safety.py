"""Safety rules: SOS, falls, a long lie after a fall, night wandering. Their alerts stay until an operator resolves
them (``clears = False``): a pressed button or a fall is never "over" by itself.

An *incident* is an instant (a press, a fall, a door opened at night). Instants of one resident closer than
``rearm_s`` to the previous one belong to the same incident (a button pressed five times, a fall the wearable reports
and the accelerometer confirms): only the first of a run alerts.
"""

from __future__ import annotations

import math
import time

import numpy as np

from alerts._arrays import FloatArray, IntArray, firsts, grown, lasts, previous, sort_fresh
from alerts.falls import FallParams
from alerts.frame import Frame
from alerts.residents import Population
from alerts.rules.base import Findings, Parameter, Rule, arrays_nbytes, minutes
from alerts.rules.episodes import HOLD, IN, OUT, Episodes
from carewatch.catalog import EVENT_ID
from carewatch.model import Severity

SOS, BED, DOOR = EVENT_ID["sos"], EVENT_ID["bed"], EVENT_ID["door"]
REARM_S = 60.0  # a press repeated, or a fall reported by the device and found by the detector, within a minute
NIGHT_REARM_S = 1800.0  # a door opening or a bed exit within 30 minutes of the last: the same wandering
DAY_S = 86_400.0


def clock(ts: float, offset: float, today: float | None = None) -> str:
    """Local wall-clock time HH:MM of epoch ``ts`` for a UTC ``offset`` in seconds; YYYY-MM-DD HH:MM when it is not
    on the local day of ``today`` (the engine's now, Population.now: an alert found in data that came days late)."""
    if not math.isfinite(ts):
        return "?"
    local = time.gmtime(ts + offset)
    if today is not None and time.gmtime(today + offset)[:3] != local[:3]:
        return time.strftime("%Y-%m-%d %H:%M", local)
    return time.strftime("%H:%M", local)


class Incidents:
    """Debounced instants per resident: ``last`` (R,) time of the newest instant seen, ``rearm`` (R,) seconds after
    which the next instant is a new incident."""

    def __init__(self, rearm_s: float) -> None:
        self.rearm_s = rearm_s
        self.last = np.empty(0)
        self.rearm = np.empty(0)

    def grow(self, capacity: int) -> None:
        self.last = grown(self.last, capacity, -np.inf)
        self.rearm = grown(self.rearm, capacity, self.rearm_s)

    def new(self, resident: IntArray, ts: FloatArray) -> np.ndarray:
        """For instants (n,) sorted by (resident, ts): (n,) True where one starts a new incident."""
        first = firsts(resident)
        fresh: np.ndarray = ts - previous(ts, first, self.last[resident]) > self.rearm[resident]
        last = lasts(resident)
        self.last[resident[last]] = np.maximum(self.last[resident[last]], ts[last])
        return fresh

    def continue_from(self, positions: IntArray, onset: FloatArray) -> None:
        self.last[positions] = np.maximum(self.last[positions], onset)

    def nbytes(self) -> int:
        return arrays_nbytes(self.last, self.rearm)


class IncidentRule(Rule):
    """A rule whose alerts are incidents (`Incidents`): a live alert at start-up continues its incident."""

    def __init__(self, rearm_s: float) -> None:
        super().__init__()
        self.incidents = Incidents(rearm_s)

    def grow(self, population: Population) -> None:
        super().grow(population)
        self.incidents.grow(len(population))

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        self.incidents.continue_from(positions, onset)
        return positions[:0]

    def nbytes(self) -> int:
        return self.incidents.nbytes()


class SosRule(IncidentRule):
    def __init__(self) -> None:
        super().__init__(REARM_S)
        self.name, self.severity, self.clears = "sos", Severity.CRITICAL, False
        self.basis = "the resident's own call for help: always alerted, at once"
        self.evidence_kinds = (SOS,)

    def evaluate(self, frame: Frame) -> Findings:
        e = frame.events
        mine = ((e.kind == SOS) & (e.value >= 0.5)).nonzero()[0]
        if mine.shape[0] == 0:
            return Findings.none()
        res, ts = e.resident[mine], e.ts[mine]
        order = np.lexsort((ts, res))
        res, ts = res[order], ts[order]
        new = self.incidents.new(res, ts)
        return Findings.of(res[new], ts[new], np.ones(int(new.sum())))

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        when = clock(at, self.population.utc_offset[position], self.population.now)
        return "SOS button pressed", f"The SOS button was pressed at {when}: the resident is calling for help."


class FallRule(IncidentRule):
    """Falls from the accelerometer detector (impact, posture change, stillness) and falls the device reports."""

    def __init__(self, params: FallParams | None = None) -> None:
        super().__init__(REARM_S)
        self.name, self.severity, self.clears = "fall", Severity.CRITICAL, False
        self.params = params or FallParams()  # those of alerts.signals' detector, for the explanation
        self.basis = (
            "accelerometer: impact >= 2.5 g, trunk turned >= 45 deg, then still (|a| SD <= 0.15 g) (Bourke et al. "
            "2007; Kangas et al. 2008; checked on SisFall, Sucerquia et al. 2017); or a fall the wearable reports"
        )
        self.evidence_kinds = (EVENT_ID["fall"],)
        self.detail_names = ("impact_ts", "peak_g", "tilt_deg", "reported")

    def evaluate(self, frame: Frame) -> Findings:
        f = frame.falls
        if f.resident.shape[0] == 0:
            return Findings.none()
        order = np.lexsort((f.reported, f.ts, f.resident))
        res, ts = f.resident[order], f.ts[order]
        new = self.incidents.new(res, ts)
        pick = order[new]
        detail = np.column_stack([f.impact_ts[pick], f.peak_g[pick], f.tilt_deg[pick], f.reported[pick]])
        return Findings.of(f.resident[pick], f.ts[pick], f.peak_g[pick], f.impact_ts[pick], detail)

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        offset, today = self.population.utc_offset[position], self.population.now
        impact_ts, peak, tilt, reported = (float(x) for x in detail[:4])
        if reported >= 0.5:
            return "Fall reported", f"The wearable reported a fall at {clock(at, offset, today)}."
        p = self.params
        text = (
            f"Fall at {clock(impact_ts, offset, today)}: an impact of {peak:.1f} g, the body turned {tilt:.0f} deg and "
            f"then stayed still (the detector needs >= {p.impact_g:g} g, >= {p.min_tilt_deg:g} deg and an |a| SD "
            f"<= {p.still_sd_g:g} g for {p.post_window_s[1] - p.post_window_s[0]:g} s)."
        )
        return f"Fall detected ({peak:.1f} g impact)", text


class LongLieRule(Rule):
    """``fall_long_lie``: no sign of recovery ``long_lie_s`` after a fall. A fall enters a held episode; any sign
    of recovery (alerts.signals: movement on the wearable, a room sensor, steps taken since the fall) leaves it; it
    alerts at exactly fall + long_lie_s, found by later data or by the clock."""

    def __init__(self, long_lie_s: float = 600.0) -> None:
        super().__init__()
        self.name, self.severity, self.clears = "fall_long_lie", Severity.CRITICAL, False
        self.basis = (
            "lying on the floor for an hour or more after a fall goes with serious injury and death (Fleming & "
            "Brayne, BMJ 2008;337:a2227); alerting after 10 minutes without recovery leaves time to get help"
        )
        self.evidence_kinds = (EVENT_ID["fall"], EVENT_ID["motion"])
        self.default = long_lie_s
        self.persist = np.empty(0)
        self.episodes = Episodes(held=True)

    def grow(self, population: Population) -> None:
        super().grow(population)
        self.persist = grown(self.persist, len(population), self.default)
        self.episodes.grow(len(population))

    def parameters(self) -> dict[str, Parameter]:
        return {"persist_s": Parameter(self.persist, "s", "time after a fall without recovery before alerting")}

    def evaluate(self, frame: Frame) -> Findings:
        f, a = frame.falls, frame.recovery
        res = np.concatenate([f.resident, a.resident])
        ts = np.concatenate([f.ts, a.ts])
        code = np.concatenate([np.full(f.ts.shape[0], IN, np.int8), np.full(a.ts.shape[0], OUT, np.int8)])
        keep = sort_fresh(res, ts, self.episodes.last_ts, -code)  # a fall and movement at one instant: the fall
        res, ts, code = res[keep], ts[keep], code[keep]
        step = self.episodes.advance(res, ts, code, self.persist[res])
        return Findings.of(res[step.raised], step.raised_at, raised_onset=step.raised_onset)

    def tick(self, now: float) -> Findings:
        keys, at, onset = self.episodes.tick(now, self.persist)
        return Findings.of(keys, at, raised_onset=onset)

    def seed_falls(self, resident: IntArray, ts: FloatArray) -> None:
        """Falls with a live alert (k,), for the restart rebuild: their long-lie clock runs from the fall."""
        order = np.lexsort((ts, resident))
        res, at = resident[order], ts[order]
        keep = np.ones(res.shape[0], bool)
        keep[1:] = res[1:] != res[:-1]  # the first fall of a resident starts the clock
        res, at = res[keep], at[keep]
        fresh = at > self.episodes.last_ts[res]
        res, at = res[fresh], at[fresh]
        self.episodes.advance(res, at, np.full(res.shape[0], IN, np.int8), self.persist[res])

    def mark_active(self, positions: IntArray, onset: FloatArray) -> IntArray:
        self.episodes.force(positions, onset)
        return positions[:0]

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        fell = clock(onset, self.population.utc_offset[position], self.population.now)
        text = (
            f"No sign of recovery for {minutes(at - onset)} after the fall at {fell}: no movement on the wearable, "
            f"no room sensor, no steps (alerts after {minutes(self.persist[position])})."
        )
        return "No recovery after a fall", text

    def nbytes(self) -> int:
        return arrays_nbytes(self.persist) + self.episodes.nbytes()


class NightWanderingRule(IncidentRule):
    """A door opened at night, or out of bed at night and not back within ``bed_empty_s``. Night is local time
    [night_start, night_end) (default 23:00-05:00, set per resident). Bed exits are held episodes (a bed exit
    outside the night changes nothing); door openings and bed episodes that lasted are incidents."""

    def __init__(self) -> None:
        super().__init__(NIGHT_REARM_S)
        self.name, self.severity, self.clears = "night_wandering", Severity.URGENT, False
        self.basis = (
            "door and bed-exit sensors at night are the usual telecare answer to wandering in dementia; the window "
            "23:00-05:00 and 30 minutes out of bed (longer than a night-time toilet visit) are set per resident; no "
            "published default"
        )
        self.evidence_kinds = (DOOR, BED)
        self.night_start = np.empty(0)
        self.night_end = np.empty(0)
        self.bed_empty = np.empty(0)
        self.out_of_bed = Episodes(held=True)

    def grow(self, population: Population) -> None:
        super().grow(population)
        n = len(population)
        self.night_start = grown(self.night_start, n, 23 * 3600.0)
        self.night_end = grown(self.night_end, n, 5 * 3600.0)
        self.bed_empty = grown(self.bed_empty, n, 1800.0)
        self.out_of_bed.grow(n)

    def parameters(self) -> dict[str, Parameter]:
        return {
            "night_start_s": Parameter(self.night_start, "s", "local time the night starts (seconds after midnight)"),
            "night_end_s": Parameter(self.night_end, "s", "local time the night ends"),
            "bed_empty_s": Parameter(self.bed_empty, "s", "out of bed at night this long alerts"),
        }

    def _night(self, resident: IntArray, ts: FloatArray) -> np.ndarray:
        of_day = np.mod(ts + self.population.utc_offset[resident], DAY_S)
        start, end = self.night_start[resident], self.night_end[resident]
        return np.where(start > end, (of_day >= start) | (of_day < end), (of_day >= start) & (of_day < end))

    def evaluate(self, frame: Frame) -> Findings:
        e = frame.events
        beds = (e.kind == BED).nonzero()[0]
        res, ts, value = e.resident[beds], e.ts[beds], e.value[beds]
        keep = sort_fresh(res, ts, self.out_of_bed.last_ts, value)
        res, ts, value = res[keep], ts[keep], value[keep]
        code = np.where(value >= 0.5, OUT, np.where(self._night(res, ts), IN, HOLD)).astype(np.int8)
        step = self.out_of_bed.advance(res, ts, code, self.bed_empty[res])
        doors = ((e.kind == DOOR) & (e.value >= 0.5)).nonzero()[0]
        at_night = self._night(e.resident[doors], e.ts[doors])
        doors = doors[at_night]
        return self._incidents(
            np.concatenate([e.resident[doors], res[step.raised]]),
            np.concatenate([e.ts[doors], step.raised_at]),
            np.concatenate([e.ts[doors], step.raised_onset]),
            np.concatenate([np.zeros(doors.shape[0]), np.ones(step.raised.shape[0])]),
        )

    def tick(self, now: float) -> Findings:
        keys, at, onset = self.out_of_bed.tick(now, self.bed_empty)
        return self._incidents(keys, at, onset, np.ones(keys.shape[0]))

    def _incidents(self, res: IntArray, at: FloatArray, onset: FloatArray, kind: FloatArray) -> Findings:
        order = np.lexsort((kind, at, res))
        res, at, onset, kind = res[order], at[order], onset[order], kind[order]
        new = self.incidents.new(res, at)
        return Findings.of(res[new], at[new], kind[new], onset[new], kind[new])

    def explain(self, position: int, at: float, value: float, onset: float, detail: FloatArray) -> tuple[str, str]:
        offset, today = self.population.utc_offset[position], self.population.now
        night = f"{clock(self.night_start[position], 0)}-{clock(self.night_end[position], 0)}"
        if value < 0.5:
            return (
                "Door opened at night",
                f"A door was opened at {clock(at, offset, today)}, during the night ({night}).",
            )
        text = (
            f"Out of bed since {clock(onset, offset, today)} during the night ({night}) and not back after "
            f"{minutes(at - onset)}."
        )
        return "Out of bed at night", text

    def nbytes(self) -> int:
        arrays = (self.night_start, self.night_end, self.bed_empty)
        return super().nbytes() + arrays_nbytes(*arrays) + self.out_of_bed.nbytes()
