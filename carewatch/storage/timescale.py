"""Production storage: PostgreSQL + TimescaleDB through a psycopg 3 connection pool.

Batches are written with binary COPY into per-connection staging tables, then moved into the hypertables with
``INSERT ... SELECT ... ON CONFLICT DO NOTHING``: COPY alone cannot skip the duplicates that at-least-once delivery
brings (bench/ingest compares the two).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from carewatch.catalog import METRIC_BY_NAME
from carewatch.model import Batch, WriteResult
from carewatch.storage.base import StorageError, TransientStorageError
from carewatch.storage.copy_binary import accel_copy_data
from carewatch.storage.retention import HYPERTABLES, Purged
from carewatch.storage.rollups import NATIVE_STATEMENTS, NATIVE_VIEWS, NATIVE_WATERMARK, Rollup, rollup_mode
from carewatch.storage.sql import DEVICE_SEEN_UPSERT, LATEST_LOOKBACK_S, Cursor, SqlStore

log = logging.getLogger(__name__)

POOL_MAX_SIZE = 8  # the ingest writer, the API's threads and the scheduler's jobs; PostgreSQL's default allows 100
CONNECT_TIMEOUT_S = 5.0  # how long a caller waits for a connection before the database counts as down
# psycopg prepares a statement on its 5th execution; PostgreSQL then builds a generic plan on the 11th, which on a
# hypertable cannot exclude chunks at plan time: one 150-250 ms planning of every chunk (measured, 720 chunks) per
# statement and connection. Custom plans always: chunk exclusion at plan time, a few ms (docs/performance.md).
PLAN_CACHE_MODE = "force_custom_plan"
# A process that exits while a query of its runs (a stop that abandoned a roll-up waiting on a lock) leaves a server
# process that notices the closed connection only when it next writes to it: it keeps waiting, and then holding, its
# locks. PostgreSQL (14 and later) checks the connection this often while a query runs and ends it once closed.
CONNECTION_CHECK_MS = 5_000
SESSION_OPTIONS = f"-c plan_cache_mode={PLAN_CACHE_MODE} -c client_connection_check_interval={CONNECTION_CHECK_MS}"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schema.sql"
# init_schema holds this advisory lock throughout, so processes that start together (scale-out workers, serve and a
# CLI command) set up the schema in turn: side by side, CREATE ... IF NOT EXISTS can fail on PostgreSQL's catalogue
# (a unique violation) and the added columns' check-then-ALTER can run twice. The key is "carewatc" in ASCII.
SCHEMA_LOCK_KEY = 0x6361_7265_7761_7463
SCHEMA_LOCK_TIMEOUT_S = 120  # a starter waits this long for another's set-up (a few seconds) before it fails

STAGING_TABLES = """
CREATE TEMP TABLE IF NOT EXISTS stage_readings (ts float8, site_id text, device_id text, resident_id text,
    metric text, value float8, seq int8, artefact bool) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_events (ts float8, site_id text, device_id text, resident_id text,
    kind text, value float8, seq int8) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_accel (ts float8, site_id text, device_id text, resident_id text,
    seq int8, rate_hz float4, x float4[], y float4[], z float4[]) ON COMMIT DELETE ROWS;
