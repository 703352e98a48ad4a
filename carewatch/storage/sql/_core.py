"""What every part of the SQL store stands on: the backend's primitives (a transaction's cursor, time and JSON
conversions, the placeholder style), the schema upgrades of older databases, and the helpers several parts share."""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from functools import cache
from typing import Any, Protocol

from carewatch.model import Alert, AlertState, Severity
from carewatch.storage.base import DELIVERY_STATUSES, OUTBOX_STATES, OnCallShift, OutboxItem, StillOnRota, Store

# The bucket start of `time`, epoch-aligned, so both backends cut the same buckets (time_bucket's default origin is
# a Monday in 2000, which would shift 7-day buckets). {w}: the width in whole seconds, an int formatted in.
BUCKET_EXPRESSIONS = {
    "sqlite": "CAST(time / {w} AS INTEGER) * {w}",
    "timescaledb": "time_bucket(make_interval(secs => {w}), time, to_timestamp(0))",
}
# A column's value among a list bound as one parameter, however long (a worker's sites): SQLite reads a JSON array.
IN_LIST = {"sqlite": "{c} IN (SELECT value FROM json_each(?))", "timescaledb": "{c} = ANY(?)"}
LEGACY_REASON = "set before thresholds carried a reason"  # the reason of limits set before it was asked for
# Columns a table gained after it was first created: init_schema adds them to a database created before (its CREATE
# TABLE has them). (table, column, definition, fill): the definition's default, or the expression `fill` of each row,
# fills the rows already there; {time} in a definition is the backend's time type.
ADDED_COLUMNS: tuple[tuple[str, str, str, str | None], ...] = (
    ("resident_thresholds", "reason", f"text NOT NULL DEFAULT '{LEGACY_REASON}'", None),
    ("resident_thresholds", "context", "text NOT NULL DEFAULT 'always' CHECK (context IN ('always', 'in_bed'))", None),
    ("resident_threshold_changes", "context", "text NOT NULL DEFAULT 'always'", None),
    # An alert's raise time (wall clock) apart from its condition's (opened_at): before, they were one.
    ("alerts", "raised_at", "{time}", "opened_at"),
)
# Indexes on ADDED_COLUMNS: made after them (the schema's script runs first, on a table that may lack the column).
ADDED_INDEXES = ("CREATE INDEX IF NOT EXISTS alerts_site_raised ON alerts (site_id, raised_at)",)
# Primary keys that grew after a table was first created: (table, key). init_schema re-keys a database created before
# (after ADDED_COLUMNS, which add the new key columns); the rows keep their values.
CHANGED_KEYS = (("resident_thresholds", ("resident_id", "metric", "context")),)
# Columns whose CHECK (column IN (...)) gained values after the table was first created: (table, column, the values).
# init_schema widens the check of a database created before (after CHANGED_KEYS); the rows keep their values.
CHANGED_CHECKS = (("deliveries", "status", DELIVERY_STATUSES), ("outbox", "state", OUTBOX_STATES))
# A contact's shifts that end after a time, at sites they are not (or no longer) a contact of: neither one of the
# site's own nor linked to one of its residents (the rota's own rule, dashboard/routes/escalation.py). Parameters: the
# contact, the time; {site}: nothing, or a condition on the site (s.site_id).
SHIFTS_LEFT_BEHIND = (
    "SELECT s.site_id, s.contact_id, s.starts_at, s.ends_at FROM on_call_shifts s WHERE s.contact_id = ?"
    " AND s.ends_at > ?{site} AND NOT EXISTS (SELECT 1 FROM site_contacts o WHERE o.site_id = s.site_id"
    " AND o.contact_id = s.contact_id) AND NOT EXISTS (SELECT 1 FROM resident_contacts l JOIN residents r"
    " ON r.resident_id = l.resident_id WHERE r.site_id = s.site_id AND l.contact_id = s.contact_id)"
    " ORDER BY s.starts_at, s.site_id"
)
CONTACT_UNTIED = "the contact was removed"  # why their pending messages are withdrawn (carewatch.storage.sql.registry)
ALERT_COLUMNS = (
    "alert_id, resident_id, site_id, rule, severity, state, opened_at, raised_at, updated_at, title, explanation,"
    " evidence,"
    " acknowledged_at, acknowledged_by, resolved_at, resolved_by"
)


