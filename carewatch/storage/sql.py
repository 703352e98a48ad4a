"""The part of the storage contract that both SQL backends share: registry, queries and alert transitions.

Statements are written once with ``?`` placeholders; a backend converts them and supplies the cursor, the time
and JSON conversions. Writing batches differs (COPY on TimescaleDB) and lives in each backend.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import astuple
from functools import cache
from typing import Any, Protocol

import numpy as np

from carewatch.model import (
    AccelRow,
    Alert,
    AlertDraft,
    AlertState,
    AlertTransition,
    Batch,
    Contact,
    ContactLink,
    ContactRole,
    DeadLetter,
    Device,
    DeviceKind,
    EventRow,
    ReadingRow,
    Resident,
    Severity,
    Site,
    SiteKind,
)
from carewatch.storage import retention, rollups
from carewatch.storage.base import (
    COUNTABLE_TABLES,
    DUPLICATE,
    MAX_HISTORY_ROWS,
    MAX_REPLAY_ROWS,
    MAX_STATS_ROWS,
    OUTBOX_PENDING,
    QUEUED,
    ActivityBucket,
    AlertConflict,
    Bucket,
    ContactChannel,
    ContactPreference,
    DeliveryAttempt,
    EscalationStage,
    EscalationStep,
    News2Escalation,
    News2EscalationChange,
    OnCallShift,
    OutboxItem,
    ReadingStats,
    Role,
    StageClaim,
    StorageError,
    Store,
    Threshold,
    ThresholdChange,
    ThresholdContext,
    User,
    threshold_context_problem,
)
from carewatch.storage.history import merge as merge_buckets
from carewatch.storage.history import source_for as history_source
from carewatch.storage.retention import Purged, RetentionPolicy

LATEST_LOOKBACK_S = 6 * 3600  # "latest" means within the last hours; older data is history, not the current state
# The bucket start of `time`, epoch-aligned, so both backends cut the same buckets (time_bucket's default origin is
# a Monday in 2000, which would shift 7-day buckets). {w}: the width in whole seconds, an int formatted in.
BUCKET_EXPRESSIONS = {
    "sqlite": "CAST(time / {w} AS INTEGER) * {w}",
    "timescaledb": "time_bucket(make_interval(secs => {w}), time, to_timestamp(0))",
}
ESCALATION_COLUMNS = "alert_id, stage, target, due_at, fired_at, cancelled_at"
DELIVERY_COLUMNS = "at, site_id, alert_id, contact_id, channel, address, kind, idempotency_key, attempt, status, error"
OUTBOX_COLUMNS = (
    "idempotency_key, channel, site_id, alert_id, contact_id, address, kind, message, state, attempt, due_at"
)
OUTBOX_FULL = "the delivery queue is full"  # the audit's error text of a message dropped at a full channel
IDS_PER_QUERY = 500  # ids bound in one IN list: far below SQLite's host-parameter limit (32,766; 999 before 3.32)
MAX_SHIFTS = 1_000  # a site's current and upcoming shifts listed at most: months of a busy rota
THRESHOLD_COLUMNS = "resident_id, metric, low, high, reason, updated_at, updated_by, context"
THRESHOLD_CHANGE_COLUMNS = "resident_id, metric, low, high, reason, at, actor, context"  # a set: THRESHOLD_COLUMNS'
NEWS2_ESCALATION_COLUMNS = "resident_id, urgent_from, emergency_from, red_score, reason, set_by, set_at"
LEGACY_REASON = "set before thresholds carried a reason"  # the reason of limits set before it was asked for
# Columns a table gained after it was first created: init_schema adds them to a database created before (its CREATE
# TABLE has them). (table, column, definition): the definition's default fills the rows already there.
ADDED_COLUMNS = (
    ("resident_thresholds", "reason", f"text NOT NULL DEFAULT '{LEGACY_REASON}'"),
    ("resident_thresholds", "context", "text NOT NULL DEFAULT 'always' CHECK (context IN ('always', 'in_bed'))"),
    ("resident_threshold_changes", "context", "text NOT NULL DEFAULT 'always'"),
)
# Primary keys that grew after a table was first created: (table, key). init_schema re-keys a database created before
# (after ADDED_COLUMNS, which add the new key columns); the rows keep their values.
CHANGED_KEYS = (("resident_thresholds", ("resident_id", "metric", "context")),)
ALERT_COLUMNS = (
    "alert_id, resident_id, site_id, rule, severity, state, opened_at, updated_at, title, explanation, evidence,"
    " acknowledged_at, acknowledged_by, resolved_at, resolved_by"
)


class Cursor(Protocol):
    def execute(self, query: Any, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, query: Any, params_seq: Any) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    @property
    def rowcount(self) -> int: ...


class SqlStore(Store):
    paramstyle_format = False  # True: the driver wants %s instead of ?
    columns_query: str  # the names of one table's columns (the table's name as the parameter)
    key_query: str  # the names of one table's primary key columns (the table's name as the parameter)
    add_column = "ADD COLUMN"  # the clause of _add_columns' ALTER TABLE

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

    def _add_columns(self, cur: Cursor) -> None:
        """Bring a database created before a column was added, or a key changed, up to date (ADDED_COLUMNS, then
        CHANGED_KEYS); idempotent. The caller's transaction keeps other starters out between the check and the ALTER
        (each backend's init_schema)."""
        for table, column, definition in ADDED_COLUMNS:
            cur.execute(self._sql(self.columns_query), (table,))
            if column not in {row[0] for row in cur.fetchall()}:
                cur.execute(f"ALTER TABLE {table} {self.add_column} {column} {definition}")
        for table, key in CHANGED_KEYS:
            cur.execute(self._sql(self.key_query), (table,))
            if {row[0] for row in cur.fetchall()} != set(key):
                self._change_key(cur, table, key)

    @abstractmethod
    def _change_key(self, cur: Cursor, table: str, key: tuple[str, ...]) -> None:
        """Make ``key`` the primary key of ``table`` (CHANGED_KEYS), inside the caller's transaction."""

    def _run(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._transaction() as cur:
            cur.execute(self._sql(statement), params)
            return cur.fetchall() if _returns_rows(statement) else []

    # Registry -------------------------------------------------------------------------------------------------
    def upsert_sites(self, sites: Sequence[Site]) -> None:
        self._upsert(
            "INSERT INTO sites (site_id, name, kind, timezone) VALUES (?, ?, ?, ?) ON CONFLICT (site_id) DO UPDATE"
            " SET name = excluded.name, kind = excluded.kind, timezone = excluded.timezone",
            [(s.site_id, s.name, s.kind.value, s.timezone) for s in sites],
        )

    def upsert_residents(self, residents: Sequence[Resident]) -> None:
        self._upsert(
            "INSERT INTO residents (resident_id, site_id, name, room, birth_year, spo2_scale) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (resident_id) DO UPDATE SET site_id = excluded.site_id, name = excluded.name,"
            " room = excluded.room, birth_year = excluded.birth_year, spo2_scale = excluded.spo2_scale",
            [(r.resident_id, r.site_id, r.name, r.room, r.birth_year, r.spo2_scale) for r in residents],
        )

    def upsert_devices(self, devices: Sequence[Device]) -> None:
        self._upsert(
            "INSERT INTO devices (device_id, site_id, kind, resident_id, room, friendly_name) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (device_id) DO UPDATE SET site_id = excluded.site_id, kind = excluded.kind,"
            " resident_id = excluded.resident_id, room = excluded.room, friendly_name = excluded.friendly_name",
            [(d.device_id, d.site_id, d.kind.value, d.resident_id, d.room, d.friendly_name) for d in devices],
        )

    def upsert_contacts(self, contacts: Sequence[Contact], links: Sequence[ContactLink]) -> None:
        self._upsert(
            "INSERT INTO contacts (contact_id, name, role, email, phone) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (contact_id) DO UPDATE SET name = excluded.name, role = excluded.role,"
            " email = excluded.email, phone = excluded.phone",
            [(c.contact_id, c.name, c.role.value, c.email, c.phone) for c in contacts],
        )
        self._upsert(
            "INSERT INTO resident_contacts (resident_id, contact_id, relation, priority) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (resident_id, contact_id) DO UPDATE SET relation = excluded.relation,"
            " priority = excluded.priority",
            [(k.resident_id, k.contact_id, k.relation, k.priority) for k in links],
        )

    def _upsert(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            with self._transaction() as cur:
                cur.executemany(self._sql(statement), rows)

    def sites(self) -> list[Site]:
        rows = self._run("SELECT site_id, name, kind, timezone FROM sites ORDER BY site_id")
        return [Site(r[0], r[1], SiteKind(r[2]), r[3]) for r in rows]

    def residents(self, site_id: str | None = None) -> list[Resident]:
        where, params = _site_filter(site_id)
        rows = self._run(
            f"SELECT resident_id, site_id, name, room, birth_year, spo2_scale FROM residents{where}"
            " ORDER BY resident_id",
            params,
        )
        return [Resident(*r) for r in rows]

    def resident(self, resident_id: str) -> Resident | None:
        rows = self._run(
            "SELECT resident_id, site_id, name, room, birth_year, spo2_scale FROM residents WHERE resident_id = ?",
            (resident_id,),
        )
        return Resident(*rows[0]) if rows else None

    def devices(self) -> list[Device]:
        rows = self._run(
            "SELECT device_id, site_id, kind, resident_id, room, friendly_name FROM devices ORDER BY device_id"
        )
        return [Device(r[0], r[1], DeviceKind(r[2]), r[3], r[4], r[5]) for r in rows]

    def contacts_of(self, resident_id: str) -> list[tuple[Contact, ContactLink]]:
        rows = self._run(
            "SELECT c.contact_id, c.name, c.role, c.email, c.phone, l.relation, l.priority FROM resident_contacts l"
            " JOIN contacts c ON c.contact_id = l.contact_id WHERE l.resident_id = ? ORDER BY l.priority, c.contact_id",
            (resident_id,),
        )
        return [
            (Contact(r[0], r[1], ContactRole(r[2]), r[3], r[4]), ContactLink(resident_id, r[0], r[5], r[6]))
            for r in rows
        ]

    # Queries --------------------------------------------------------------------------------------------------
    def readings(self, resident_id: str, metric: str, start: float, end: float) -> list[tuple[float, float]]:
        rows = self._run(
            "SELECT time, value FROM readings WHERE resident_id = ? AND metric = ? AND time >= ? AND time < ?"
            f" AND NOT artefact ORDER BY time LIMIT {MAX_HISTORY_ROWS}",
            (resident_id, metric, self._time_in(start), self._time_in(end)),
        )
        return [(self._time_out(t), v) for t, v in rows]

    def latest_readings(self, site_id: str | None = None) -> dict[str, dict[str, tuple[float, float]]]:
        site = " AND r.site_id = ?" if site_id is not None else ""
        since = self._time_in(time.time() - LATEST_LOOKBACK_S)
        rows = self._run(
            "SELECT r.resident_id, r.metric, r.time, r.value FROM readings r JOIN ("
            "  SELECT resident_id, metric, max(time) AS newest FROM readings"
            "  WHERE time >= ? AND NOT artefact AND resident_id IS NOT NULL GROUP BY resident_id, metric"
            ") m ON r.resident_id = m.resident_id AND r.metric = m.metric AND r.time = m.newest"
            f" WHERE NOT r.artefact{site}",
            (since, *((site_id,) if site_id is not None else ())),
        )
        latest: dict[str, dict[str, tuple[float, float]]] = {}
        for resident_id, metric, at, value in rows:
            latest.setdefault(resident_id, {})[metric] = (self._time_out(at), value)
        return latest

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        rows = self._run(
            "SELECT received_at, topic, reason, detail, payload, payload_size FROM dead_letters"
            " ORDER BY received_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [DeadLetter(self._time_out(r[0]), r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows]

    def count(self, table: str) -> int:
        if table not in COUNTABLE_TABLES:
            raise ValueError(f"not a countable table: {table!r}")
        return int(self._run(f"SELECT count(*) FROM {table}")[0][0])

    # Alerts ---------------------------------------------------------------------------------------------------
    def raise_alert(self, draft: AlertDraft) -> Alert | None:
        at = self._time_in(draft.opened_at)
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO alerts (resident_id, site_id, rule, severity, state, opened_at, updated_at, title,"
                    " explanation, evidence) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?)"
                    " ON CONFLICT (resident_id, rule) WHERE state <> 'resolved' DO NOTHING"
                    f" RETURNING {ALERT_COLUMNS}"
                ),
                (
                    draft.resident_id, draft.site_id, draft.rule, draft.severity.value, at, at, draft.title,
                    draft.explanation, json.dumps(draft.evidence),
                ),
            )  # fmt: skip
            row = cur.fetchone()
            if row is None:
                return None
            alert = self._alert(row)
            self._audit(cur, alert.alert_id, draft.opened_at, None, AlertState.OPEN, "system", draft.explanation)
            return alert

    def acknowledge_alert(self, alert_id: int, actor: str, at: float, note: str = "") -> Alert:
        return self._transition(
            alert_id, AlertState.ACKNOWLEDGED, actor, at, note,
            "state = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?, updated_at = ?",
            "state = 'open'",
        )  # fmt: skip

    def resolve_alert(self, alert_id: int, actor: str, at: float, note: str = "") -> Alert:
        return self._transition(
            alert_id, AlertState.RESOLVED, actor, at, note,
            "state = 'resolved', resolved_at = ?, resolved_by = ?, updated_at = ?",
            "state <> 'resolved'",
        )  # fmt: skip

    def _transition(
        self, alert_id: int, to: AlertState, actor: str, at: float, note: str, assignments: str, allowed: str
    ) -> Alert:
        with self._transaction() as cur:
            cur.execute(self._sql(f"SELECT state FROM alerts WHERE alert_id = ? AND {allowed}"), (alert_id,))
            before = cur.fetchone()
            cur.execute(
                self._sql(
                    f"UPDATE alerts SET {assignments} WHERE alert_id = ? AND {allowed} RETURNING {ALERT_COLUMNS}"
                ),
                (self._time_in(at), actor, self._time_in(at), alert_id),
            )
            row = cur.fetchone()
            if row is None or before is None:
                raise AlertConflict(self._alert_by_id(cur, alert_id), to)
            self._audit(cur, alert_id, at, AlertState(before[0]), to, actor, note)
            cur.execute(  # acknowledged or resolved: nobody else is called, in the same transaction
                self._sql(
                    "UPDATE escalations SET cancelled_at = ? WHERE alert_id = ? AND fired_at IS NULL"
                    " AND cancelled_at IS NULL"
                ),
                (self._time_in(at), alert_id),
            )
            return self._alert(row)

    def resolve_live(self, resident_id: str, rule: str, actor: str, at: float, note: str = "") -> Alert | None:
        rows = self._run(
            "SELECT alert_id FROM alerts WHERE resident_id = ? AND rule = ? AND state <> 'resolved'",
            (resident_id, rule),
        )
        if not rows:
            return None
        try:
            return self.resolve_alert(int(rows[0][0]), actor, at, note)
        except AlertConflict:
            return None  # resolved by someone else in between

    def alert(self, alert_id: int) -> Alert | None:
        with self._transaction() as cur:
            return self._alert_by_id(cur, alert_id)

    def alerts(self, site_id: str | None = None, live_only: bool = False, limit: int = 200) -> list[Alert]:
        where, params = _site_filter(site_id)
        if live_only:
            where += (" AND" if where else " WHERE") + " state <> 'resolved'"
        rows = self._run(
            f"SELECT {ALERT_COLUMNS} FROM alerts{where} ORDER BY opened_at DESC, alert_id DESC LIMIT ?",
            (*params, limit),
        )
        return [self._alert(r) for r in rows]

    def transitions(self, alert_id: int) -> list[AlertTransition]:
        rows = self._run(
            "SELECT alert_id, at, from_state, to_state, actor, note FROM alert_transitions WHERE alert_id = ?"
            " ORDER BY at, id",
            (alert_id,),
        )
        return [
            AlertTransition(
                r[0], self._time_out(r[1]), AlertState(r[2]) if r[2] else None, AlertState(r[3]), r[4], r[5]
            )
            for r in rows
        ]

    def _alert_by_id(self, cur: Cursor, alert_id: int) -> Alert | None:
        cur.execute(self._sql(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = ?"), (alert_id,))
        row = cur.fetchone()
        return self._alert(row) if row else None

    def _audit(
        self, cur: Cursor, alert_id: int, at: float, before: AlertState | None, after: AlertState, actor: str, note: str
    ) -> None:
        cur.execute(
            self._sql(
                "INSERT INTO alert_transitions (alert_id, at, from_state, to_state, actor, note)"
                " VALUES (?, ?, ?, ?, ?, ?)"
            ),
            (alert_id, self._time_in(at), before.value if before else None, after.value, actor, note),
        )

    def _alert(self, r: Sequence[Any]) -> Alert:
        maybe_time = self._time_out_or_none
        return Alert(
            alert_id=int(r[0]), resident_id=r[1], site_id=r[2], rule=r[3], severity=Severity(r[4]),
            state=AlertState(r[5]), opened_at=self._time_out(r[6]), updated_at=self._time_out(r[7]), title=r[8],
            explanation=r[9], evidence=self._json_out(r[10]), acknowledged_at=maybe_time(r[11]),
            acknowledged_by=r[12], resolved_at=maybe_time(r[13]), resolved_by=r[14],
        )  # fmt: skip

    def _time_out_or_none(self, value: Any) -> float | None:
        return None if value is None else self._time_out(value)

    # History --------------------------------------------------------------------------------------------------
    def readings_bucketed(
        self, resident_id: str, metric: str, start: float, end: float, bucket_s: float
    ) -> list[Bucket]:
        if bucket_s < 1:
            raise ValueError(f"bucket_s must be at least 1 s, not {bucket_s}")
        width = int(bucket_s)
        bucket = BUCKET_EXPRESSIONS[self.backend].format(w=width)
        rows = self._run(
            f"SELECT {bucket} AS bucket, count(*), min(value), max(value), avg(value) FROM readings"
            " WHERE resident_id = ? AND metric = ? AND time >= ? AND time < ? AND NOT artefact"
            f" GROUP BY bucket ORDER BY bucket LIMIT {MAX_HISTORY_ROWS}",
            (resident_id, metric, self._time_in(start), self._time_in(end)),
        )
        return [Bucket(self._time_out(b), int(n), float(lo), float(hi), float(mean)) for b, n, lo, hi, mean in rows]

    def alerts_matching(
        self,
        *,
        site_ids: Sequence[str] | None = None,
        resident_ids: Sequence[str] | None = None,
        states: Sequence[AlertState] | None = None,
        severities: Sequence[str] | None = None,
        rule: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 200,
    ) -> list[Alert]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (
            ("site_id", site_ids), ("resident_id", resident_ids), ("severity", severities),
            ("state", [AlertState(s).value for s in states] if states is not None else None),
        ):  # fmt: skip
            if values is None:
                continue
            if not values:
                return []
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
        if rule is not None:
            clauses.append("rule = ?")
            params.append(rule)
        if since is not None:
            clauses.append("opened_at >= ?")
            params.append(self._time_in(since))
        if until is not None:
            clauses.append("opened_at < ?")
            params.append(self._time_in(until))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._run(
            f"SELECT {ALERT_COLUMNS} FROM alerts{where} ORDER BY opened_at DESC, alert_id DESC LIMIT ?",
            (*params, limit),
        )
        return [self._alert(r) for r in rows]

    # Dashboard: users, roles, sessions, thresholds ------------------------------------------------------------
    def save_user(self, user: User, password_hash: str | None = None) -> None:
        with self._transaction() as cur:
            cur.execute(self._sql("SELECT 1 FROM users WHERE username = ?"), (user.username,))
            exists = cur.fetchone() is not None
            if not exists and password_hash is None:
                raise StorageError(f"a new user ({user.username}) needs a password")
            if exists:
                cur.execute(
                    self._sql("UPDATE users SET display_name = ?, role = ?, active = ? WHERE username = ?"),
                    (user.display_name, user.role.value, user.active, user.username),
                )
                if password_hash is not None:
                    cur.execute(
                        self._sql("UPDATE users SET password_hash = ? WHERE username = ?"),
                        (password_hash, user.username),
                    )
            else:
                cur.execute(
                    self._sql(
                        "INSERT INTO users (username, display_name, role, password_hash, active) VALUES (?, ?, ?, ?, ?)"
                    ),
                    (user.username, user.display_name, user.role.value, password_hash, user.active),
                )
            cur.execute(self._sql("DELETE FROM user_sites WHERE username = ?"), (user.username,))
            cur.execute(self._sql("DELETE FROM user_residents WHERE username = ?"), (user.username,))
            if user.site_ids:
                cur.executemany(
                    self._sql("INSERT INTO user_sites (username, site_id) VALUES (?, ?)"),
                    [(user.username, s) for s in dict.fromkeys(user.site_ids)],
                )
            if user.resident_ids:
                cur.executemany(
                    self._sql("INSERT INTO user_residents (username, resident_id) VALUES (?, ?)"),
                    [(user.username, r) for r in dict.fromkeys(user.resident_ids)],
                )

    def user(self, username: str) -> User | None:
        found = self._users(" WHERE username = ?", (username,))
        return found[0] if found else None

    def users(self) -> list[User]:
        return self._users("", ())

    def _users(self, where: str, params: tuple[str, ...]) -> list[User]:
        with self._transaction() as cur:
            cur.execute(
                self._sql(f"SELECT username, display_name, role, active FROM users{where} ORDER BY username"), params
            )
            rows = cur.fetchall()
            cur.execute(self._sql(f"SELECT username, site_id FROM user_sites{where} ORDER BY site_id"), params)
            sites = cur.fetchall()
            cur.execute(
                self._sql(f"SELECT username, resident_id FROM user_residents{where} ORDER BY resident_id"), params
            )
            residents = cur.fetchall()
        site_ids: dict[str, list[str]] = {}
        for username, site_id in sites:
            site_ids.setdefault(username, []).append(site_id)
        resident_ids: dict[str, list[str]] = {}
        for username, resident_id in residents:
            resident_ids.setdefault(username, []).append(resident_id)
        return [
            User(u, name, Role(role), tuple(site_ids.get(u, ())), tuple(resident_ids.get(u, ())), bool(active))
            for u, name, role, active in rows
        ]

    def password_hash(self, username: str) -> str | None:
        rows = self._run("SELECT password_hash FROM users WHERE username = ? AND active", (username,))
        return str(rows[0][0]) if rows else None

    def delete_user(self, username: str) -> bool:
        with self._transaction() as cur:
            for table in ("sessions", "user_sites", "user_residents"):
                cur.execute(self._sql(f"DELETE FROM {table} WHERE username = ?"), (username,))
            cur.execute(self._sql("DELETE FROM users WHERE username = ? RETURNING username"), (username,))
            return cur.fetchone() is not None

    def create_session(self, token_hash: str, username: str, created_at: float, expires_at: float) -> None:
        self._run(
            "INSERT INTO sessions (token_hash, username, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (token_hash, username, self._time_in(created_at), self._time_in(expires_at)),
        )

    def session_user(self, token_hash: str, now: float) -> User | None:
        rows = self._run(
            "SELECT u.username FROM sessions s JOIN users u ON u.username = s.username"
            " WHERE s.token_hash = ? AND s.expires_at > ? AND u.active",
            (token_hash, self._time_in(now)),
        )
        return self.user(rows[0][0]) if rows else None

    def delete_session(self, token_hash: str) -> None:
        self._run("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def purge_sessions(self, now: float) -> int:
        return len(self._run("DELETE FROM sessions WHERE expires_at <= ? RETURNING token_hash", (self._time_in(now),)))

    def thresholds(self, resident_id: str) -> list[Threshold]:
        rows = self._run(
            f"SELECT {THRESHOLD_COLUMNS} FROM resident_thresholds WHERE resident_id = ? ORDER BY metric, context",
            (resident_id,),
        )
        return [self._threshold_out(r) for r in rows]

    def set_threshold(self, threshold: Threshold) -> None:
        t = threshold
        row = (t.resident_id, t.metric, t.low, t.high, t.reason, self._time_in(t.updated_at), t.updated_by,
               str(t.context))  # fmt: skip
        self._set_audited(
            f"INSERT INTO resident_thresholds ({THRESHOLD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (resident_id, metric, context) DO UPDATE SET low = excluded.low, high = excluded.high,"
            " reason = excluded.reason, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            row,
            f"INSERT INTO resident_threshold_changes ({THRESHOLD_CHANGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )

    def delete_threshold(
        self, resident_id: str, metric: str, by: str, at: float, context: str = ThresholdContext.ALWAYS
    ) -> bool:
        problem = threshold_context_problem(context)
        if problem is not None:
            raise ValueError(problem)
        return self._delete_audited(
            "DELETE FROM resident_thresholds WHERE resident_id = ? AND metric = ? AND context = ? RETURNING metric",
            (resident_id, metric, str(context)),
            "INSERT INTO resident_threshold_changes (resident_id, metric, at, actor, context) VALUES (?, ?, ?, ?, ?)",
            (resident_id, metric, self._time_in(at), by, str(context)),
        )

    def threshold_changes(self, resident_id: str) -> list[ThresholdChange]:
        rows = self._run(
            f"SELECT {THRESHOLD_CHANGE_COLUMNS} FROM resident_threshold_changes WHERE resident_id = ? ORDER BY at, id",
            (resident_id,),
        )
        return [self._threshold_change_out(r) for r in rows]

    def _threshold_change_out(self, r: Sequence[Any]) -> ThresholdChange:
        threshold = None if r[4] is None else self._threshold_out(r)
        return ThresholdChange(r[0], r[1], self._time_out(r[5]), r[6], threshold, ThresholdContext(r[7]))

    def _threshold_out(self, row: Sequence[Any]) -> Threshold:
        return Threshold(row[0], row[1], row[2], row[3], row[4], self._time_out(row[5]), row[6],
                         ThresholdContext(row[7]))  # fmt: skip

    def news2_escalation(self, resident_id: str) -> News2Escalation | None:
        rows = self._run(
            f"SELECT {NEWS2_ESCALATION_COLUMNS} FROM news2_escalations WHERE resident_id = ?", (resident_id,)
        )
        return self._escalation_out(rows[0]) if rows else None

    def set_news2_escalation(self, escalation: News2Escalation) -> None:
        e, at = escalation, self._time_in(escalation.set_at)
        self._set_audited(
            f"INSERT INTO news2_escalations ({NEWS2_ESCALATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (resident_id) DO UPDATE SET urgent_from = excluded.urgent_from,"
            " emergency_from = excluded.emergency_from, red_score = excluded.red_score,"
            " reason = excluded.reason, set_by = excluded.set_by, set_at = excluded.set_at",
            (e.resident_id, e.urgent_from, e.emergency_from, e.red_score, e.reason, e.set_by, at),
            "INSERT INTO news2_escalation_changes (resident_id, at, actor, urgent_from, emergency_from,"
            " red_score, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (e.resident_id, at, e.set_by, e.urgent_from, e.emergency_from, e.red_score, e.reason),
        )

    def delete_news2_escalation(self, resident_id: str, by: str, at: float) -> bool:
        return self._delete_audited(
            "DELETE FROM news2_escalations WHERE resident_id = ? RETURNING resident_id",
            (resident_id,),
            "INSERT INTO news2_escalation_changes (resident_id, at, actor) VALUES (?, ?, ?)",
            (resident_id, self._time_in(at), by),
        )

    def news2_escalation_changes(self, resident_id: str) -> list[News2EscalationChange]:
        rows = self._run(
            "SELECT resident_id, at, actor, urgent_from, emergency_from, red_score, reason"
            " FROM news2_escalation_changes WHERE resident_id = ? ORDER BY at, id",
            (resident_id,),
        )
        changes = []
        for r in rows:
            at = self._time_out(r[1])
            escalation = None if r[3] is None else News2Escalation(r[0], r[3], r[4], bool(r[5]), r[6], r[2], at)
            changes.append(News2EscalationChange(r[0], at, r[2], escalation))
        return changes

    def _set_audited(self, upsert: str, row: Sequence[Any], audit: str, audit_row: Sequence[Any]) -> None:
        """Set or replace a clinician's individual limit and write its audit row, in one transaction."""
        with self._transaction() as cur:
            cur.execute(self._sql(upsert), row)
            cur.execute(self._sql(audit), audit_row)

    def _delete_audited(self, delete: str, key: Sequence[Any], audit: str, audit_row: Sequence[Any]) -> bool:
        """Remove a clinician's individual limit (``delete`` returns the rows it removed) and write its audit row, in
        one transaction; False, and nothing written, when there was none."""
        with self._transaction() as cur:
            cur.execute(self._sql(delete), key)
            if not cur.fetchall():
                return False
            cur.execute(self._sql(audit), audit_row)
            return True

    def _escalation_out(self, row: Sequence[Any]) -> News2Escalation:
        return News2Escalation(row[0], row[1], row[2], bool(row[3]), row[4], row[5], self._time_out(row[6]))

    # Lifecycle: escalation, routing, deliveries ------------------------------------------------------------------
    def reopen_recent(self, draft: AlertDraft, since: float) -> Alert | None:
        try:
            return self._reopen_recent(draft, since)
        except _Lost:  # rolled back: the other worker's live alert stands
            return None

    def _reopen_recent(self, draft: AlertDraft, since: float) -> Alert | None:
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT alert_id FROM alerts a WHERE resident_id = ? AND rule = ? AND state = 'resolved'"
                    " AND resolved_by = 'system' AND resolved_at >= ? AND NOT EXISTS (SELECT 1 FROM alerts l"
                    " WHERE l.resident_id = a.resident_id AND l.rule = a.rule AND l.state <> 'resolved')"
                    " ORDER BY resolved_at DESC LIMIT 1"
                ),
                (draft.resident_id, draft.rule, self._time_in(since)),
            )
            found = cur.fetchone()
            if found is None:
                return None
            try:
                cur.execute(
                    self._sql(
                        "UPDATE alerts SET state = 'open', resolved_at = NULL, resolved_by = NULL, acknowledged_at"
                        " = NULL, acknowledged_by = NULL, updated_at = ? WHERE alert_id = ? AND state = 'resolved'"
                        f" RETURNING {ALERT_COLUMNS}"
                    ),
                    (self._time_in(draft.opened_at), found[0]),
                )
            except Exception as exc:
                if _unique_violation(exc):  # another worker opened a live alert meanwhile
                    raise _Lost from exc
                raise
            row = cur.fetchone()
            if row is None:
                return None
            alert = self._alert(row)
            self._audit(
                cur, alert.alert_id, draft.opened_at, AlertState.RESOLVED, AlertState.OPEN, "system",
                f"reopened: the condition returned within the flap window ({draft.explanation})",
            )  # fmt: skip
            return alert

    def snooze_alert(self, alert_id: int, actor: str, at: float, until: float, note: str = "") -> Alert:
        with self._transaction() as cur:
            alert = self._alert_by_id(cur, alert_id)
            if alert is None or alert.state is AlertState.RESOLVED:
                raise AlertConflict(alert, alert.state if alert else AlertState.OPEN)
            cur.execute(
                self._sql(
                    "INSERT INTO alert_snoozes (alert_id, until, actor, at, note) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (alert_id) DO UPDATE SET until = excluded.until, actor = excluded.actor,"
                    " at = excluded.at, note = excluded.note"
                ),
                (alert_id, self._time_in(until), actor, self._time_in(at), note),
            )
            cur.execute(
                self._sql(
                    "UPDATE escalations SET due_at = ? WHERE alert_id = ? AND fired_at IS NULL"
                    " AND cancelled_at IS NULL AND due_at < ?"
                ),
                (self._time_in(until), alert_id, self._time_in(until)),
            )
            text = f"snoozed until {until:.0f}" + (f": {note}" if note else "")
            self._audit(cur, alert_id, at, alert.state, alert.state, actor, text)
            return alert

    def snoozed_until(self, alert_id: int) -> float | None:
        rows = self._run("SELECT until FROM alert_snoozes WHERE alert_id = ?", (alert_id,))
        return self._time_out(rows[0][0]) if rows else None

    def upsert_contact_channels(self, channels: Sequence[ContactChannel]) -> None:
        self._upsert(
            "INSERT INTO contact_channels (contact_id, channel, address) VALUES (?, ?, ?)"
            " ON CONFLICT (contact_id, channel) DO UPDATE SET address = excluded.address",
            [(c.contact_id, c.channel, c.address) for c in channels],
        )

    def upsert_contact_preferences(self, preferences: Sequence[ContactPreference]) -> None:
        if not preferences:
            return
        with self._transaction() as cur:
            cur.executemany(
                self._sql(
                    "INSERT INTO contact_preferences (contact_id, timezone, quiet_start, quiet_end) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (contact_id) DO UPDATE SET timezone = excluded.timezone,"
                    " quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end"
                ),
                [(p.contact_id, p.timezone, p.quiet_start, p.quiet_end) for p in preferences],
            )
            cur.executemany(
                self._sql("DELETE FROM contact_rules WHERE contact_id = ?"), [(p.contact_id,) for p in preferences]
            )
            rules = [(p.contact_id, rule, severity.value) for p in preferences for rule, severity in p.rules]
            if rules:
                cur.executemany(
                    self._sql("INSERT INTO contact_rules (contact_id, rule, min_severity) VALUES (?, ?, ?)"), rules
                )

    def contact_channels(self, contact_ids: Sequence[str]) -> list[ContactChannel]:
        if not contact_ids:
            return []
        rows = self._run(
            f"SELECT contact_id, channel, address FROM contact_channels WHERE contact_id IN ({_marks(contact_ids)})"
            " ORDER BY contact_id, channel",
            tuple(contact_ids),
        )
        return [ContactChannel(*r) for r in rows]

    def contact_preferences(self, contact_ids: Sequence[str]) -> dict[str, ContactPreference]:
        if not contact_ids:
            return {}
        marks = _marks(contact_ids)
        rules: dict[str, list[tuple[str, Severity]]] = {}
        for contact_id, rule, severity in self._run(
            f"SELECT contact_id, rule, min_severity FROM contact_rules WHERE contact_id IN ({marks}) ORDER BY rule",
            tuple(contact_ids),
        ):
            rules.setdefault(contact_id, []).append((rule, Severity(severity)))
        rows = self._run(
            "SELECT contact_id, timezone, quiet_start, quiet_end FROM contact_preferences"
            f" WHERE contact_id IN ({marks})",
            tuple(contact_ids),
        )
        return {r[0]: ContactPreference(r[0], r[1], r[2], r[3], tuple(rules.get(r[0], ()))) for r in rows}

    def add_site_contacts(self, site_id: str, contact_ids: Sequence[str]) -> None:
        self._upsert(
            "INSERT INTO site_contacts (site_id, contact_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(site_id, c) for c in contact_ids],
        )

    def site_contacts(self, site_id: str) -> list[Contact]:
        rows = self._run(
            "SELECT c.contact_id, c.name, c.role, c.email, c.phone FROM site_contacts s"
            " JOIN contacts c ON c.contact_id = s.contact_id WHERE s.site_id = ? ORDER BY c.contact_id",
            (site_id,),
        )
        return [Contact(r[0], r[1], ContactRole(r[2]), r[3], r[4]) for r in rows]

    def add_on_call_shifts(self, shifts: Sequence[OnCallShift]) -> None:
        self._upsert(
            "INSERT INTO on_call_shifts (site_id, contact_id, starts_at, ends_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (site_id, contact_id, starts_at) DO UPDATE SET ends_at = excluded.ends_at",
            [(s.site_id, s.contact_id, self._time_in(s.starts_at), self._time_in(s.ends_at)) for s in shifts],
        )

    def on_call(self, site_id: str, at: float) -> list[Contact]:
        rows = self._run(
            "SELECT c.contact_id, c.name, c.role, c.email, c.phone FROM on_call_shifts s"
            " JOIN contacts c ON c.contact_id = s.contact_id WHERE s.site_id = ? AND s.starts_at <= ?"
            " AND s.ends_at > ? ORDER BY s.starts_at, c.contact_id",
            (site_id, self._time_in(at), self._time_in(at)),
        )
        return [Contact(r[0], r[1], ContactRole(r[2]), r[3], r[4]) for r in rows]

    def on_call_shifts(self, site_id: str, since: float) -> list[OnCallShift]:
        rows = self._run(
            "SELECT site_id, contact_id, starts_at, ends_at FROM on_call_shifts WHERE site_id = ? AND ends_at > ?"
            f" ORDER BY starts_at, contact_id LIMIT {MAX_SHIFTS}",
            (site_id, self._time_in(since)),
        )
        return [OnCallShift(r[0], r[1], self._time_out(r[2]), self._time_out(r[3])) for r in rows]

    def delete_on_call_shift(self, site_id: str, contact_id: str, starts_at: float) -> bool:
        rows = self._run(
            "DELETE FROM on_call_shifts WHERE site_id = ? AND contact_id = ? AND starts_at = ? RETURNING contact_id",
            (site_id, contact_id, self._time_in(starts_at)),
        )
        return bool(rows)

    def set_escalation_policy(self, site_id: str, severity: Severity, steps: Sequence[EscalationStep]) -> None:
        with self._transaction() as cur:
            cur.execute(
                self._sql("DELETE FROM escalation_policies WHERE site_id = ? AND severity = ?"),
                (site_id, severity.value),
            )
            if steps:
                cur.executemany(
                    self._sql(
                        "INSERT INTO escalation_policies (site_id, severity, stage, after_s, target)"
                        " VALUES (?, ?, ?, ?, ?)"
                    ),
                    [(site_id, severity.value, s.stage, s.after_s, s.target) for s in steps],
                )

    def escalation_policy(self, site_id: str, severity: Severity) -> list[EscalationStep] | None:
        rows = self._run(
            "SELECT stage, after_s, target FROM escalation_policies WHERE site_id = ? AND severity = ? ORDER BY stage",
            (site_id, severity.value),
        )
        return [EscalationStep(int(r[0]), float(r[1]), r[2]) for r in rows] or None

    def plan_escalation(self, alert_id: int, stages: Sequence[EscalationStage]) -> None:
        self._upsert(
            "INSERT INTO escalations (alert_id, stage, target, due_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (alert_id, stage) DO UPDATE SET due_at = excluded.due_at, cancelled_at = NULL"
            " WHERE escalations.fired_at IS NULL",
            [(alert_id, s.stage, s.target, self._time_in(s.due_at)) for s in stages],
        )

    def due_escalations(self, now: float, limit: int = 100) -> list[EscalationStage]:
        rows = self._run(
            f"SELECT {ESCALATION_COLUMNS} FROM escalations WHERE fired_at IS NULL AND cancelled_at IS NULL"
            " AND due_at <= ? ORDER BY due_at, alert_id, stage LIMIT ?",
            (self._time_in(now), limit),
        )
        return [self._stage(r) for r in rows]

    def claim_escalation(self, alert_id: int, stage: int, now: float) -> bool:
        with self._transaction() as cur:
            return self._claim_escalation(cur, StageClaim(alert_id, stage, now))

    def _claim_escalation(self, cur: Cursor, claim: StageClaim) -> bool:
        cur.execute(
            self._sql(
                "UPDATE escalations SET fired_at = ? WHERE alert_id = ? AND stage = ? AND fired_at IS NULL"
                " AND cancelled_at IS NULL AND due_at <= ?"
                " AND EXISTS (SELECT 1 FROM alerts a WHERE a.alert_id = escalations.alert_id AND a.state = 'open')"
                " RETURNING alert_id"
            ),
            (self._time_in(claim.at), claim.alert_id, claim.stage, self._time_in(claim.at)),
        )
        return cur.fetchone() is not None

    def escalations(self, alert_id: int) -> list[EscalationStage]:
        rows = self._run(f"SELECT {ESCALATION_COLUMNS} FROM escalations WHERE alert_id = ? ORDER BY stage", (alert_id,))
        return [self._stage(r) for r in rows]

    def record_deliveries(self, attempts: Sequence[DeliveryAttempt]) -> None:
        if attempts:
            with self._transaction() as cur:
                self._insert_deliveries(cur, attempts)

    def _insert_deliveries(self, cur: Cursor, attempts: Sequence[DeliveryAttempt]) -> None:
        cur.executemany(
            self._sql(f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            [(self._time_in(a.at), *astuple(a)[1:]) for a in attempts],
        )

    def deliveries(self, alert_id: int | None = None, limit: int = 500) -> list[DeliveryAttempt]:
        where, params = (" WHERE alert_id = ?", (alert_id,)) if alert_id is not None else ("", ())
        rows = self._run(f"SELECT {DELIVERY_COLUMNS} FROM deliveries{where} ORDER BY at, id LIMIT ?", (*params, limit))
        return [self._delivery(r) for r in rows]

    # The durable outbox -----------------------------------------------------------------------------------------
    def enqueue_outbox(
        self, items: Sequence[OutboxItem], now: float, limit: int, claim: StageClaim | None = None
    ) -> list[str] | None:
        with self._transaction() as cur:
            if claim is not None and not self._claim_escalation(cur, claim):
                return None
            pending: dict[str, int] = {}  # channel -> its pending messages, counted once per call
            outcomes = []
            for item in items:
                state, note = item.state, item.note
                if state == OUTBOX_PENDING:
                    if item.channel not in pending:
                        pending[item.channel] = self._pending_in(cur, item.channel, limit)
                    if pending[item.channel] >= limit:
                        state, note = "dropped", OUTBOX_FULL
                if not self._insert_outbox(cur, item, state, now):
                    outcomes.append(DUPLICATE)
                elif state == OUTBOX_PENDING:
                    pending[item.channel] += 1
                    outcomes.append(QUEUED)
                else:
                    self._insert_deliveries(cur, [_attempt_of(item, now, item.attempt, state, note)])
                    outcomes.append(state)
            return outcomes

    def _pending_in(self, cur: Cursor, channel: str, limit: int) -> int:
        cur.execute(
            self._sql("SELECT count(*) FROM (SELECT 1 FROM outbox WHERE channel = ? AND state = 'pending' LIMIT ?) p"),
            (channel, limit),
        )
        return int(cur.fetchone()[0])

    def _insert_outbox(self, cur: Cursor, item: OutboxItem, state: str, now: float) -> bool:
        cur.execute(
            self._sql(
                f"INSERT INTO outbox ({OUTBOX_COLUMNS}, created_at, settled_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key"
            ),
            (
                item.idempotency_key, item.channel, item.site_id, item.alert_id, item.contact_id, item.address,
                item.kind, json.dumps(item.message), state, item.attempt, self._time_in(item.due_at),
                self._time_in(now), None if state == OUTBOX_PENDING else self._time_in(now),
            ),
        )  # fmt: skip
        return cur.fetchone() is not None

    def claim_outbox(self, channel: str, now: float, owner: str, lease_s: float, limit: int = 1) -> list[OutboxItem]:
        free = "state = 'pending' AND (lease_until IS NULL OR lease_until <= ?)"
        at = self._time_in(now)
        rows = self._run(
            f"UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE {free} AND idempotency_key IN ("
            f" SELECT idempotency_key FROM outbox WHERE channel = ? AND due_at <= ? AND {free}"
            f" ORDER BY due_at, created_at LIMIT ?) RETURNING {OUTBOX_COLUMNS}",
            (owner, self._time_in(now + lease_s), at, channel, at, at, limit),
        )  # the outer condition again: of racing claimers, the later re-reads the row and finds it leased
        return sorted((self._outbox_item(r) for r in rows), key=lambda item: item.due_at)

    def settle_outbox(self, attempt: DeliveryAttempt, owner: str, retry_at: float | None = None) -> bool:
        mine = "WHERE idempotency_key = ? AND state = 'pending' AND lease_owner = ? RETURNING idempotency_key"
        with self._transaction() as cur:
            self._insert_deliveries(cur, [attempt])
            if retry_at is None:
                cur.execute(
                    self._sql(
                        "UPDATE outbox SET state = ?, attempt = ?, settled_at = ?, lease_owner = NULL,"
                        f" lease_until = NULL {mine}"
                    ),
                    (attempt.status, attempt.attempt, self._time_in(attempt.at), attempt.idempotency_key, owner),
                )
            else:
                cur.execute(
                    self._sql(
                        f"UPDATE outbox SET attempt = ?, due_at = ?, lease_owner = NULL, lease_until = NULL {mine}"
                    ),
                    (attempt.attempt + 1, self._time_in(retry_at), attempt.idempotency_key, owner),
                )
            return cur.fetchone() is not None

    def outbox(self, channel: str | None = None, pending_only: bool = False, limit: int = 500) -> list[OutboxItem]:
        clauses: list[str] = []
        params: list[Any] = []
        if channel is not None:
            clauses.append("channel = ?")
            params.append(channel)
        if pending_only:
            clauses.append("state = 'pending'")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._run(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox{where} ORDER BY created_at, idempotency_key LIMIT ?",
            (*params, limit),
        )
        return [self._outbox_item(r) for r in rows]

    def outbox_next_due(self, channel: str) -> float | None:
        rows = self._run(
            "SELECT min(CASE WHEN lease_until > due_at THEN lease_until ELSE due_at END) FROM outbox"
            " WHERE channel = ? AND state = 'pending'",
            (channel,),
        )
        return self._time_out_or_none(rows[0][0])

    def _outbox_item(self, r: Sequence[Any]) -> OutboxItem:
        return OutboxItem(
            r[0], r[1], r[2], None if r[3] is None else int(r[3]), r[4], r[5], r[6], self._json_out(r[7]), r[8],
            int(r[9]), self._time_out(r[10]),
        )  # fmt: skip

    def alerts_between(self, site_id: str | None, start: float, end: float) -> list[Alert]:
        site, params = _and_site("site_id", site_id)
        rows = self._run(
            f"SELECT {ALERT_COLUMNS} FROM alerts WHERE opened_at >= ? AND opened_at < ?{site}"
            f" ORDER BY opened_at, alert_id LIMIT {MAX_HISTORY_ROWS}",
            (self._time_in(start), self._time_in(end), *params),
        )
        return [self._alert(r) for r in rows]

    def escalations_between(self, site_id: str | None, start: float, end: float) -> list[EscalationStage]:
        site, params = _and_site("a.site_id", site_id)
        columns = ", ".join(f"e.{c.strip()}" for c in ESCALATION_COLUMNS.split(","))
        rows = self._run(
            f"SELECT {columns} FROM escalations e JOIN alerts a ON a.alert_id = e.alert_id"
            f" WHERE e.fired_at >= ? AND e.fired_at < ?{site} ORDER BY e.fired_at LIMIT {MAX_HISTORY_ROWS}",
            (self._time_in(start), self._time_in(end), *params),
        )
        return [self._stage(r) for r in rows]

    def deliveries_between(self, site_id: str | None, start: float, end: float) -> list[DeliveryAttempt]:
        site, params = _and_site("site_id", site_id)
        rows = self._run(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE at >= ? AND at < ?{site}"
            f" ORDER BY at, id LIMIT {MAX_HISTORY_ROWS}",
            (self._time_in(start), self._time_in(end), *params),
        )
        return [self._delivery(r) for r in rows]

    def _stage(self, r: Sequence[Any]) -> EscalationStage:
        maybe_time = self._time_out_or_none
        return EscalationStage(int(r[0]), int(r[1]), r[2], self._time_out(r[3]), maybe_time(r[4]), maybe_time(r[5]))

    def _delivery(self, r: Sequence[Any]) -> DeliveryAttempt:
        return DeliveryAttempt(
            self._time_out(r[0]),
            r[1],
            None if r[2] is None else int(r[2]),
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            int(r[8]),
            r[9],
            r[10],
        )

    # Alert core: rebuilding its state after a restart -------------------------------------------------------
    def replay_batch(
        self, start: float, end: float, metrics: Sequence[str] | None = None, events: bool = True, accel: bool = False
    ) -> Batch:
        window = (self._time_in(start), self._time_in(end))
        only = f" AND metric IN ({_marks(metrics)})" if metrics else ""
        readings = self._run(
            "SELECT time, site_id, device_id, resident_id, metric, value, seq, artefact FROM readings"
            f" WHERE time >= ? AND time < ?{only} ORDER BY time LIMIT {MAX_REPLAY_ROWS}",
            (*window, *(metrics or ())),
        )
        batch = Batch(
            readings=[
                ReadingRow(self._time_out(r[0]), r[1], r[2], r[3], r[4], float(r[5]), int(r[6]), bool(r[7]))
                for r in readings
            ]
        )
        if events:
            rows = self._run(
                "SELECT time, site_id, device_id, resident_id, kind, value, seq FROM events"
                f" WHERE time >= ? AND time < ? ORDER BY time LIMIT {MAX_REPLAY_ROWS}",
                window,
            )
            batch.events = [
                EventRow(self._time_out(r[0]), r[1], r[2], r[3], r[4], float(r[5]), int(r[6])) for r in rows
            ]
        if accel:
            rows = self._run(
                "SELECT time, site_id, device_id, resident_id, seq, rate_hz, x, y, z FROM accel"
                f" WHERE time >= ? AND time < ? ORDER BY time LIMIT {MAX_REPLAY_ROWS}",
                window,
            )
            batch.accel = [
                AccelRow(self._time_out(r[0]), r[1], r[2], r[3], int(r[4]), float(r[5]), _axes(r[6], r[7], r[8]))
                for r in rows
            ]
        return batch

    def reading_stats(self, start: float, end: float, metrics: Sequence[str], bucket_s: float) -> list[ReadingStats]:
        bucket = BUCKET_EXPRESSIONS[self.backend].format(w=_width(bucket_s))
        rows = self._run(
            f"SELECT resident_id, metric, {bucket} AS bucket, count(*), sum(value), sum(value * value) FROM readings"
            " WHERE time >= ? AND time < ? AND NOT artefact AND resident_id IS NOT NULL"
            f" AND metric IN ({_marks(metrics)})"
            f" GROUP BY resident_id, metric, bucket ORDER BY bucket LIMIT {MAX_STATS_ROWS}",
            (self._time_in(start), self._time_in(end), *metrics),
        )
        return [ReadingStats(r[0], r[1], self._time_out(r[2]), int(r[3]), float(r[4]), float(r[5])) for r in rows]

    def activity_buckets(self, start: float, end: float, kinds: Sequence[str], bucket_s: float) -> list[ActivityBucket]:
        bucket = BUCKET_EXPRESSIONS[self.backend].format(w=_width(bucket_s))
        rows = self._run(
            f"SELECT device_id, resident_id, {bucket} AS bucket, min(time), max(time), count(*) FROM events"
            f" WHERE time >= ? AND time < ? AND kind IN ({_marks(kinds)}) AND (kind <> 'motion' OR value >= 0.5)"
            f" GROUP BY device_id, resident_id, bucket ORDER BY bucket LIMIT {MAX_STATS_ROWS}",
            (self._time_in(start), self._time_in(end), *kinds),
        )
        return [
            ActivityBucket(r[0], r[1], self._time_out(r[2]), self._time_out(r[3]), self._time_out(r[4]), int(r[5]))
            for r in rows
        ]

    def device_events(self, device_ids: Sequence[str], kind: str, start: float, end: float) -> list[EventRow]:
        rows: list[Any] = []
        for at in range(0, len(device_ids), IDS_PER_QUERY):
            ids = device_ids[at : at + IDS_PER_QUERY]
            rows += self._run(
                "SELECT time, site_id, device_id, resident_id, kind, value, seq FROM events"
                f" WHERE device_id IN ({_marks(ids)}) AND kind = ? AND time >= ? AND time < ?"
                f" ORDER BY device_id, time LIMIT {MAX_STATS_ROWS - len(rows)}",
                (*ids, kind, self._time_in(start), self._time_in(end)),
            )
            if len(rows) >= MAX_STATS_ROWS:
                break
        return [EventRow(self._time_out(r[0]), r[1], r[2], r[3], r[4], float(r[5]), int(r[6])) for r in rows]

    def device_last_seen(self, since: float) -> dict[str, float]:
        since_in = self._time_in(since)
        rows = self._run(
            "SELECT device_id, max(newest) FROM ("
            " SELECT device_id, max(time) AS newest FROM readings WHERE time >= ? GROUP BY device_id"
            " UNION ALL SELECT device_id, max(time) AS newest FROM events WHERE time >= ? GROUP BY device_id"
            " UNION ALL SELECT device_id, max(time) AS newest FROM accel WHERE time >= ? GROUP BY device_id"
            ") seen GROUP BY device_id",
            (since_in, since_in, since_in),
        )
        return {r[0]: self._time_out(r[1]) for r in rows}

    def all_thresholds(self) -> list[Threshold]:
        rows = self._run(f"SELECT {THRESHOLD_COLUMNS} FROM resident_thresholds ORDER BY resident_id, metric, context")
        return [self._threshold_out(r) for r in rows]

    def all_news2_escalations(self) -> list[News2Escalation]:
        rows = self._run(f"SELECT {NEWS2_ESCALATION_COLUMNS} FROM news2_escalations ORDER BY resident_id")
        return [self._escalation_out(r) for r in rows]

    # History at scale: roll-ups, retention ---------------------------------------------------------------------
    def refresh_rollups(self, now: float) -> dict[str, int]:
        written: dict[str, int] = {}
        for rollup in rollups.ROLLUPS:
            if rollup.source == "readings":
                limit: float | None = now - rollup.settle_s
                column = "time"
            else:  # a roll-up of a roll-up goes as far as its source is complete
                limit = self.rollup_watermark(rollup.source)
                column = "bucket"
            watermark = self.rollup_watermark(rollup.name)
            oldest = None
            if watermark is None:
                first = self._run(f"SELECT min({column}) FROM {rollup.source}")[0][0]
                oldest = None if first is None else self._time_out(first)
            statement = self._sql(rollups.upsert_statement(rollup, self.backend))
            written[rollup.name] = 0
            for start, end in rollups.plan(rollup, watermark, oldest, limit) if limit is not None else []:
                with self._transaction() as cur:  # the buckets and the watermark commit together
                    cur.execute(statement, (self._time_in(start), self._time_in(end)))
                    written[rollup.name] += max(int(cur.rowcount), 0)
                    cur.execute(
                        self._sql(
                            "INSERT INTO rollup_watermarks (rollup, done_until, updated_at) VALUES (?, ?, ?)"
                            " ON CONFLICT (rollup) DO UPDATE SET done_until = excluded.done_until,"
                            " updated_at = excluded.updated_at WHERE rollup_watermarks.done_until < excluded.done_until"
                        ),
                        (rollup.name, self._time_in(end), self._time_in(now)),
                    )
        return written

    def _rollup_table(self, rollup: rollups.Rollup) -> str:
        """Where a roll-up's buckets are read from: our table (the full edition reads its continuous aggregate)."""
        return rollup.name

    def rollup_watermark(self, rollup: str) -> float | None:
        rows = self._run("SELECT done_until FROM rollup_watermarks WHERE rollup = ?", (rollup,))
        return self._time_out(rows[0][0]) if rows else None

    def history(self, resident_id: str, metric: str, start: float, end: float, bucket_s: float) -> list[Bucket]:
        rollup = history_source(end - start, bucket_s)
        watermark = self.rollup_watermark(rollup.name) if rollup is not None else None
        if rollup is None or watermark is None:
            return self.readings_bucketed(resident_id, metric, start, end, bucket_s)
        split = min(max(watermark, start), end)  # roll-up before the watermark, raw readings after it
        rolled: list[Bucket] = []
        if split > start:
            bucket = rollups.bucket_expression(self.backend, "bucket", _width(bucket_s))
            rows = self._run(
                f"SELECT {bucket} AS b, sum(samples), min(min), max(max), sum(total) FROM {self._rollup_table(rollup)}"
                " WHERE resident_id = ? AND metric = ? AND bucket >= ? AND bucket < ?"
                f" GROUP BY b ORDER BY b LIMIT {MAX_HISTORY_ROWS}",
                (
                    resident_id, metric, self._time_in(rollups.floor_to(start, rollup.width_s)),
                    self._time_in(split),
                ),
            )  # fmt: skip
            rolled = [
                Bucket(self._time_out(b), int(n), float(lo), float(hi), float(total) / int(n))
                for b, n, lo, hi, total in rows
            ]
        raw = self.readings_bucketed(resident_id, metric, split, end, bucket_s) if split < end else []
        return merge_buckets(rolled, raw)

    def alert_counts(self, site_id: str | None, start: float, end: float, bucket_s: float) -> list[tuple[float, int]]:
        bucket = rollups.bucket_expression(self.backend, "opened_at", _width(bucket_s))
        site, params = _and_site("site_id", site_id)
        rows = self._run(
            f"SELECT {bucket} AS b, count(*) FROM alerts WHERE opened_at >= ? AND opened_at < ?{site}"
            f" GROUP BY b ORDER BY b LIMIT {MAX_HISTORY_ROWS}",
            (self._time_in(start), self._time_in(end), *params),
        )
        return [(self._time_out(b), int(n)) for b, n in rows]

    def apply_retention(self, policy: RetentionPolicy, now: float) -> dict[str, Purged]:
        cutoffs = policy.cutoffs(now)
        # Rows a roll-up has not aggregated yet (or will recompute within its late margin) stay until it has.
        for table, rollup in (("readings", rollups.MINUTE), ("readings_1m", rollups.HOUR)):
            watermark = self.rollup_watermark(rollup.name)
            kept_from = -math.inf if watermark is None else watermark - rollup.late_margin_s
            cutoffs[table] = min(cutoffs[table], kept_from)
        purged: dict[str, Purged] = {}
        for table, column in retention.TIME_COLUMNS.items():
            if math.isinf(cutoffs[table]):
                purged[table] = Purged(0, 0)
                continue
            with self._transaction() as cur:
                purged[table] = self._purge_older(cur, table, column, cutoffs[table])
        purged.update(self._purge_alerts(cutoffs["alerts"]))
        return purged

    def _purge_older(self, cur: Cursor, table: str, column: str, cutoff: float) -> Purged:
        """Delete the rows of ``table`` whose ``column`` is before ``cutoff`` (TimescaleDB drops whole chunks first)."""
        cur.execute(self._sql(f"DELETE FROM {table} WHERE {column} < ?"), (self._time_in(cutoff),))
        return Purged(0, max(int(cur.rowcount), 0))

    def _purge_alerts(self, cutoff: float) -> dict[str, Purged]:
        """Resolved alerts older than the legal period, with their audit trail; live alerts are always kept."""
        old = "SELECT alert_id FROM alerts WHERE state = 'resolved' AND resolved_at < ?"
        at = self._time_in(cutoff)
        audit = 0
        with self._transaction() as cur:
            for table in ("deliveries", "outbox", "escalations", "alert_snoozes", "alert_transitions"):
                cur.execute(self._sql(f"DELETE FROM {table} WHERE alert_id IN ({old})"), (at,))
                audit += max(int(cur.rowcount), 0)
            cur.execute(self._sql("DELETE FROM deliveries WHERE alert_id IS NULL AND at < ?"), (at,))  # digests
            audit += max(int(cur.rowcount), 0)
            cur.execute(
                self._sql("DELETE FROM outbox WHERE alert_id IS NULL AND state <> 'pending' AND created_at < ?"), (at,)
            )
            audit += max(int(cur.rowcount), 0)
            cur.execute(self._sql(f"DELETE FROM alerts WHERE alert_id IN ({old})"), (at,))
            alerts = max(int(cur.rowcount), 0)
        return {"alerts": Purged(0, alerts), "alert_audit": Purged(0, audit)}


def _attempt_of(item: OutboxItem, at: float, attempt: int, status: str, error: str) -> DeliveryAttempt:
    return DeliveryAttempt(
        at, item.site_id, item.alert_id, item.contact_id, item.channel, item.address, item.kind,
        item.idempotency_key, attempt, status, error,
    )  # fmt: skip


def _site_filter(site_id: str | None) -> tuple[str, tuple[str, ...]]:
    return (" WHERE site_id = ?", (site_id,)) if site_id is not None else ("", ())


class _Lost(Exception):
    """A race lost to another worker inside a transaction (rolled back)."""


def _unique_violation(exc: Exception) -> bool:
    """A unique-index violation on either backend (psycopg's SQLSTATE 23505, SQLite's IntegrityError)."""
    return getattr(exc, "sqlstate", None) == "23505" or (
        isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)
    )


def _width(bucket_s: float) -> int:
    if bucket_s < 1:
        raise ValueError(f"bucket_s must be at least 1 s, not {bucket_s}")
    return int(bucket_s)


def _axes(x: Any, y: Any, z: Any) -> np.ndarray:
    """Stored accelerometer axes (float32 blobs on SQLite, float4[] on TimescaleDB) as (n, 3) float32."""

    def axis(a: Any) -> np.ndarray:
        return np.frombuffer(a, dtype="<f4") if isinstance(a, bytes | memoryview) else np.asarray(a, np.float32)

    return np.ascontiguousarray(np.column_stack([axis(x), axis(y), axis(z)]), dtype=np.float32)


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _and_site(column: str, site_id: str | None) -> tuple[str, tuple[str, ...]]:
    return (f" AND {column} = ?", (site_id,)) if site_id is not None else ("", ())


def _returns_rows(statement: str) -> bool:
    return statement.lstrip().upper().startswith(("SELECT", "SHOW")) or " RETURNING " in statement.upper()


@cache
def _format_style(statement: str) -> str:
    return statement.replace("%", "%%").replace("?", "%s")
