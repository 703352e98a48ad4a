"""PostgreSQL's binary COPY format for accelerometer rows, built with numpy.

psycopg's generic row formatting turns every sample into a Python float and dumps it on its own: about 31 us per
25-sample block on the development machine, against about 7 us here (tests/storage/test_copy_binary.py checks the
bytes are the same as psycopg's; docs/performance.md has the figures). The layout is the stage_accel table's
(carewatch/storage/timescale.py): ts float8, site_id, device_id, resident_id text, seq int8, rate_hz float4, and
x, y, z float4[].
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from carewatch.model import AccelRow

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # header: signature, flags, extension length
TRAILER = struct.pack(">h", -1)
FLOAT4_OID = 700
ACCEL_FIELDS = 9
NULL = struct.pack(">i", -1)
# One array element: its length (always 4) then the big-endian float4.
ELEMENT = np.dtype([("length", ">i4"), ("value", ">f4")])
ROW_START = struct.Struct(">hid")  # field count, then ts as (length 8, float8)
SEQ_RATE = struct.Struct(">iqif")  # seq as (length 8, int8), rate_hz as (length 4, float4)
ARRAY_HEADER = struct.Struct(">iiiiii")  # field length, dimensions 1, no nulls, element type, size, lower bound 1


def _text(value: str) -> bytes:
    encoded = value.encode()
    return struct.pack(">i", len(encoded)) + encoded


def accel_copy_data(rows: Sequence[AccelRow]) -> bytes:
    """The whole COPY ... FROM STDIN (FORMAT BINARY) stream for ``rows``: signature, rows, trailer."""
    parts = [SIGNATURE]
    for row in rows:
        n = row.xyz.shape[0]
        axes = np.empty((3, n), ELEMENT)
        axes["length"] = 4
        axes["value"] = row.xyz.T
        raw = axes.tobytes()
        header = ARRAY_HEADER.pack(20 + 8 * n, 1, 0, FLOAT4_OID, n, 1)
        step = 8 * n
        parts += (
            ROW_START.pack(ACCEL_FIELDS, 8, row.ts), _text(row.site_id), _text(row.device_id),
            NULL if row.resident_id is None else _text(row.resident_id), SEQ_RATE.pack(8, row.seq, 4, row.rate_hz),
            header, raw[:step], header, raw[step : 2 * step], header, raw[2 * step :],
        )  # fmt: skip
    parts.append(TRAILER)
    return b"".join(parts)