class Cursor(Protocol):
    def execute(self, query: Any, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, query: Any, params_seq: Any) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    @property
    def rowcount(self) -> int: ...


class SqlCore(Store):
    paramstyle_format = False  # True: the driver wants %s instead of ?
    columns_query: str  # the names of one table's columns (the table's name as the parameter)
    key_query: str  # the names of one table's primary key columns (the table's name as the parameter)
    checks_query: str  # the text of one table's CHECK constraints (the table's name as the parameter)
    add_column = "ADD COLUMN"  # the clause of _add_columns' ALTER TABLE
    time_type: str  # a time column's type
    # A time column as seconds since the epoch (float), for reads of many rows: no datetime object per row.
    epoch_of = "{}"
    # An accelerometer axis column as bytes (for reads of many blocks: no Python float per sample), and the bytes
    # before its values (PostgreSQL's binary array format: a header, then each value after its length).
    axis_bytes_of, axis_header = "{}", 0

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Cursor]:
        """A cursor inside one transaction, committed on a clean exit and rolled back on an exception."""

    @abstractmethod
    def _time_in(self, ts: float) -> Any: ...

    @abstractmethod
    def _time_out(self, value: Any) -> float: ...

    def _json_out(self, value: Any) -> dict[str, Any]:
        return json.loads(value) if isinstance(value, str | bytes) else dict(value)

    def _sql(self, statement: str) -> str:
        return _format_style(statement) if self.paramstyle_format else statement

    def _and_in(self, column: str, values: Sequence[str] | Sequence[int] | None) -> tuple[str, tuple[Any, ...]]:
        """`` AND column`` among ``values`` (one parameter), or nothing for None."""
        if values is None:
            return "", ()
        listed = json.dumps(list(values)) if self.backend == "sqlite" else list(values)
        return f" AND {IN_LIST[self.backend].format(c=column)}", (listed,)

    def _add_columns(self, cur: Cursor) -> None:
        """Bring a database created before a column was added, a key changed or a check widened up to date
        (ADDED_COLUMNS, CHANGED_KEYS, then CHANGED_CHECKS); idempotent. The caller's transaction keeps other starters
        out between the check and the ALTER (each backend's init_schema)."""
        for table, column, definition, fill in ADDED_COLUMNS:
            cur.execute(self._sql(self.columns_query), (table,))
            if column not in {row[0] for row in cur.fetchall()}:
                cur.execute(f"ALTER TABLE {table} {self.add_column} {column} {definition.format(time=self.time_type)}")
                if fill is not None:
                    cur.execute(f"UPDATE {table} SET {column} = {fill}")
        for statement in ADDED_INDEXES:
            cur.execute(statement)
        for table, key in CHANGED_KEYS:
            cur.execute(self._sql(self.key_query), (table,))
            if {row[0] for row in cur.fetchall()} != set(key):
                self._change_key(cur, table, key)
        for table, column, values in CHANGED_CHECKS:
            cur.execute(self._sql(self.checks_query), (table,))
            checks = " ".join(row[0] for row in cur.fetchall())
            if not all(f"'{value}'" in checks for value in values):
                self._change_check(cur, table, column, values)

    @abstractmethod
    def _change_key(self, cur: Cursor, table: str, key: tuple[str, ...]) -> None:
        """Make ``key`` the primary key of ``table`` (CHANGED_KEYS), inside the caller's transaction."""

    @abstractmethod
    def _change_check(self, cur: Cursor, table: str, column: str, values: tuple[str, ...]) -> None:
        """Make ``column IN values`` the check of ``column`` (CHANGED_CHECKS), inside the caller's transaction."""

    def _run(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._transaction() as cur:
            cur.execute(self._sql(statement), params)
            return cur.fetchall() if _returns_rows(statement) else []

    def _time_out_or_none(self, value: Any) -> float | None:
        return None if value is None else self._time_out(value)

    def _upsert(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            with self._transaction() as cur:
                cur.executemany(self._sql(statement), rows)

    def _shift(self, r: Sequence[Any]) -> OnCallShift:
        """A row of (site_id, contact_id, starts_at, ends_at) as a shift."""
        return OnCallShift(r[0], r[1], self._time_out(r[2]), self._time_out(r[3]))

    def _untie(
        self, statement: str, params: Sequence[Any], contact_id: str, now: float,
        withdraw: tuple[str, Sequence[Any]] | None = None,
    ) -> bool:  # fmt: skip
        """Run ``statement``, a DELETE of one of the contact's ties to a site (one of its own, a link to one of its
        residents) RETURNING that site, unless that leaves them shifts there (StillOnRota), and withdraw the pending
        messages ``withdraw`` selects (``_withdraw``): what they were to hear through that tie; whether it removed
        one."""
        with self._transaction() as cur:
            cur.execute(self._sql(statement), params)
            removed = cur.fetchall()
            if removed:
                self._refuse_shifts_left_behind(cur, contact_id, now, removed[0][0])
                if withdraw is not None:
                    self._withdraw(cur, *withdraw, now, CONTACT_UNTIED)
        return bool(removed)

    @abstractmethod
    def _withdraw(
        self, cur: Cursor, condition: str, params: Sequence[Any], now: float, reason: str
    ) -> list[OutboxItem]:
        """Settle the pending outbox messages ``condition`` selects (parameters ``params``), except one being sent, as
        "superseded", each audited (attempt 0, ``reason``), in the caller's transaction; the ones withdrawn."""

    def _refuse_shifts_left_behind(self, cur: Cursor, contact_id: str, now: float, site_id: str | None) -> None:
        """Raise StillOnRota, which rolls the caller's transaction back, when what it removed leaves the contact
        shifts ending after ``now`` at a site (``site_id``; None: any) they are no longer a contact of."""
        site, at_site = (" AND s.site_id = ?", (site_id,)) if site_id is not None else ("", ())
        cur.execute(self._sql(SHIFTS_LEFT_BEHIND.format(site=site)), (contact_id, self._time_in(now), *at_site))
        shifts = [self._shift(r) for r in cur.fetchall()]
        if shifts:
            raise StillOnRota(contact_id, shifts)

    def _alert(self, r: Sequence[Any]) -> Alert:
        maybe_time = self._time_out_or_none
        return Alert(
            alert_id=int(r[0]), resident_id=r[1], site_id=r[2], rule=r[3], severity=Severity(r[4]),
            state=AlertState(r[5]), opened_at=self._time_out(r[6]), raised_at=self._time_out(r[7]),
            updated_at=self._time_out(r[8]), title=r[9], explanation=r[10], evidence=self._json_out(r[11]),
            acknowledged_at=maybe_time(r[12]), acknowledged_by=r[13], resolved_at=maybe_time(r[14]), resolved_by=r[15],
        )  # fmt: skip


def site_filter(site_id: str | None) -> tuple[str, tuple[str, ...]]:
    return (" WHERE site_id = ?", (site_id,)) if site_id is not None else ("", ())


def bucket_width(bucket_s: float) -> int:
    if bucket_s < 1:
        raise ValueError(f"bucket_s must be at least 1 s, not {bucket_s}")
    return int(bucket_s)


def placeholders(values: Sequence[Any]) -> str:
    """As many ``?`` as ``values``, comma-separated: an IN list's placeholders."""
    return ", ".join("?" * len(values))


def and_site(column: str, site_id: str | None) -> tuple[str, tuple[str, ...]]:
    return (f" AND {column} = ?", (site_id,)) if site_id is not None else ("", ())


def _returns_rows(statement: str) -> bool:
    return statement.lstrip().upper().startswith(("SELECT", "SHOW")) or " RETURNING " in statement.upper()


@cache
def _format_style(statement: str) -> str:
    return statement.replace("%", "%%").replace("?", "%s")
