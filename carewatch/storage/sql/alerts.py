"""Alerts and their audited transitions: raise (one live alert per resident and rule), acknowledge, resolve,
snooze, reopen a recently resolved one; alert queries."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from carewatch.model import Alert, AlertDraft, AlertState, AlertTransition, snooze_note
from carewatch.storage.base import AlertConflict, snooze_delay
from carewatch.storage.sql._core import ALERT_COLUMNS, Cursor, SqlCore, site_filter


class AlertsSql(SqlCore):
    def raise_alert(self, draft: AlertDraft, raised_at: float | None = None) -> Alert | None:
        raised = draft.opened_at if raised_at is None else raised_at
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO alerts (resident_id, site_id, rule, severity, state, opened_at, raised_at, updated_at,"
                    " title, explanation, evidence) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (resident_id, rule) WHERE state <> 'resolved' DO NOTHING"
                    f" RETURNING {ALERT_COLUMNS}"
                ),
                (
                    draft.resident_id, draft.site_id, draft.rule, draft.severity.value, self._time_in(draft.opened_at),
                    self._time_in(raised), self._time_in(raised), draft.title, draft.explanation,
                    json.dumps(draft.evidence),
                ),
            )  # fmt: skip
            row = cur.fetchone()
            if row is None:
                return None
            alert = self._alert(row)
            self._audit(cur, alert.alert_id, raised, None, AlertState.OPEN, "system", draft.explanation)
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
            "SELECT alert_id, raised_at FROM alerts WHERE resident_id = ? AND rule = ? AND state <> 'resolved'",
            (resident_id, rule),
        )
        if not rows:
            return None
        try:  # never before its raise: a condition over before carewatch learned of it (a backlog) ends as raised
            return self.resolve_alert(int(rows[0][0]), actor, max(at, self._time_out(rows[0][1])), note)
        except AlertConflict:
            return None  # resolved by someone else in between

    def alert(self, alert_id: int) -> Alert | None:
        with self._transaction() as cur:
            return self._alert_by_id(cur, alert_id)

    def alerts(self, site_id: str | None = None, live_only: bool = False, limit: int = 200) -> list[Alert]:
        where, params = site_filter(site_id)
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

    def reopen_recent(self, draft: AlertDraft, since: float, at: float | None = None) -> Alert | None:
        try:
            return self._reopen_recent(draft, since, draft.opened_at if at is None else at)
        except _Lost:  # rolled back: the other worker's live alert stands
            return None

    def _reopen_recent(self, draft: AlertDraft, since: float, at: float) -> Alert | None:
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
                    (self._time_in(at), found[0]),
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
                cur, alert.alert_id, at, AlertState.RESOLVED, AlertState.OPEN, "system",
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
            self._hold_escalation(cur, alert_id, until)
            self._audit(cur, alert_id, at, alert.state, alert.state, actor, snooze_note(until, note))
            return alert

    def _hold_escalation(self, cur: Cursor, alert_id: int, until: float) -> None:
        """Move the alert's pending stages by one delay (`snooze_delay`), keeping their spacing."""
        cur.execute(
            self._sql(
                "SELECT stage, due_at FROM escalations WHERE alert_id = ? AND fired_at IS NULL AND cancelled_at IS NULL"
            ),
            (alert_id,),
        )
        pending = [(stage, self._time_out(due_at)) for stage, due_at in cur.fetchall()]
        delay = snooze_delay([due_at for _, due_at in pending], until)
        if delay > 0:
            cur.executemany(
                self._sql("UPDATE escalations SET due_at = ? WHERE alert_id = ? AND stage = ? AND fired_at IS NULL"),
                [(self._time_in(due_at + delay), alert_id, stage) for stage, due_at in pending],
            )

    def snoozes(self, alert_ids: Sequence[int]) -> dict[int, float]:
        if not alert_ids:
            return {}
        among, params = self._and_in("alert_id", alert_ids)
        rows = self._run(f"SELECT alert_id, until FROM alert_snoozes WHERE true{among}", params)
        return {int(alert_id): self._time_out(until) for alert_id, until in rows}


class _Lost(Exception):
    """A race lost to another worker inside a transaction (rolled back)."""


def _unique_violation(exc: Exception) -> bool:
    """A unique-index violation on either backend (psycopg's SQLSTATE 23505, SQLite's IntegrityError)."""
    return getattr(exc, "sqlstate", None) == "23505" or (
        isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)
    )
