"""The part of the storage contract that both SQL backends share: registry, queries and alert transitions.

Statements are written once with ``?`` placeholders; a backend converts them and supplies the cursor, the time
and JSON conversions. Writing batches differs (COPY on TimescaleDB) and lives in each backend.
"""

from __future__ import annotations

import json
import time
from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from functools import cache
from typing import Any, Protocol

from carewatch.model import (
    Alert,
    AlertDraft,
    AlertState,
    AlertTransition,
    Contact,
    ContactLink,
    ContactRole,
    DeadLetter,
    Device,
    DeviceKind,
    Resident,
    Severity,
    Site,
    SiteKind,
)
from carewatch.storage.base import COUNTABLE_TABLES, MAX_HISTORY_ROWS, AlertConflict, Store

LATEST_LOOKBACK_S = 6 * 3600  # "latest" means within the last hours; older data is history, not the current state
ALERT_COLUMNS = (
    "alert_id, resident_id, site_id, rule, severity, state, opened_at, updated_at, title, explanation, evidence,"
    " acknowledged_at, acknowledged_by, resolved_at, resolved_by"
)


class Cursor(Protocol):
    def execute(self, query: Any, params: Sequence[Any] = ...) -> Any: ...
    def executemany(self, query: Any, params_seq: Any) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class SqlStore(Store):
    paramstyle_format = False  # True: the driver wants %s instead of ?

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


def _site_filter(site_id: str | None) -> tuple[str, tuple[str, ...]]:
    return (" WHERE site_id = ?", (site_id,)) if site_id is not None else ("", ())


def _returns_rows(statement: str) -> bool:
    return statement.lstrip().upper().startswith("SELECT") or " RETURNING " in statement.upper()


@cache
def _format_style(statement: str) -> str:
    return statement.replace("%", "%%").replace("?", "%s")
