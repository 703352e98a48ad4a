"""What the alert core reads to rebuild its state after a restart (alerts.rebuild): recent data as one batch,
activity statistics, device events, last-seen times and newest readings (ingest's sensor-off state too). The
readings' statistics come from the roll-ups (sql.history)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from carewatch.model import AccelRow, Batch, EventRow, ReadingRow
from carewatch.storage.base import MAX_REPLAY_ROWS, MAX_STATS_ROWS, ActivityBucket
from carewatch.storage.sql._core import BUCKET_EXPRESSIONS, Cursor, SqlCore, bucket_width, placeholders

# Keeps each device's newest time: an older row changes nothing.
DEVICE_SEEN_UPSERT = (
    "ON CONFLICT (device_id) DO UPDATE SET last_seen = excluded.last_seen"
    " WHERE device_seen.last_seen < excluded.last_seen"
)
FILL_DEVICE_SEEN = (
    "INSERT INTO device_seen (device_id, last_seen) SELECT device_id, max(newest) FROM ("
    " SELECT device_id, max(time) AS newest FROM readings GROUP BY device_id"
    " UNION ALL SELECT device_id, max(time) AS newest FROM events GROUP BY device_id"
    " UNION ALL SELECT device_id, max(time) AS newest FROM accel GROUP BY device_id"
    f") seen WHERE true GROUP BY device_id {DEVICE_SEEN_UPSERT}"
)
SENT_FLOAT4 = np.dtype([("length", ">i4"), ("value", ">f4")])  # an element of a float4[] in PostgreSQL's binary format
IDS_PER_QUERY = 500  # ids bound in one IN list: far below SQLite's host-parameter limit (32,766; 999 before 3.32)


class RebuildSql(SqlCore):
    def replay_batch(
        self, start: float, end: float, metrics: Sequence[str] | None = None, events: bool = True, accel: bool = False,
        sites: Sequence[str] | None = None, devices: Sequence[str] | None = None,
    ) -> Batch:  # fmt: skip
        in_sites, site_params = self._and_in("site_id", sites)
        in_devices, device_params = self._and_in("device_id", devices)
        among = in_sites + in_devices
        window = (self._time_in(start), self._time_in(end), *site_params, *device_params)
        ts = self.epoch_of.format("time")
        only = f" AND metric IN ({placeholders(metrics)})" if metrics else ""
        readings = self._run(
            f"SELECT {ts}, site_id, device_id, resident_id, metric, value, seq, artefact FROM readings"
            f" WHERE time >= ? AND time < ?{among}{only} ORDER BY time LIMIT {MAX_REPLAY_ROWS}",
            (*window, *(metrics or ())),
        )
        batch = Batch(
            readings=[
                ReadingRow(float(r[0]), r[1], r[2], r[3], r[4], float(r[5]), int(r[6]), bool(r[7])) for r in readings
            ]
        )
        if events:
            rows = self._run(
                f"SELECT {ts}, site_id, device_id, resident_id, kind, value, seq FROM events"
                f" WHERE time >= ? AND time < ?{among} ORDER BY time LIMIT {MAX_REPLAY_ROWS}",
                window,
            )
            batch.events = [EventRow(float(r[0]), r[1], r[2], r[3], r[4], float(r[5]), int(r[6])) for r in rows]
        if accel:
            axes = ", ".join(self.axis_bytes_of.format(axis) for axis in "xyz")
            rows = self._run(
                f"SELECT {ts}, site_id, device_id, resident_id, seq, rate_hz, {axes} FROM accel"
                f" WHERE time >= ? AND time < ?{among} ORDER BY time LIMIT {MAX_REPLAY_ROWS}",
                window,
            )
            batch.accel = [
                AccelRow(float(r[0]), r[1], r[2], r[3], int(r[4]), float(r[5]), xyz)
                for r, xyz in zip(rows, _blocks(rows, 6, self.axis_header), strict=True)
            ]
        return batch

    def activity_buckets(self, start: float, end: float, kinds: Sequence[str], bucket_s: float) -> list[ActivityBucket]:
        bucket = BUCKET_EXPRESSIONS[self.backend].format(w=bucket_width(bucket_s))
        rows = self._run(
            f"SELECT device_id, resident_id, {bucket} AS bucket, min(time), max(time), count(*) FROM events"
            f" WHERE time >= ? AND time < ? AND kind IN ({placeholders(kinds)}) AND (kind <> 'motion' OR value >= 0.5)"
            f" GROUP BY device_id, resident_id, bucket ORDER BY bucket LIMIT {MAX_STATS_ROWS}",
            (self._time_in(start), self._time_in(end), *kinds),
        )
        return [
            ActivityBucket(r[0], r[1], self._time_out(r[2]), self._time_out(r[3]), self._time_out(r[4]), int(r[5]))
            for r in rows
        ]

    def device_events(self, device_ids: Sequence[str], kind: str, start: float, end: float) -> list[EventRow]:
        rows: list[Any] = []
        for at in range(0, len(device_ids), IDS_PER_QUERY):
            ids = device_ids[at : at + IDS_PER_QUERY]
            rows += self._run(
                "SELECT time, site_id, device_id, resident_id, kind, value, seq FROM events"
                f" WHERE device_id IN ({placeholders(ids)}) AND kind = ? AND time >= ? AND time < ?"
                f" ORDER BY device_id, time LIMIT {MAX_STATS_ROWS - len(rows)}",
                (*ids, kind, self._time_in(start), self._time_in(end)),
            )
            if len(rows) >= MAX_STATS_ROWS:
                break
        return [EventRow(self._time_out(r[0]), r[1], r[2], r[3], r[4], float(r[5]), int(r[6])) for r in rows]

    def device_last_seen(self, since: float) -> dict[str, float]:
        rows = self._run("SELECT device_id, last_seen FROM device_seen WHERE last_seen >= ?", (self._time_in(since),))
        return {r[0]: self._time_out(r[1]) for r in rows}

    def _fill_device_seen(self, cur: Cursor) -> None:
        """A database from before ``device_seen`` (kept by the writers): fill it once from the stored rows, a scan
        of them all at that one start; later starts find it filled and do nothing."""
        cur.execute("SELECT 1 FROM device_seen LIMIT 1")
        if cur.fetchone() is None:
            cur.execute(FILL_DEVICE_SEEN)

    def latest_device_readings(self, metric: str, since: float) -> dict[str, tuple[float, float]]:
        # Per registered device, the newest row by the (device_id, metric, time) index, newest first: the cost follows
        # the devices, not the rows of the look-back (grouping those read SQLite's index whole) nor the history.
        newest = (
            "FROM readings r WHERE r.device_id = d.device_id AND r.metric = ? AND r.time >= ? AND NOT r.artefact"
            " ORDER BY r.time DESC LIMIT 1"
        )
        rows = self._run(
            f"SELECT device_id, ts, value FROM (SELECT d.device_id, (SELECT r.time {newest}) AS ts,"
            f" (SELECT r.value {newest}) AS value FROM devices d) latest WHERE ts IS NOT NULL",
            (metric, self._time_in(since)) * 2,
        )
        return {r[0]: (self._time_out(r[1]), float(r[2])) for r in rows}


def _blocks(rows: Sequence[Sequence[Any]], x: int, header: int) -> list[np.ndarray]:
    """Each row's accelerometer axes (columns ``x``, ``x + 1``, ``x + 2``, read as `axis_bytes_of`: SQLite's float32
    blobs, ``header`` 0; PostgreSQL's float4[] in its binary format) as (n, 3) float32: views of one array, decoded in
    one pass per axis rather than per block."""
    if not rows:
        return []
    if header:
        lengths = [max(len(r[x]) - header, 0) // 8 for r in rows]
        axes = [np.frombuffer(b"".join(r[x + k][header:] for r in rows), SENT_FLOAT4)["value"] for k in range(3)]
    else:
        lengths = [len(r[x]) // 4 for r in rows]
        axes = [np.frombuffer(b"".join(r[x + k] for r in rows), "<f4") for k in range(3)]
    xyz = np.stack(axes, axis=1).astype(np.float32)
    ends = np.cumsum(lengths).tolist()
    return [xyz[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]
