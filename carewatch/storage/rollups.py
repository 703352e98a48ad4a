"""Roll-ups: per-resident, per-metric aggregates of readings (1 minute from the raw readings, 1 hour from the minutes).

A scheduled job (``SqlStore.refresh_rollups``) brings each roll-up up to date incrementally. Its watermark
(``rollup_watermarks.done_until``) says up to where every bucket is aggregated; a pass recomputes whole buckets in
[watermark - late_margin, now - settle), rounded to the bucket width, with ``INSERT ... ON CONFLICT DO UPDATE``. A
bucket recomputed from the same rows gets the same values, so a pass that runs twice, or again after a crash (the
upsert and the watermark commit together), changes nothing; a reading that arrives up to ``late_margin`` late is
picked up by the next pass. A reading older than the minute roll-up's watermark (a gateway flushing a week's backlog)
leaves a mark in ``rollup_dirty``, written with it: per resident and metric, the minutes [lo, hi) its batch touched
(``late_ranges``). The job then recomputes those minutes from the raw readings and their hours from the minutes, a
merged range per transaction (``merge_marks``), and deletes the marks; retention keeps the raw readings of a marked
range until then. This module holds the plans (pure) and the SQL; the store runs them.

Where the server is the full TimescaleDB edition (``SHOW timescaledb.license`` = 'timescale'), continuous
aggregates and compression do this natively: ``rollup_mode`` chooses, ``NATIVE_STATEMENTS`` is that set-up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from carewatch.model import ReadingRow

ROLLUP_SLICE_S = 86_400  # one transaction aggregates at most a day of source rows: a catch-up is many small commits
MAX_SLICES_PER_PASS = 400  # a pass stops after this many (a 400-day backlog); the next pass continues
# Late marks one pass re-aggregates at most, oldest first; the next pass continues. A week's backlog of one gateway
# flushed in 10,000-row batches leaves a few marks per resident and metric per batch: a few thousand in all, merged
# into a range or so per resident and metric (each range at most a week: ingest refuses older readings).
MAX_MARKS_PER_PASS = 20_000


@dataclass(frozen=True, slots=True)
class Rollup:
    name: str  # the table
    width_s: int  # bucket width
    source: str  # "readings" or another roll-up's table
    late_margin_s: int  # recompute this far behind the watermark: readings that arrive this late still count
    settle_s: int  # leave buckets this close to now for the next pass (the writer's batches are still arriving)


MINUTE = Rollup("readings_1m", 60, "readings", late_margin_s=600, settle_s=30)
# The hour roll-up reads the minutes, so it must stay behind them: it runs to the minute roll-up's watermark.
HOUR = Rollup("readings_1h", 3600, "readings_1m", late_margin_s=3600, settle_s=0)
ROLLUPS = (MINUTE, HOUR)


def floor_to(ts: float, width: int) -> float:
    """``ts`` down to a multiple of ``width`` (an infinity as it is)."""
    return ts if math.isinf(ts) else float(math.floor(ts / width) * width)


def ceil_to(ts: float, width: int) -> float:
    """``ts`` up to a multiple of ``width`` (an infinity as it is)."""
    return ts if math.isinf(ts) else float(math.ceil(ts / width) * width)


class LateRange(NamedTuple):
    """Minutes [lo, hi) of one resident's metric to re-aggregate (a mark, or marks merged)."""

    resident_id: str
    metric: str
    lo: float
    hi: float


def late_ranges(readings: Sequence[ReadingRow], done_until: float) -> list[LateRange]:
    """The marks a batch leaves: per resident and metric, the whole minutes from its oldest to its newest reading
    before ``done_until`` (the minute roll-up's watermark). Artefacts and rows without a resident are never
    aggregated and leave none; a batch of current readings leaves none."""
    if not readings or min(r.ts for r in readings) >= done_until:
        return []
    spans: dict[tuple[str, str], tuple[float, float]] = {}
    for r in readings:
        if r.ts < done_until and not r.artefact and r.resident_id is not None:
            lo, hi = spans.get((r.resident_id, r.metric), (r.ts, r.ts))
            spans[(r.resident_id, r.metric)] = (min(lo, r.ts), max(hi, r.ts))
    width = MINUTE.width_s
    return [LateRange(*key, floor_to(lo, width), floor_to(hi, width) + width) for key, (lo, hi) in spans.items()]


def merge_marks(marks: Iterable[tuple[LateRange, int]]) -> list[tuple[LateRange, list[int]]]:
    """Marks (range, id) of the same resident and metric whose ranges overlap or touch as one range, with the ids
    it covers; by resident, metric and start."""
    merged: list[tuple[LateRange, list[int]]] = []
    for mark, id_ in sorted(marks):
        if merged and merged[-1][0][:2] == mark[:2] and mark.lo <= merged[-1][0].hi:
            last, ids = merged[-1]
            ids.append(id_)
            merged[-1] = (last._replace(hi=max(last.hi, mark.hi)), ids)
        else:
            merged.append((mark, [id_]))
    return merged


def plan(rollup: Rollup, watermark: float | None, oldest: float | None, limit: float) -> list[tuple[float, float]]:
    """The [start, end) slices of one pass, each aligned to the roll-up's width, oldest first.

    watermark: the stored done_until (None: never run); oldest: the oldest source row (None: no rows);
    limit: the newest instant the pass may aggregate up to (now - settle, or the source roll-up's watermark).
    """
    end = floor_to(limit, rollup.width_s)
    if watermark is None:
        if oldest is None:
            return []
        start = floor_to(oldest, rollup.width_s)
    else:
        start = floor_to(watermark - rollup.late_margin_s, rollup.width_s)
    slices: list[tuple[float, float]] = []
    slice_s = max(ROLLUP_SLICE_S - ROLLUP_SLICE_S % rollup.width_s, rollup.width_s)
    while start < end and len(slices) < MAX_SLICES_PER_PASS:
        slices.append((start, min(start + slice_s, end)))
        start += slice_s
    return slices


