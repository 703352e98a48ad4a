"""Backup and restore (docs/operations.md): pg_dump / pg_restore with TimescaleDB's restore steps; SQLite's online
backup API (a consistent copy of a live WAL database, which a file copy is not)."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Sequence
from pathlib import Path

import psycopg

SQLITE_PAGES_PER_STEP = 4096  # copy 16 MiB (4 KiB pages) at a time, so writers are blocked only briefly


def dump_postgres(url: str, path: Path, bindir: Path, run_as: Sequence[str] = ()) -> None:
    """``pg_dump -Fc`` of the whole database (hypertables with their chunks, the registry, alerts) into ``path``.

    run_as: a command prefix, e.g. ``("runuser", "-u", "postgres", "--")`` when the caller is root."""
    _run([*run_as, str(bindir / "pg_dump"), "--format=custom", f"--file={path}", f"--dbname={url}"])


def restore_postgres(url: str, path: Path, bindir: Path, run_as: Sequence[str] = ()) -> None:
    """Restore a ``dump_postgres`` file into an empty database with TimescaleDB's documented procedure: create the
    extension (the dump's version), ``timescaledb_pre_restore()``, ``pg_restore``, ``timescaledb_post_restore()``.

    Raises subprocess.CalledProcessError (with pg_restore's messages) when the restore fails."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute("SELECT timescaledb_pre_restore()")
    try:
        _run([*run_as, str(bindir / "pg_restore"), "--exit-on-error", "--no-owner", f"--dbname={url}", str(path)])
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT timescaledb_post_restore()")


def backup_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a (possibly live, WAL-mode) SQLite database into ``target`` (replaced)."""
    target.unlink(missing_ok=True)
    with sqlite3.connect(str(source)) as src, sqlite3.connect(str(target)) as dst:
        src.backup(dst, pages=SQLITE_PAGES_PER_STEP)
    # sqlite3's context manager commits but does not close
    src.close()
    dst.close()


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True)
