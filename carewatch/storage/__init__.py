"""Storage backends behind one contract (base.Store): TimescaleDB in production, SQLite embedded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carewatch.storage.base import AlertConflict, StorageError, Store, TransientStorageError

if TYPE_CHECKING:  # carewatch.config reads the storage's bounds (retention.MAX_RETENTION_DAYS)
    from carewatch.config import Settings

__all__ = ["AlertConflict", "StorageError", "Store", "TransientStorageError", "open_store"]


def open_store(settings: Settings) -> Store:
    """The store the settings name: TimescaleDB for a postgresql:// URL, else the embedded SQLite file."""
    if settings.database_url:
        if not settings.database_url.startswith(("postgresql://", "postgres://")):
            raise StorageError(f"unsupported database URL {settings.database_url.split(':')[0]}://...")
        from carewatch.storage.timescale import TimescaleStore

        return TimescaleStore(settings.database_url)
    from carewatch.storage.sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path)
