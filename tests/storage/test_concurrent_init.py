"""Schema set-up by several processes at once (scale-out workers, or serve and a CLI command started together): every
starter succeeds, on a fresh database and on one from before an added column, and the schema comes out as one starter
alone makes it. Each starter is a store of its own, so has its own connections; a barrier releases them together."""

from __future__ import annotations

import functools
import itertools
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from storage_support import (
    predate_alert_raise_times,
    predate_delivery_states,
    predate_threshold_contexts,
    predate_threshold_reasons,
)

from carewatch.model import Resident, Site, SiteKind
from carewatch.storage import timescale
from carewatch.storage.base import StorageError
from carewatch.storage.sql import ADDED_COLUMNS, CHANGED_KEYS, SqlStore
from carewatch.storage.sqlite import SqliteStore
from carewatch.storage.timescale import TimescaleStore

STARTERS = 6
BARRIER_TIMEOUT_S = 60.0
WAL_ROUNDS = 150
# Every table's columns and every index; on TimescaleDB also the hypertables.
SCHEMA_QUERIES = {
    "sqlite": [
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'",
        "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index'",
    ],
    "timescaledb": [
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()",
        "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = current_schema()",
        "SELECT hypertable_name, 'hypertable' FROM timescaledb_information.hypertables",
    ],
}
StoreFactory = Callable[[], SqlStore]


@pytest.fixture(params=["sqlite", "timescaledb"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], StoreFactory]:
    """Creates a database without a schema; gives a factory of stores on it, each with connections of its own."""
    numbers = itertools.count()
    if request.param == "sqlite":

        def sqlite_database() -> StoreFactory:
            path = tmp_path / f"carewatch-{next(numbers)}.db"
            return lambda: SqliteStore(path)

        return sqlite_database
    postgres = request.getfixturevalue("postgres")

    def postgres_database() -> StoreFactory:
        url = postgres.create_database()
        return lambda: TimescaleStore(url)

    return postgres_database


def test_starters_on_a_fresh_database_all_succeed(new_database: Callable[[], StoreFactory]) -> None:
    new_store = new_database()
    start_together(new_store)
    assert_schema_as_one_starter_makes_it(new_store, new_database())


PREDATES = [predate_threshold_reasons, predate_threshold_contexts, predate_delivery_states, predate_alert_raise_times]


@pytest.mark.parametrize("predate", PREDATES)
def test_starters_on_a_database_from_before_an_added_column_all_succeed(
    new_database: Callable[[], StoreFactory], predate: Callable[[SqlStore], None]
) -> None:
    """Before threshold reasons (an added column), contexts (added columns and a changed key, with a row to keep) or
    deferred and superseded deliveries (widened checks: SQLite makes the tables again, with their indexes)."""
    new_store = new_database()
    with closing(new_store()) as old:
        old.init_schema()
        predate(old)
        old.upsert_sites([Site("s1", "Home", SiteKind.HOME)])
        old.upsert_residents([Resident("r1", "s1", "R1")])
        row = {"resident_id": "r1", "metric": "hr", "low": 45.0, "reason": "fit sleeper", "updated_by": "dr:li",
               "updated_at": old._time_in(1_700_000_000.0)}  # fmt: skip
        columns = [c for c in row if c in {r[0] for r in old._run(old.columns_query, ("resident_thresholds",))}]
        old._run(f"INSERT INTO resident_thresholds ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                 [row[c] for c in columns])  # fmt: skip
    start_together(new_store)
    assert_schema_as_one_starter_makes_it(new_store, new_database())
    with closing(new_store()) as store:
        for table, column, *_ in ADDED_COLUMNS:
            assert [row[0] for row in store._run(store.columns_query, (table,))].count(column) == 1
        for table, key in CHANGED_KEYS:
            assert {row[0] for row in store._run(store.key_query, (table,))} == set(key)
        assert [(t.metric, t.low, t.context) for t in store.all_thresholds()] == [("hr", 45.0, "always")]


def start_together(new_store: StoreFactory) -> None:
    """STARTERS stores call init_schema at the same moment; every one must return without an error."""
    stores = [new_store() for _ in range(STARTERS)]
    barrier = threading.Barrier(STARTERS)

    def start(store: SqlStore) -> None:
        barrier.wait(BARRIER_TIMEOUT_S)
        store.init_schema()

    try:
        with ThreadPoolExecutor(STARTERS) as pool:
            for future in [pool.submit(start, store) for store in stores]:
                future.result()
    finally:
        for store in stores:
            store.close()


def assert_schema_as_one_starter_makes_it(new_store: StoreFactory, new_store_elsewhere: StoreFactory) -> None:
    with closing(new_store_elsewhere()) as alone:
        alone.init_schema()
        expected = schema_of(alone)
    assert ("resident_thresholds", "reason") in expected and len(expected) > 50  # the queries see the schema
    with closing(new_store()) as store:
        assert schema_of(store) == expected


def schema_of(store: SqlStore) -> set[tuple[str, str]]:
    return {(str(a), str(b)) for query in SCHEMA_QUERIES[store.backend] for a, b in store._run(query)}


def test_a_starter_gives_up_with_a_clear_error_while_another_holds_the_schema_lock(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timescale, "SCHEMA_LOCK_TIMEOUT_S", 1)
    with psycopg.connect(pg_url) as holder, closing(TimescaleStore(pg_url)) as store:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (timescale.SCHEMA_LOCK_KEY,))  # a stuck start-up
        with pytest.raises(StorageError, match="held the schema lock"):
            store.init_schema()
        holder.rollback()
        store.init_schema()


def test_sqlite_starters_on_new_files_all_switch_them_to_wal(tmp_path: Path) -> None:
    """Only the first start on a new file switches it to WAL, and SQLite fails those who meet there at once (no busy
    timeout): a few rounds in a hundred. WAL_ROUNDS new files make a miss likely to show."""
    for round_ in range(WAL_ROUNDS):
        path = tmp_path / f"new-{round_}.db"
        start_together(functools.partial(SqliteStore, path))
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_sqlite_start_that_fails_part_way_leaves_no_part_of_the_schema(tmp_path: Path) -> None:
    """The schema script is one transaction (which keeps other starters from preparing statements against a schema that
    changes under them): a start that fails part way creates nothing and leaves the store usable."""
    path = tmp_path / "carewatch.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE VIEW readings AS SELECT 1 AS time")  # CREATE TABLE IF NOT EXISTS passes; its index fails
    with closing(SqliteStore(path)) as store:
        with pytest.raises(sqlite3.OperationalError, match="views may not be indexed"):
            store.init_schema()
        assert [row[0] for row in store._run("SELECT name FROM sqlite_master WHERE type = 'table'")] == []
        assert store._run("SELECT 1") == [(1,)]  # no transaction left open
