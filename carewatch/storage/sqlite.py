"""The embedded default: one SQLite file in WAL mode behind the storage contract, so a new user installs nothing."""

from __future__ import annotations

import math
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from carewatch.model import Batch, WriteResult
from carewatch.storage.base import StorageError
from carewatch.storage.sql import DEVICE_SEEN_UPSERT, Cursor, SqlStore

BUSY_TIMEOUT_S = 30.0  # a writer waits this long for another connection's lock before failing
# Switching a new file to WAL can fail at once, busy timeout or not (SqliteStore._use_wal); it is tried again after a
# pause, this many times in all (5 s).
WAL_SWITCH_ATTEMPTS = 100
WAL_SWITCH_PAUSE_S = 0.05


class SqliteStore(SqlStore):
    backend = "sqlite"
    columns_query = "SELECT name FROM pragma_table_info(?)"
    key_query = "SELECT name FROM pragma_table_info(?) WHERE pk > 0"
    checks_query = "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?"  # the whole CREATE TABLE
    time_type = "REAL"

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes in WAL mode
        self._lock = threading.Lock()  # one connection, shared by the ingest writer and the API threads

    def init_schema(self) -> None:
        script = _schema()
        with self._lock:
            self._use_wal()
            try:
                # The script and the columns' check in one transaction under the write lock: other starters wait
                # their turn (busy timeout) instead of preparing statements against a schema that changes under them,
                # which SQLite retries only once.
                self._conn.executescript(f"BEGIN IMMEDIATE;\n{script}")
                self._add_columns(self._conn.cursor())
                self._fill_device_seen(self._conn.cursor())
                self._conn.commit()
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.rollback()
                raise

    def _change_key(self, cur: Cursor, table: str, key: tuple[str, ...]) -> None:
        """SQLite cannot alter a primary key: the table is made again from the schema's definition (_remake)."""
        _remake(cur, table)

    def _change_check(self, cur: Cursor, table: str, column: str, values: tuple[str, ...]) -> None:
        """SQLite cannot alter a check: the table is made again from the schema's definition (_remake)."""
        _remake(cur, table)

    def _use_wal(self) -> None:
        """Switch the file to WAL (a no-op once it is). Connections that switch a new file at the same moment each
        read it first, and SQLite fails all but one at once rather than let a reader wait for a writer that waits for
        it (no busy timeout); tried again, the switch finds the file switched."""
        for _ in range(WAL_SWITCH_ATTEMPTS - 1):
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
            time.sleep(WAL_SWITCH_PAUSE_S)
        self._conn.execute("PRAGMA journal_mode = WAL")  # the last attempt: its error is the caller's

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        with self._lock, self._conn:
            yield self._conn.cursor()

    def _time_in(self, ts: float) -> Any:
        return ts

    def _time_out(self, value: Any) -> float:
        return float(value)

    def write_batch(self, batch: Batch) -> WriteResult:
        with self._transaction() as cur:
            readings = _insert_ignore(
                cur,
                "INSERT OR IGNORE INTO readings (time, site_id, device_id, resident_id, metric, value, seq, artefact)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                batch.readings,
            )
            events = _insert_ignore(
                cur,
                "INSERT OR IGNORE INTO events (time, site_id, device_id, resident_id, kind, value, seq)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                batch.events,
            )
            accel = _insert_ignore(
                cur,
                "INSERT OR IGNORE INTO accel (time, site_id, device_id, resident_id, seq, rate_hz, x, y, z)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row[:6], *_axes_blobs(row.xyz)) for row in batch.accel],
            )
            self._mark_late(cur, batch.readings)
            cur.executemany(
                f"INSERT INTO device_seen (device_id, last_seen) VALUES (?, ?) {DEVICE_SEEN_UPSERT}",
                _newest_per_device(batch).items(),
            )
            cur.executemany(
                "INSERT INTO dead_letters (received_at, topic, reason, detail, payload, payload_size)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                batch.dead_letters,
            )
        offered = len(batch.readings) + len(batch.events) + len(batch.accel)
        return WriteResult(readings, events, accel, offered - readings - events - accel, len(batch.dead_letters))


def _newest_per_device(batch: Batch) -> dict[str, float]:
    newest: dict[str, float] = {}
    for rows in (batch.readings, batch.events, batch.accel):
        for row in rows:
            if row.ts > newest.get(row.device_id, -math.inf):
                newest[row.device_id] = row.ts
    return newest


def _schema() -> str:
    return files("carewatch.storage").joinpath("sqlite_schema.sql").read_text()


def _remake(cur: Cursor, table: str) -> None:
    """Make ``table`` again from the schema's definition (its new key or check) with its rows and its indexes, inside
    the caller's transaction. The old table goes before the indexes are made: they would be found on it by name."""
    columns = ", ".join(row[0] for row in cur.execute(SqliteStore.columns_query, (table,)).fetchall())
    cur.execute(f"ALTER TABLE {table} RENAME TO {table}_before_remake")
    cur.execute(_table_definition(table))
    cur.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_before_remake")
    cur.execute(f"DROP TABLE {table}_before_remake")
    for index in re.findall(rf"^CREATE (?:UNIQUE )?INDEX IF NOT EXISTS \w+ ON {table} .*?;$", _schema(), re.MULTILINE):
        cur.execute(index)


def _table_definition(table: str) -> str:
    """The CREATE TABLE statement of ``table`` in the schema file."""
    found = re.search(rf"CREATE TABLE IF NOT EXISTS {table} \(.*?\n\);", _schema(), re.DOTALL)
    if found is None:
        raise StorageError(f"sqlite_schema.sql has no table {table}")
    return found.group(0)


def _insert_ignore(cur: Cursor, statement: str, rows: list[Any]) -> int:
    if not rows:
        return 0
    before = cur.execute("SELECT total_changes()").fetchone()[0]
    cur.executemany(statement, rows)
    return int(cur.execute("SELECT total_changes()").fetchone()[0] - before)


def _axes_blobs(xyz: np.ndarray) -> tuple[bytes, bytes, bytes]:
    axes = np.ascontiguousarray(xyz, dtype="<f4").T
    return axes[0].tobytes(), axes[1].tobytes(), axes[2].tobytes()
