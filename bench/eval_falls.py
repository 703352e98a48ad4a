"""Evaluate fall detection on SisFall trials, replayed as live data through the alert engine.

Usage: ``python -m bench.eval_falls PATH [--rates 200 50 25]``, PATH holding ``MANIFEST.csv`` (for
example ``../shared/data/sisfall-dev``).

Every trial is one resident with a wearable. Trials are cut into 1-second blocks (``rate_hz`` samples,
one ``AccelRow`` as ingest makes from one MQTT ``motion`` message) and streamed together: step ``k``
commits block ``k`` of every trial that long as one ``Batch``, which goes through
``AlertEngine.process`` exactly as a committed batch does live (arrays, sensor-off filter, the
accelerometer detector of alerts.falls inside alerts.signals, the ``fall`` rule with every other rule
of ``default_rules()``). The files are used as they are, nothing appended: an impact too close to the
end of its recording cannot be confirmed and counts as missed. A trial is "fall detected" if the
engine raises at least one ``fall`` alert for it.

Groups: falls (label ``fall``), elderly ADLs (age group ``elderly``) and hard ADLs (young adults' D11
collapse into a chair, D13 lie down quickly, D18 stumble, D19 gentle jump). Sensitivity and
specificities come with Wilson 95 % intervals. Latency runs from the impact sample to the alert's
time (the end of the stillness window, data time); "as emitted" runs to the end of the 1-second block
whose batch produced the alert, which is what a live system sees. A radio link loses a few messages: the falls
are replayed twice more, each time losing the one block that holds a point of the posture window before the
impact or of the stillness window after it (``LOST_AT_S``), and the sensitivity is printed again; then every
trial once more with one message in ten lost at random.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from alerts.engine import AlertEngine
from alerts.falls import FallParams
from alerts.rules import default_rules
from carewatch.model import AccelRow, Batch, Device, DeviceKind, Resident, Site, SiteKind
from simulators.sisfall import ManifestRow, iter_manifest, load_trial, resample

START_TS = 1_764_412_800.0  # an arbitrary epoch (2025-11-29 UTC): the detector's frame grid is epoch-aligned
BLOCK_S = 1.0  # one MQTT motion message per second
HARD_ADL_CODES = frozenset({"D11", "D13", "D18", "D19"})
# Sensitivity again with one message lost: the one holding the middle of the posture window before the impact, or
# the second half of the stillness window after it (FallParams' default windows).
LOST_AT_S = (-1.75, 2.0)
# And every trial with this share of its messages lost at random (a poor radio link; the simulators lose 0.2 %).
LOST_SHARE, LOST_SEED = 0.1, 1
Z_95 = 1.959963984540054  # two-sided 95 % normal quantile, for the Wilson interval


@dataclass(frozen=True, slots=True)
class Replay:
    """Outcome of streaming ``n`` trials: ``detected`` ``(n,)`` bool, and per detected trial ``(n,)`` float
    (NaN where none) the first event's impact time and its latency to ``detected_ts`` and to the end of the
    emitting block."""

    detected: npt.NDArray[np.bool_]
    impact_ts: npt.NDArray[np.float64]
    latency_s: npt.NDArray[np.float64]
    emitted_latency_s: npt.NDArray[np.float64]


def wilson(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes out of ``n`` (Wilson 1927); NaNs when ``n == 0``."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def engine_for(n: int) -> AlertEngine:
    """An engine with every rule and ``n`` residents, one per trial, each wearing a wearable."""
    engine = AlertEngine(default_rules())
    engine.population.refresh_offsets(START_TS)
    engine.add_residents(
        [Resident(f"trial{i}", "sisfall", f"Trial {i}") for i in range(n)],
        [Site("sisfall", "SisFall", SiteKind.CARE_INSTITUTION)],
        [Device(f"w{i}", "sisfall", DeviceKind.WEARABLE, f"trial{i}") for i in range(n)],
    )
    return engine


def replay(
    streams: Sequence[npt.NDArray[np.float32]],
    rate_hz: float,
    params: FallParams,
    lost: npt.NDArray[np.bool_] | None = None,
) -> Replay:
    """Stream all ``streams`` (each ``(n_i, 3)`` g at ``rate_hz``) through the engine in 1-second blocks; ``lost``
    ``(n, blocks)``: True for a trial's block that never arrives, as a message lost on the radio link."""
    if params != FallParams():
        raise ValueError("the engine's detector uses the default FallParams")
    n = len(streams)
    engine = engine_for(n)
    per_block = max(1, round(rate_hz * BLOCK_S))
    n_blocks = np.array([math.ceil(s.shape[0] / per_block) for s in streams])
    lost = np.zeros((n, int(n_blocks.max(initial=0))), bool) if lost is None else lost
    first_impact = np.full(n, np.nan)
    first_detected = np.full(n, np.nan)
    emitted_at = np.full(n, np.nan)
    for step in range(int(n_blocks.max(initial=0))):
        who = np.flatnonzero((n_blocks > step) & ~lost[:, step]).tolist()
        start = START_TS + step * per_block / rate_hz
        blocks = [
            AccelRow(
                start,
                "sisfall",
                f"w{i}",
                f"trial{i}",
                step,
                rate_hz,
                streams[i][step * per_block : (step + 1) * per_block],
            )
            for i in who
        ]  # building the input (one row per trial and second), not the path under test
        drafts, _ = engine.process(Batch(accel=blocks))
        for draft in drafts:  # alerts, not samples
            i = int(draft.resident_id.removeprefix("trial"))
            if draft.rule != "fall" or not np.isnan(first_impact[i]):
                continue
            first_impact[i] = draft.evidence["facts"]["impact_ts"]
            first_detected[i] = draft.opened_at
            emitted_at[i] = start + streams[i][step * per_block : (step + 1) * per_block].shape[0] / rate_hz
    detected = ~np.isnan(first_impact)
    return Replay(detected, first_impact, first_detected - first_impact, emitted_at - first_impact)