"""
# Each device's newest row of the batch, from the staged rows (still there until the commit).
DEVICE_SEEN_FROM_STAGE = (
    "INSERT INTO device_seen (device_id, last_seen) SELECT device_id, to_timestamp(max(ts)) FROM ("
    " SELECT device_id, ts FROM stage_readings UNION ALL SELECT device_id, ts FROM stage_events"
    " UNION ALL SELECT device_id, ts FROM stage_accel) staged GROUP BY device_id"
    f" {DEVICE_SEEN_UPSERT}"
)
READING_TYPES = ["float8", "text", "text", "text", "text", "float8", "int8", "bool"]
EVENT_TYPES = ["float8", "text", "text", "text", "text", "float8", "int8"]


class TimescaleStore(SqlStore):
    backend = "timescaledb"
    paramstyle_format = True
    columns_query = (
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?"
    )
    key_query = (
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)"
        " WHERE i.indrelid = ?::regclass AND i.indisprimary"
    )
    checks_query = "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = ?::regclass AND contype = 'c'"
    add_column = "ADD COLUMN IF NOT EXISTS"
    time_type = "timestamptz"
    epoch_of = "extract(epoch FROM {})::float8"  # 1.4-1.8x faster than timestamptz for the restart's replay
    axis_bytes_of, axis_header = "array_send({})", 20  # one dimension: 5 int32 (ndim, flags, type, size, lower bound)

    def __init__(self, url: str) -> None:
        self._pool = ConnectionPool(
            url, min_size=1, max_size=POOL_MAX_SIZE, open=False, timeout=CONNECT_TIMEOUT_S,
            check=ConnectionPool.check_connection,
            configure=_create_staging_tables,
            kwargs={"connect_timeout": int(CONNECT_TIMEOUT_S), "options": SESSION_OPTIONS},
        )  # fmt: skip
        self._pool.open(wait=False)
        where = conninfo_to_dict(url)
        self._server = f"{where.get('host') or 'localhost'}:{where.get('port') or 5432}"  # for error messages
        self._native: bool | None = None  # the full edition's roll-ups; asked of the server on first use

    def init_schema(self) -> None:
        self._check_extension()
        with self._schema_lock():
            self._create_schema()
            with self._transaction() as cur:
                self._add_columns(cur)
                self._fill_device_seen(cur)
            if self.native_rollups:
                self._create_native_rollups()
        log.info("roll-ups: %s", "continuous aggregates and compression" if self.native_rollups else "our jobs")

    def _change_key(self, cur: Cursor, table: str, key: tuple[str, ...]) -> None:
        cur.execute("SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", (table,))
        (name,) = cur.fetchone()
        cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}, ADD PRIMARY KEY ({', '.join(key)})")

    def _change_check(self, cur: Cursor, table: str, column: str, values: tuple[str, ...]) -> None:
        """The check has PostgreSQL's name for a column's check, <table>_<column>_check, before and after."""
        listed = ", ".join(f"'{value}'" for value in values)
        name = f"{table}_{column}_check"
        cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}, ADD CONSTRAINT {name} CHECK ({column} IN"
                    f" ({listed}))")  # fmt: skip

    def _check_extension(self) -> None:
        with self._transaction() as cur:
            cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
            if cur.fetchone() is None:
                raise StorageError(
                    "the timescaledb extension is not installed on this PostgreSQL server: install it "
                    "(scripts/install-services does) and add it to shared_preload_libraries"
                )

    @contextmanager
    def _schema_lock(self) -> Iterator[None]:
        """Hold SCHEMA_LOCK_KEY for the block: a transaction-level advisory lock in a transaction of its own, on a
        connection of its own, which ends (and so releases it) when the block does, with or without an error. The
        set-up's statements run on other connections, each in the transaction it needs."""
        with self._transaction() as cur:
            cur.execute(f"SET LOCAL lock_timeout = '{SCHEMA_LOCK_TIMEOUT_S}s'")
            try:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            except psycopg.errors.LockNotAvailable as exc:
                raise StorageError(
                    f"another process has held the schema lock (advisory lock {SCHEMA_LOCK_KEY}) for over "
                    f"{SCHEMA_LOCK_TIMEOUT_S} s: is a `carewatch db init` or start-up stuck?"
                ) from exc
            yield

    def _create_schema(self) -> None:
        try:
            with self._transaction() as cur:
                cur.execute(SCHEMA_PATH.read_text())
        except psycopg.errors.FeatureNotSupported as exc:
            raise StorageError(
                f"TimescaleDB is not loaded: {exc}; set shared_preload_libraries = 'timescaledb'"
            ) from exc

    def _create_native_rollups(self) -> None:
        for statement in NATIVE_STATEMENTS:
            with self._transaction() as cur:
                cur.execute(statement)

    def license(self) -> str:
        """'apache' for the Debian build; 'timescale' where compression and continuous aggregates exist."""
        return str(self._run("SHOW timescaledb.license")[0][0])

    @property
    def native_rollups(self) -> bool:
        """On the full edition continuous aggregates and compression replace our roll-up job (storage.rollups)."""
        if self._native is None:
            self._native = rollup_mode(self.license()) == "native"
        return self._native

    def refresh_rollups(self, now: float) -> dict[str, int]:
        if self.native_rollups:
            return {}  # the continuous aggregates' own policies refresh them
        return super().refresh_rollups(now)

    def rollup_watermark(self, rollup: str) -> float | None:
        if not self.native_rollups:
            return super().rollup_watermark(rollup)
        rows = self._run(NATIVE_WATERMARK, (NATIVE_VIEWS[rollup],))
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def _rollup_table(self, rollup: Rollup) -> str:
        return NATIVE_VIEWS[rollup.name] if self.native_rollups else rollup.name

    def close(self) -> None:
        self._pool.close()

    def latest_readings(self, site_id: str | None = None) -> dict[str, dict[str, tuple[float, float]]]:
        """One index probe per resident and catalogue metric (newest first, LIMIT 1; one LATERAL probe here, where
        the shared query takes two), so the cost follows the residents, not the rows of the last hours."""
        site = " WHERE r.site_id = ?" if site_id is not None else ""
        rows = self._run(
            "SELECT r.resident_id, m.metric, l.time, l.value FROM residents r CROSS JOIN unnest(?::text[]) m(metric)"
            " CROSS JOIN LATERAL (SELECT time, value FROM readings WHERE resident_id = r.resident_id"
            f" AND metric = m.metric AND time >= ? AND NOT artefact ORDER BY time DESC LIMIT 1) l{site}",
            (
                list(METRIC_BY_NAME), self._time_in(time.time() - LATEST_LOOKBACK_S),
                *((site_id,) if site_id is not None else ()),
            ),
        )  # fmt: skip
        return self._latest_of(rows)

    def _purge_older(self, cur: Cursor, table: str, column: str, cutoff: float) -> Purged:
        """drop_chunks for the chunks wholly before the cutoff, then a DELETE of the older rows of the one chunk
        that straddles it (chunk exclusion confines the DELETE to that chunk)."""
        if self.native_rollups and table in NATIVE_VIEWS:  # a continuous aggregate: its chunks, no DELETE
            return Purged(self._drop_chunks(cur, NATIVE_VIEWS[table], cutoff), 0)
        chunks = self._drop_chunks(cur, table, cutoff) if table in HYPERTABLES else 0
        return Purged(chunks, super()._purge_older(cur, table, column, cutoff).rows)

    def _drop_chunks(self, cur: Cursor, relation: str, cutoff: float) -> int:
        cur.execute("SELECT count(*) FROM drop_chunks(%s::regclass, older_than => %s::timestamptz)",
                    (relation, self._time_in(cutoff)))  # fmt: skip
        return int(cur.fetchone()[0])

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        try:
            with self._pool.connection() as conn, conn.cursor() as cur:
                yield cur
        except PoolTimeout as exc:  # the pool says only how long it waited: say where
            raise TransientStorageError(f"could not connect to the database at {self._server} ({exc})") from exc
        except (psycopg.OperationalError, psycopg.errors.AdminShutdown) as exc:
            raise TransientStorageError(str(exc)) from exc

    def _time_in(self, ts: float) -> Any:
        return datetime.fromtimestamp(ts, UTC)

    def _time_out(self, value: Any) -> float:
        return float(value.timestamp())

    def write_batch(self, batch: Batch) -> WriteResult:
        with self._transaction() as cur:
            readings = _copy_then_insert(
                cur, "stage_readings", READING_TYPES, batch.readings,
                "INSERT INTO readings (time, site_id, device_id, resident_id, metric, value, seq, artefact)"
                " SELECT to_timestamp(ts), site_id, device_id, resident_id, metric, value, seq, artefact"
                " FROM stage_readings ON CONFLICT DO NOTHING",
            )  # fmt: skip
            events = _copy_then_insert(
                cur, "stage_events", EVENT_TYPES, batch.events,
                "INSERT INTO events (time, site_id, device_id, resident_id, kind, value, seq)"
                " SELECT to_timestamp(ts), site_id, device_id, resident_id, kind, value, seq"
                " FROM stage_events ON CONFLICT DO NOTHING",
            )  # fmt: skip
            accel = 0
            if batch.accel:
                assert isinstance(cur, psycopg.Cursor)
                with cur.copy("COPY stage_accel FROM STDIN (FORMAT BINARY)") as copy:
                    copy.write(accel_copy_data(batch.accel))
                cur.execute(
                    "INSERT INTO accel (time, site_id, device_id, resident_id, seq, rate_hz, x, y, z)"
                    " SELECT to_timestamp(ts), site_id, device_id, resident_id, seq, rate_hz, x, y, z"
                    " FROM stage_accel ON CONFLICT DO NOTHING"
                )
                accel = int(cur.rowcount)
            self._mark_late(cur, batch.readings)
            cur.execute(DEVICE_SEEN_FROM_STAGE)
            if batch.dead_letters:
                cur.executemany(
                    "INSERT INTO dead_letters (received_at, topic, reason, detail, payload, payload_size)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    [(self._time_in(d.received_at), *d[1:]) for d in batch.dead_letters],
                )
        offered = len(batch.readings) + len(batch.events) + len(batch.accel)
        return WriteResult(readings, events, accel, offered - readings - events - accel, len(batch.dead_letters))


def _create_staging_tables(conn: psycopg.Connection[Any]) -> None:
    conn.execute(STAGING_TABLES)
    conn.commit()


def _copy_then_insert(cur: Cursor, stage: str, types: list[str], rows: list[Any], insert: str) -> int:
    if not rows:
        return 0
    assert isinstance(cur, psycopg.Cursor)
    with cur.copy(f"COPY {stage} FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)
    cur.execute(insert)
    return int(cur.rowcount)
