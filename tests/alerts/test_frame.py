"""alerts.frame: a batch's columns (what ingest hands over, carewatch.columns) give exactly the frame its rows give,
including rows of unknown devices and residents, artefacts and shared sensors."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
from alerts_support import engine, scenario

from alerts.frame import Frame
from carewatch.columns import columnar
from carewatch.model import AccelRow, Batch, Device, DeviceKind, EventRow, ReadingRow

T = 1_764_374_400.0


def assert_same(a: Frame, b: Frame) -> None:
    for part in ("readings", "events", "accel", "status", "seen"):
        x, y = getattr(a, part), getattr(b, part)
        for f in fields(x):
            u, v = getattr(x, f.name), getattr(y, f.name)
            assert u.dtype == v.dtype, (part, f.name)
            np.testing.assert_array_equal(u, v, err_msg=f"{part}.{f.name}")
    assert a.unattributed == b.unattributed


def odd_rows() -> Batch:
    """Rows the scenario lacks: an unknown device, an unknown resident, an artefact, an unnamed personal device."""
    block = np.full((25, 3), 0.5, np.float32)
    return Batch(
        readings=[
            ReadingRow(T, "h0", "nobody-knows", "r0", "hr", 70.0, 0, False),
            ReadingRow(T, "h0", "w-r0", "r-unknown", "hr", 71.0, 0, False),
            ReadingRow(T, "h0", "w-r0", "r0", "hr", 400.0, 0, True),
            ReadingRow(T, "h0", "w-r0", None, "hr", 72.0, 0, False),
            ReadingRow(T, "h0", "nobody-knows", None, "battery", 5.0, 0, False),
        ],
        events=[EventRow(T, "h0", "nobody-knows", None, "smoke", 1.0, 0), EventRow(T, "h9", "x", "r1", "sos", 1, 0)],
        accel=[
            AccelRow(T + 1, "h0", "w-r0", "r0", 0, 25.0, block),
            AccelRow(T, "h0", "w-r1", "r1", 0, 25.0, block + 1),
            AccelRow(T, "h0", "nobody-knows", None, 0, 25.0, block),
            AccelRow(T - 1, "h0", "w-r0", "r0", 0, 25.0, block[:10] - 1),
        ],
    )


def uniform_blocks() -> Batch:
    """Blocks of one length in arrival order (by time, residents mixed), one of an unknown device."""
    xyz = np.random.default_rng(4).normal(0, 1, (6, 25, 3)).astype(np.float32)
    who = ("r2", "r0", "r1", "r0", "r2", "r9")
    return Batch(accel=[AccelRow(T + k / 2, "h", f"w-{r}", r, k, 25.0, xyz[k]) for k, r in enumerate(who)])


def test_columns_give_the_frame_rows_give() -> None:
    e = engine()
    for batch in (scenario(3).batch(), odd_rows(), uniform_blocks(), Batch()):
        assert_same(e.frame(columnar(batch)), e.frame(batch))


def test_a_device_registered_after_its_rows_were_numbered() -> None:
    e = engine()
    batch = Batch(readings=[ReadingRow(T, "h0", "w-late", "r0", "hr", 70.0, 0, False)])
    rows = columnar(batch)  # numbers "w-late" before the engine knows it
    assert_same(e.frame(rows), e.frame(batch))
    e.add_residents([], devices=[Device("w-late", "h0", DeviceKind.WEARABLE, "r0")])
    assert_same(e.frame(rows), e.frame(batch))
    assert e.frame(rows).seen.device.shape == (1,)
