"""Tests of simulators.sisfall on small files written here, and on the SisFall dev data if present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from simulators.sisfall import ManifestRow, iter_manifest, load_trial, resample

SISFALL = Path(os.environ.get("CAREWATCH_SISFALL", Path(__file__).resolve().parents[3] / "shared/data/sisfall-dev"))

TRIAL_TEXT = (
    "  11,-236,  87,  81,  29, -14,  32,-966, 384;\r\n"
    " -256, 512,   0,  81,  30, -13,  32,-972, 385;\r\n"
    "\r\n"
    "   0,   0,-256,  80,  31, -12,  31,-968, 386;\r\n"
    "   \r\n"  # SisFall files may end in a whitespace-only line
)


def test_load_trial_reads_adxl345_columns_in_g(tmp_path: Path) -> None:
    path = tmp_path / "F01_SA01_R01.txt"
    path.write_bytes(TRIAL_TEXT.encode("ascii"))
    rate, xyz = load_trial(path)
    assert rate == 200.0
    assert xyz.dtype == np.float32 and xyz.shape == (3, 3)
    np.testing.assert_allclose(xyz, np.array([[11, -236, 87], [-256, 512, 0], [0, 0, -256]]) / 256)


def test_load_trial_rejects_a_malformed_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("1,2,3,4,5,6,7,8,9;\n1,2;\n", encoding="ascii")
    with pytest.raises(ValueError):
        load_trial(path)


def test_iter_manifest_yields_typed_rows(tmp_path: Path) -> None:
    (tmp_path / "MANIFEST.csv").write_text(
        "path,subject,age_group,activity_code,label,trial,n_samples,duration_s\n"
        "SA09/F01_SA09_R01.txt,SA09,young_adult,F01,fall,1,3000,15.0\n"
        "SE01/D05_SE01_R02.txt,SE01,elderly,D05,adl,2,5000,25.0\n",
        encoding="utf-8",
    )
    rows = list(iter_manifest(tmp_path))
    assert rows[0] == ManifestRow(
        tmp_path / "SA09/F01_SA09_R01.txt", "SA09", "young_adult", "F01", "fall", 1, 3000, 15.0
    )
    assert rows[1].age_group == "elderly" and rows[1].trial == 2
    with pytest.raises(AttributeError):
        rows[0].label = "adl"  # type: ignore[misc]


def test_resample_keeps_the_time_span_and_a_constant_signal() -> None:
    xyz = np.tile(np.array([0.1, -0.98, 0.2], dtype=np.float32), (2400, 1))
    out = resample(xyz, 200.0, 50.0)
    assert out.shape == (600, 3) and out.dtype == np.float32  # 2399 / 200 s at 50 Hz: samples 0..599
    np.testing.assert_allclose(out, xyz[:600], atol=1e-6)
    assert resample(xyz, 200.0, 25.0).shape == (300, 3)
    assert resample(xyz, 200.0, 200.0).shape == xyz.shape


def test_resample_low_pass_removes_what_the_new_rate_cannot_carry() -> None:
    t = np.arange(2000) / 200.0
    slow = np.sin(2 * np.pi * 1.0 * t)  # 1 Hz: kept at 25 Hz
    fast = np.sin(2 * np.pi * 50.0 * t)  # 50 Hz: would alias at 25 Hz, the box-car removes it
    xyz = np.column_stack([slow, fast, np.zeros_like(t)]).astype(np.float32)
    out = resample(xyz, 200.0, 25.0)
    np.testing.assert_allclose(out[2:-2, 0], slow[::8][2 : out.shape[0] - 2], atol=0.01)
    assert np.abs(out[2:-2, 1]).max() < 1e-3
    # A one-sample spike is spread over the 8 input samples of an output period.
    spike = np.zeros((400, 3), np.float32)
    spike[200, 1] = 8.0
    assert resample(spike, 200.0, 25.0)[:, 1].max() == pytest.approx(1.0, abs=1e-6)


def test_resample_rejects_upsampling_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match="only lowers"):
        resample(np.zeros((10, 3), np.float32), 50.0, 200.0)
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        resample(np.zeros((10, 2), np.float32), 200.0, 50.0)


def test_sisfall_dev_data_loads() -> None:
    if not (SISFALL / "MANIFEST.csv").is_file():
        pytest.skip(f"SisFall dev data not found at {SISFALL} (set CAREWATCH_SISFALL to its folder)")
    rows = list(iter_manifest(SISFALL))
    assert len(rows) == 301
    for row in rows[::50]:
        rate, xyz = load_trial(row.path)
        assert rate == 200.0 and xyz.shape == (row.n_samples, 3)
        # A resting or walking waist device reads about 1 g on average.
        assert 0.8 < float(np.linalg.norm(xyz, axis=1).mean()) < 1.2