def _line(name: str, hits: npt.NDArray[np.bool_], count_positive: bool) -> str:
    k = int(hits.sum()) if count_positive else int((~hits).sum())
    n = int(hits.shape[0])
    lo, hi = wilson(k, n)
    value = k / n if n else math.nan
    return f"  {name:<28} {value:6.3f}  [{lo:.3f}, {hi:.3f}]  ({k}/{n})"


def evaluate(root: Path, rates: Sequence[float], params: FallParams) -> None:
    """Load every trial of ``root/MANIFEST.csv`` and print the figures for each rate."""
    rows: list[ManifestRow] = list(iter_manifest(root))
    raw = [load_trial(r.path) for r in rows]
    is_fall = np.array([r.label == "fall" for r in rows])
    elderly_adl = np.array([r.label == "adl" and r.age_group == "elderly" for r in rows])
    hard_adl = np.array(
        [r.label == "adl" and r.age_group == "young_adult" and r.activity_code in HARD_ADL_CODES for r in rows]
    )
    print(f"SisFall trials: {len(rows)} from {root}; {params}")
    longest = max(math.ceil(xyz.shape[0] / hz / BLOCK_S) for hz, xyz in raw)
    lost_at_random = np.random.default_rng(LOST_SEED).random((len(rows), longest)) < LOST_SHARE  # same at every rate
    for rate in rates:
        streams = [xyz if rate == hz else resample(xyz, hz, rate) for hz, xyz in raw]
        out = replay(streams, rate, params)
        fall_latency = out.latency_s[is_fall & out.detected]
        emitted = out.emitted_latency_s[is_fall & out.detected]
        print(f"\n{rate:g} Hz" + ("" if rate == raw[0][0] else f" (resampled from {raw[0][0]:g} Hz)"))
        print("  " + f"{'':<28} {'value':>6}  {'Wilson 95 %':<16}  (k/n)")
        print(_line("sensitivity (falls)", out.detected[is_fall], count_positive=True))
        print(_line("specificity (elderly ADLs)", out.detected[elderly_adl], count_positive=False))
        print(_line("specificity (hard ADLs)", out.detected[hard_adl], count_positive=False))
        blocks = np.arange(lost_at_random.shape[1])
        for offset_s in LOST_AT_S:  # the same falls again, the message holding impact + offset never arriving
            lost = blocks == np.floor((out.impact_ts - START_TS + offset_s) / BLOCK_S)[:, None]  # NaN: none
            hits = replay(streams, rate, params, lost).detected & out.detected
            print(_line(f"  message at {offset_s:+g} s lost", hits[is_fall], count_positive=True))
        lossy = replay(streams, rate, params, lost_at_random).detected
        print(f"  {LOST_SHARE:.0%} of messages lost at random:")
        print(_line("  sensitivity (falls)", lossy[is_fall], count_positive=True))
        print(_line("  specificity (elderly ADLs)", lossy[elderly_adl], count_positive=False))
        print(_line("  specificity (hard ADLs)", lossy[hard_adl], count_positive=False))
        if fall_latency.size:
            print(
                f"  latency impact -> event      median {np.median(fall_latency):.2f} s "
                f"(range {fall_latency.min():.2f}-{fall_latency.max():.2f}); "
                f"as emitted with 1-s blocks: median {np.median(emitted):.2f} s"
            )
        missed = [rows[i].path.name for i in np.flatnonzero(is_fall & ~out.detected)]
        false = [rows[i].path.name for i in np.flatnonzero(~is_fall & out.detected)]
        print(f"  missed falls: {', '.join(missed) or 'none'}")
        print(f"  ADLs flagged: {', '.join(false) or 'none'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.eval_falls", description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="folder with MANIFEST.csv and the SisFall trial files")
    parser.add_argument("--rates", type=float, nargs="+", default=[200.0, 50.0, 25.0], help="rates in Hz")
    args = parser.parse_args(argv)
    if not (args.path / "MANIFEST.csv").is_file():
        print(f"error: no SisFall data at {args.path} (expected {args.path / 'MANIFEST.csv'})", file=sys.stderr)
        return 2
    evaluate(args.path, args.rates, FallParams())
    return 0


if __name__ == "__main__":
    sys.exit(main())
