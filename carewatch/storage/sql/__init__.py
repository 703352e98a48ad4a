"""The part of the storage contract that both SQL backends share, one concern per module, composed here.

Statements are written once with ``?`` placeholders; a backend (carewatch.storage.sqlite, .timescale) converts them and
supplies the cursor, the time and JSON conversions (`SqlCore`). Writing batches differs (COPY on TimescaleDB) and lives
in each backend.
"""

from __future__ import annotations

from carewatch.storage.sql._core import ADDED_COLUMNS, CHANGED_CHECKS, CHANGED_KEYS, LEGACY_REASON, Cursor, SqlCore
from carewatch.storage.sql.alerts import AlertsSql
from carewatch.storage.sql.history import HistorySql
from carewatch.storage.sql.limits import LimitsSql
from carewatch.storage.sql.outbox import OutboxSql
from carewatch.storage.sql.rebuild import DEVICE_SEEN_UPSERT, RebuildSql
from carewatch.storage.sql.registry import LATEST_LOOKBACK_S, RegistrySql
from carewatch.storage.sql.reports import ReportsSql
from carewatch.storage.sql.users import UsersSql

__all__ = [
    "ADDED_COLUMNS", "CHANGED_CHECKS", "CHANGED_KEYS", "DEVICE_SEEN_UPSERT", "LATEST_LOOKBACK_S", "LEGACY_REASON",
    "Cursor", "SqlCore", "SqlStore",
]  # fmt: skip


class SqlStore(RegistrySql, AlertsSql, UsersSql, LimitsSql, OutboxSql, RebuildSql, HistorySql, ReportsSql):
    """The whole storage contract on SQL; a backend adds its connection, schema and batch writes."""
