"""Sensor artefacts in wearable vitals.

- Motion artefact: an optical (PPG) sensor on a moving arm locks onto the step rhythm and misreads oxygen. While
  walking, a reading is corrupted with probability ``MOTION_ARTEFACT_P``: most often plausibly (HR near the cadence,
  SpO2 a few points low: a single reading that a rule with persistence must not alert on), sometimes as an error
  code outside the plausible range (which ingest stores flagged as an artefact).
- Artefact bursts (a scenario sets ``Tick.artefact``): every reading is an error code.

Error codes are the values devices use for "no reading" (0, 127, 255, 511), each metric taking those outside its
plausible range in carewatch.catalog, so ingest flags every one.
"""

from __future__ import annotations

import numpy as np

from carewatch.catalog import METRIC_BY_NAME
from simulators.physiology import READINGS
from simulators.state import BoolArray, FloatArray, IntArray

MOTION_ARTEFACT_P = 0.02  # per reading taken while walking
ERROR_CODE_SHARE = 0.25  # of motion artefacts, reported as error codes rather than plausible misreadings
SPO2_MISREAD = (4.0, 10.0)  # points below the true value
CADENCE_JITTER_BPM = 3.0
DEVICE_ERROR_CODES = (0.0, 127.0, 255.0, 511.0)
CORRUPTIBLE = ("hr", "spo2", "rr", "sbp", "dbp", "temp")  # steps come from the accelerometer, not the optics
HR, SPO2 = READINGS.index("hr"), READINGS.index("spo2")


def error_codes(metric: str) -> tuple[float, ...]:
    """The device error codes that fall outside ``metric``'s plausible range."""
    m = METRIC_BY_NAME[metric]
    return tuple(c for c in DEVICE_ERROR_CODES if not m.low <= c <= m.high)


ERROR_CODES = {m: np.array(error_codes(m)) for m in CORRUPTIBLE}


def garble(values: FloatArray, rows: IntArray, rng: np.random.Generator) -> None:
    """Replace every corruptible reading of ``rows`` of ``values`` ``(m, len(READINGS))`` by error codes, in place."""
    if not rows.size:
        return
    for metric in CORRUPTIBLE:
        codes = ERROR_CODES[metric]
        values[rows, READINGS.index(metric)] = codes[rng.integers(0, codes.shape[0], rows.shape[0])]


def motion_artefacts(values: FloatArray, walking: BoolArray, cadence_hz: FloatArray,
                     rng: np.random.Generator) -> IntArray:  # fmt: skip
    """Corrupt some readings of walking residents, in place. ``values`` ``(m, len(READINGS))``, ``walking`` and
    ``cadence_hz`` ``(m,)``. Returns the rows corrupted."""
    m = values.shape[0]
    hit = np.flatnonzero(walking & (rng.random(m) < MOTION_ARTEFACT_P))
    as_code = rng.random(hit.shape[0]) < ERROR_CODE_SHARE
    codes, plausible = hit[as_code], hit[~as_code]
    values[plausible, HR] = np.round(cadence_hz[plausible] * 60.0 + rng.normal(0, CADENCE_JITTER_BPM, plausible.size))
    values[plausible, SPO2] = np.round(values[plausible, SPO2] - rng.uniform(*SPO2_MISREAD, plausible.size))
    values[codes, HR] = ERROR_CODES["hr"][rng.integers(0, ERROR_CODES["hr"].shape[0], codes.size)]
    values[codes, SPO2] = ERROR_CODES["spo2"][rng.integers(0, ERROR_CODES["spo2"].shape[0], codes.size)]
    return hit
