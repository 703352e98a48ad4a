"""Our numpy-built binary COPY stream for accelerometer rows is byte for byte what psycopg itself would send."""

from __future__ import annotations

import numpy as np
import pytest
from psycopg._copy_base import _binary_signature, _binary_trailer, format_row_binary
from psycopg.adapt import Transformer
from psycopg.postgres import types
from psycopg.pq import Format

from carewatch.model import AccelRow
from carewatch.storage.copy_binary import accel_copy_data

STAGE_ACCEL = ["float8", "text", "text", "text", "int8", "float4", "float4[]", "float4[]", "float4[]"]


def psycopg_stream(rows: list[AccelRow]) -> bytes:
    """What ``copy.write_row`` would send with ``set_types(STAGE_ACCEL)``."""
    transformer = Transformer()
    oids = [types[t[:-2]].array_oid if t.endswith("[]") else types[t].oid for t in STAGE_ACCEL]
    transformer.set_dumper_types(oids, Format.BINARY)
    out = bytearray(_binary_signature)
    for row in rows:
        format_row_binary((*row[:6], *(axis.tolist() for axis in row.xyz.T)), transformer, out)
    return bytes(out + _binary_trailer)


@pytest.mark.parametrize("samples", [1, 25, 50, 200])
def test_the_stream_is_what_psycopg_would_send(samples: int) -> None:
    rng = np.random.default_rng(samples)
    rows = [
        AccelRow(1_764_412_800.0 + i / 3, "site-ä", f"w{i}", None if i % 3 == 0 else f"r{i}", i * 7919, 25.0 + i,
                 rng.normal(0, 2, (samples, 3)).astype(np.float32))
        for i in range(12)
    ]  # fmt: skip
    rows.append(AccelRow(0.5, "s", "d", "r", 2**40, 50.0, np.array([[-0.0, 8.0, -8.0]] * samples, np.float32)))
    assert accel_copy_data(rows) == psycopg_stream(rows)


def test_no_rows_is_an_empty_stream() -> None:
    assert accel_copy_data([]) == _binary_signature + _binary_trailer
