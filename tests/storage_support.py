"""Shared by the storage tests (tests/storage): a database as it was before an added column (ADDED_COLUMNS), a
changed key (CHANGED_KEYS) or a widened check (CHANGED_CHECKS)."""

from __future__ import annotations

import re

from carewatch.storage import sqlite, timescale
from carewatch.storage.base import Store
from carewatch.storage.sql import SqlStore


def predate_threshold_reasons(store: Store) -> None:
    """resident_thresholds as it was before thresholds carried a reason (recreated, empty: SQLite cannot drop a
    column that a CHECK names)."""
    assert isinstance(store, SqlStore)
    time_type = store.time_type
    store._run("DROP TABLE resident_thresholds")
    store._run(
        "CREATE TABLE resident_thresholds (resident_id text NOT NULL REFERENCES residents (resident_id), metric text"
        f" NOT NULL, low double precision, high double precision, updated_at {time_type} NOT NULL, updated_by text"
        " NOT NULL, PRIMARY KEY (resident_id, metric))"
    )


def predate_threshold_contexts(store: Store) -> None:
    """resident_thresholds and resident_threshold_changes as they were before thresholds had a context (each metric
    at most once per resident, the key without the context), recreated empty."""
    assert isinstance(store, SqlStore)
    time_type = store.time_type
    serial = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "timescaledb": "bigserial PRIMARY KEY"}[store.backend]
    store._run("DROP TABLE resident_thresholds")
    store._run("DROP TABLE resident_threshold_changes")
    store._run(
        "CREATE TABLE resident_thresholds (resident_id text NOT NULL REFERENCES residents (resident_id), metric text"
        f" NOT NULL, low double precision, high double precision, reason text NOT NULL, updated_at {time_type} NOT"
        " NULL, updated_by text NOT NULL, PRIMARY KEY (resident_id, metric))"
    )
    store._run(
        f"CREATE TABLE resident_threshold_changes (id {serial}, resident_id text NOT NULL REFERENCES residents"
        f" (resident_id), metric text NOT NULL, at {time_type} NOT NULL, actor text NOT NULL, low double precision,"
        " high double precision, reason text)"
    )


def predate_delivery_states(store: Store) -> None:
    """deliveries and outbox as they were before a message could be deferred or superseded (their checks without
    those values), recreated empty from the schema's definitions."""
    assert isinstance(store, SqlStore)
    schema = sqlite._schema() if store.backend == "sqlite" else timescale.SCHEMA_PATH.read_text()
    for table in ("deliveries", "outbox"):
        found = re.search(rf"CREATE TABLE IF NOT EXISTS {table} \(.*?\n\);", schema, re.DOTALL)
        assert found is not None
        store._run(f"DROP TABLE {table}")
        store._run(re.sub(r",\s*'(deferred|superseded)'", "", found.group(0)))


def predate_alert_raise_times(store: Store) -> None:
    """alerts as they were before an alert's raise time was kept apart from its condition's (no raised_at)."""
    assert isinstance(store, SqlStore)
    store._run("DROP INDEX IF EXISTS alerts_site_raised")
    store._run("ALTER TABLE alerts DROP COLUMN raised_at")
