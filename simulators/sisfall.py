"""Read SisFall trials (Sucerquia et al., Sensors 2017, doi:10.3390/s17010198) as waist accelerometer streams.

Pure file reading and numpy: no carewatch imports, so the benchmark and the tests can use it on their own.
Each trial file holds one sample per line, 9 comma-separated integers ending in ``;`` at 200 Hz; we keep the
ADXL345 columns (1-3, 13 bit over +-16 g, so g = raw / 256).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

SISFALL_RATE_HZ = 200.0  # the dataset's fixed sampling rate (Readme.txt, "Sensors")
ADXL345_LSB_PER_G = 256.0  # (2 * 16 g) / 2**13 bits = 1/256 g per bit (Readme.txt conversion formula)
ADXL345_COLUMNS = (0, 1, 2)  # X, Y, Z of the ADXL345; 3-5 are the gyroscope, 6-8 the MMA8451Q

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """One line of ``MANIFEST.csv``: a trial file and what it shows (the label comes from the file name)."""

    path: Path  # absolute path of the trial file
    subject: str  # e.g. "SA09", "SE01"
    age_group: str  # "young_adult" or "elderly"
    activity_code: str  # "D01".."D19" (ADLs) or "F01".."F15" (falls)
    label: str  # "fall" or "adl"
    trial: int  # repetition number (R01 -> 1)
    n_samples: int
    duration_s: float


def load_trial(path: Path | str) -> tuple[float, FloatArray]:
    """Read one trial file.

    Returns ``(rate_hz, xyz_g)``: the sampling rate (always 200 Hz) and the ADXL345 acceleration,
    shape ``(n, 3)`` float32 in g. Blank lines are skipped; a malformed line raises ``ValueError``.
    """
    lines = (line.strip().rstrip(";") for line in Path(path).read_text(encoding="ascii").splitlines())
    text = "\n".join(line for line in lines if line)  # some files end in a blank or whitespace-only line
    raw = np.loadtxt(io.StringIO(text), delimiter=",", usecols=ADXL345_COLUMNS, dtype=np.int32, ndmin=2)
    return SISFALL_RATE_HZ, (raw / ADXL345_LSB_PER_G).astype(np.float32)


def resample(xyz: FloatArray, from_hz: float, to_hz: float) -> FloatArray:
    """Resample a stream ``(n, 3)`` to a lower (or equal) rate, as a slower device would have sampled it.

    Anti-aliasing is a centred moving average over one output period (``round(from_hz / to_hz)``
    input samples: a box-car low-pass with its first zero at ``to_hz``), then linear interpolation at
    the output instants ``k / to_hz``. Accelerometers that average internally at a low output rate
    do much the same, and it is easy to reason about: a peak shorter than one output period is
    flattened, as a lower-rate wearable flattens a sharp impact. Returns ``(m, 3)`` float32 with
    ``m = floor((n - 1) * to_hz / from_hz) + 1`` samples covering the same time span.
    """
    if not (np.isfinite(from_hz) and np.isfinite(to_hz)) or to_hz <= 0 or from_hz <= 0:
        raise ValueError(f"rates must be positive and finite, got from_hz={from_hz}, to_hz={to_hz}")
    if to_hz > from_hz:
        raise ValueError(f"resample only lowers the rate (from_hz={from_hz} < to_hz={to_hz})")
    data = np.asarray(xyz, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != 3:
        raise ValueError(f"xyz must have shape (n, 3), got {data.shape}")
    n = data.shape[0]
    if n == 0 or to_hz == from_hz:
        return data.astype(np.float32)
    width = max(1, round(from_hz / to_hz))
    # Centred moving average; at the edges, average over the samples that exist (no zero padding).
    csum = np.vstack([np.zeros((1, 3)), np.cumsum(data, axis=0)])
    lo = np.clip(np.arange(n) - width // 2, 0, n)
    hi = np.clip(lo + width, 0, n)
    smooth = (csum[hi] - csum[lo]) / (hi - lo)[:, None]
    centre = np.arange(n) + ((width - 1) / 2 - width // 2)  # an even box is centred half a sample early
    m = int(np.floor((n - 1) * to_hz / from_hz + 1e-9)) + 1
    src_pos = np.arange(m) * (from_hz / to_hz)  # output instants, in input sample units
    out = np.column_stack([np.interp(src_pos, centre, smooth[:, k]) for k in range(3)])
    return out.astype(np.float32)


def iter_manifest(root: Path | str) -> Iterator[ManifestRow]:
    """Yield the rows of ``root/MANIFEST.csv`` in file order, with ``path`` made absolute under ``root``."""
    base = Path(root)
    with (base / "MANIFEST.csv").open(newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            yield ManifestRow(
                path=base / rec["path"],
                subject=rec["subject"],
                age_group=rec["age_group"],
                activity_code=rec["activity_code"],
                label=rec["label"],
                trial=int(rec["trial"]),
                n_samples=int(rec["n_samples"]),
                duration_s=float(rec["duration_s"]),
            )
