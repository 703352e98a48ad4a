"""A clinician's per-resident limits: thresholds and NEWS2 escalations, each change audited."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from carewatch.storage.base import (
    News2Escalation,
    News2EscalationChange,
    Threshold,
    ThresholdChange,
    ThresholdContext,
    threshold_context_problem,
)
from carewatch.storage.sql._core import SqlCore

THRESHOLD_COLUMNS = "resident_id, metric, low, high, reason, updated_at, updated_by, context"
THRESHOLD_CHANGE_COLUMNS = "resident_id, metric, low, high, reason, at, actor, context"  # a set: THRESHOLD_COLUMNS'
NEWS2_ESCALATION_COLUMNS = "resident_id, urgent_from, emergency_from, red_score, reason, set_by, set_at"


class LimitsSql(SqlCore):
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

    def all_thresholds(self) -> list[Threshold]:
        rows = self._run(f"SELECT {THRESHOLD_COLUMNS} FROM resident_thresholds ORDER BY resident_id, metric, context")
        return [self._threshold_out(r) for r in rows]

    def all_news2_escalations(self) -> list[News2Escalation]:
        rows = self._run(f"SELECT {NEWS2_ESCALATION_COLUMNS} FROM news2_escalations ORDER BY resident_id")
        return [self._escalation_out(r) for r in rows]
