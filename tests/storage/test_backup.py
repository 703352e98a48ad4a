"""Backup and restore: a TimescaleDB dump restored into a fresh database, and SQLite's online backup."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Postgres

from carewatch.model import AlertDraft, Batch, EventRow, ReadingRow, Resident, Severity, Site, SiteKind
from carewatch.storage.backup import backup_sqlite, dump_postgres, restore_postgres
from carewatch.storage.base import Store
from carewatch.storage.sqlite import SqliteStore
from carewatch.storage.timescale import TimescaleStore

T0 = 1_764_374_400.0
READINGS = 5_000  # spread over 3 days (52 s apart): many chunks of the 1-hour hypertable


def fill(store: Store) -> None:
    store.upsert_sites([Site("s1", "Sunrise Home", SiteKind.CARE_INSTITUTION)])
    store.upsert_residents([Resident("r1", "s1", "Wang Fang"), Resident("r2", "s1", "Li Wei")])
    store.write_batch(
        Batch(
            readings=[
                ReadingRow(T0 + 52 * i, "s1", f"w{i % 2}", f"r{1 + i % 2}", "hr", 60 + i % 30, i, False)
                for i in range(READINGS)
            ],
            events=[EventRow(T0 + 600 * i, "s1", "d1", None, "door", 1.0, i) for i in range(300)],
        )
    )
    for i, rule in enumerate(("spo2_low", "fall", "sos")):
        alert = store.raise_alert(AlertDraft("r1", "s1", rule, Severity.URGENT, T0 + i, rule, "why", {"i": i}))
        assert alert is not None
        if i:
            store.acknowledge_alert(alert.alert_id, "op", T0 + 60)
    store.refresh_rollups(T0 + 3 * 86400)


def snapshot(store: Store) -> tuple[object, ...]:
    readings = store.readings("r1", "hr", T0, T0 + 4 * 86400) + store.readings("r2", "hr", T0, T0 + 4 * 86400)
    alerts = store.alerts(limit=100)
    return (
        readings, store.count("events"), alerts, [store.transitions(a.alert_id) for a in alerts],
        store.history("r1", "hr", T0, T0 + 3 * 86400, 3600), store.rollup_watermark("readings_1h"),
    )  # fmt: skip


@pytest.fixture
def dump_dir() -> Iterator[Path]:
    """A directory the postgres OS user can write (pg_dump runs as that user when the tests run as root)."""
    directory = Path(tempfile.mkdtemp(prefix="carewatch-backup-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_a_timescaledb_dump_restores_into_a_fresh_database(postgres: Postgres, dump_dir: Path) -> None:
    run_as = ("runuser", "-u", "postgres", "--") if os.geteuid() == 0 else ()
    source_url = postgres.create_database()
    source = TimescaleStore(source_url)
    try:
        source.init_schema()
        fill(source)
        expected = snapshot(source)
        dump_postgres(source_url, dump_dir / "carewatch.dump", postgres.bindir, run_as)
    finally:
        source.close()
    target_url = postgres.create_database()
    restore_postgres(target_url, dump_dir / "carewatch.dump", postgres.bindir, run_as)
    restored = TimescaleStore(target_url)
    try:
        assert snapshot(restored) == expected
        assert len(expected[0]) == READINGS and len(expected[2]) == 3  # type: ignore[arg-type]
        chunks = restored._run("SELECT count(*) FROM show_chunks('readings')")[0][0]
        assert chunks >= 3 * 24  # still a hypertable, with its chunks
        restored.init_schema()  # the restored database takes the schema again (idempotent) and new writes
        restored.write_batch(Batch(readings=[ReadingRow(T0 + 4 * 86400, "s1", "w0", "r1", "hr", 61, -1, False)]))
        assert restored.count("readings") == READINGS + 1
    finally:
        restored.close()


def test_sqlite_online_backup_of_a_live_database(tmp_path: Path) -> None:
    source = SqliteStore(tmp_path / "live.db")
    source.init_schema()
    fill(source)
    expected = snapshot(source)
    backup_sqlite(tmp_path / "live.db", tmp_path / "backup.db")  # while the source's connection is open (WAL)
    source.close()
    copy = SqliteStore(tmp_path / "backup.db")
    try:
        assert snapshot(copy) == expected
    finally:
        copy.close()