# The bucket start of {col}, epoch-aligned: the same cut as sql.BUCKET_EXPRESSIONS (readings_bucketed).
BUCKETS = {
    "sqlite": "CAST({col} / {w} AS INTEGER) * {w}",
    "timescaledb": "time_bucket(make_interval(secs => {w}), {col}, to_timestamp(0))",
}


def bucket_expression(backend: str, column: str, width_s: int) -> str:
    return BUCKETS[backend].format(col=column, w=int(width_s))


def upsert_statement(rollup: Rollup, backend: str, one_series: bool = False) -> str:
    """INSERT ... SELECT ... ON CONFLICT DO UPDATE for one slice (parameters: slice start, slice end; with
    ``one_series`` then a resident and a metric: only their buckets), ``?`` style."""
    series = " AND resident_id = ? AND metric = ?" if one_series else ""
    if rollup.source == "readings":
        bucket = bucket_expression(backend, "time", rollup.width_s)
        select = (
            f"SELECT {bucket} AS b, resident_id, metric, count(*), min(value), max(value), sum(value),"
            f" sum(value * value) FROM readings WHERE time >= ? AND time < ?{series} AND NOT artefact"
            " AND resident_id IS NOT NULL GROUP BY b, resident_id, metric"
        )
    else:
        bucket = bucket_expression(backend, "bucket", rollup.width_s)
        select = (
            f"SELECT {bucket} AS b, resident_id, metric, sum(samples), min(min), max(max), sum(total),"
            f" sum(total_sq) FROM {rollup.source} WHERE bucket >= ? AND bucket < ?{series}"
            " GROUP BY b, resident_id, metric"
        )
    return (
        f"INSERT INTO {rollup.name} (bucket, resident_id, metric, samples, min, max, total, total_sq) {select}"
        " ON CONFLICT (resident_id, metric, bucket) DO UPDATE SET samples = excluded.samples, min = excluded.min,"
        " max = excluded.max, total = excluded.total, total_sq = excluded.total_sq"
    )


# The full edition ---------------------------------------------------------------------------------------------------
RollupMode = Literal["native", "jobs"]


def rollup_mode(license_: str | None) -> RollupMode:
    """'native' (continuous aggregates, compression) on the full TimescaleDB edition; 'jobs' (ours) on the Apache
    edition (Debian's build) and on SQLite (``None``)."""
    return "native" if license_ == "timescale" else "jobs"


# The continuous aggregate that replaces each roll-up table on the full edition (the same columns).
NATIVE_VIEWS = {MINUTE.name: "readings_1m_native", HOUR.name: "readings_1h_native"}

# Run by ``db init`` on the full edition; its policies then refresh the aggregates and compress old chunks, so our
# roll-up job has nothing to do. Not executable on these machines (Debian's build is the Apache edition, the source
# package has no TSL code): tests/storage/test_rollups.py checks that the server refuses these statements for the
# license, not for their syntax. The rest follows TimescaleDB's documentation.
NATIVE_STATEMENTS = (
    "CREATE MATERIALIZED VIEW IF NOT EXISTS readings_1m_native WITH (timescaledb.continuous) AS"
    " SELECT time_bucket(INTERVAL '1 minute', time) AS bucket, resident_id, metric, count(*)::integer AS samples,"
    " min(value) AS min, max(value) AS max, sum(value) AS total, sum(value * value) AS total_sq FROM readings"
    " WHERE NOT artefact AND resident_id IS NOT NULL GROUP BY 1, resident_id, metric WITH NO DATA",
    "SELECT add_continuous_aggregate_policy('readings_1m_native', start_offset => INTERVAL '1 hour',"
    " end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', if_not_exists => TRUE)",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS readings_1h_native WITH (timescaledb.continuous) AS"
    " SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket, resident_id, metric, sum(samples)::integer AS samples,"
    " min(min) AS min, max(max) AS max, sum(total) AS total, sum(total_sq) AS total_sq FROM readings_1m_native"
    " GROUP BY 1, resident_id, metric WITH NO DATA",
    "SELECT add_continuous_aggregate_policy('readings_1h_native', start_offset => INTERVAL '3 hours',"
    " end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE)",
    # Every column of the dedupe key must be a segment-by or order-by column of the compressed chunks. Only once:
    # the settings cannot change while compressed chunks exist, and db init runs at every start.
    "DO $$ BEGIN IF NOT (SELECT compression_enabled FROM timescaledb_information.hypertables"
    " WHERE hypertable_name = 'readings') THEN ALTER TABLE readings SET (timescaledb.compress,"
    " timescaledb.compress_segmentby = 'resident_id, device_id, metric', timescaledb.compress_orderby = 'time DESC');"
    " END IF; END $$",
    "SELECT add_compression_policy('readings', INTERVAL '1 day', if_not_exists => TRUE)",
)
# Up to where a continuous aggregate is materialised (the analogue of our rollup_watermarks.done_until).
# Seconds since the epoch, or NULL while nothing is materialised (the watermark is then the minimum time).
NATIVE_WATERMARK = (
    "SELECT CASE WHEN isfinite(w) AND w > to_timestamp(0) THEN extract(epoch FROM w)::float8 END FROM (SELECT"
    " _timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(mat_hypertable_id)) AS w"
    " FROM _timescaledb_catalog.continuous_agg WHERE user_view_name = ?) m"
)
