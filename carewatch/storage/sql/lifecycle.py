"""Escalation and routing: contact channels and preferences, site contacts, the on-call rota, escalation
policies and stages, delivery attempts; the records a report reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple
from typing import Any

from carewatch.model import Contact, ContactRole, Severity
from carewatch.storage.base import (
    ContactChannel,
    ContactPreference,
    DeliveryAttempt,
    EscalationStage,
    EscalationStep,
    OnCallShift,
    StageClaim,
)
from carewatch.storage.sql._core import Cursor, SqlCore, placeholders

ESCALATION_COLUMNS = "alert_id, stage, target, due_at, fired_at, cancelled_at"
DELIVERY_COLUMNS = "at, site_id, alert_id, contact_id, channel, address, kind, idempotency_key, attempt, status, error"
MAX_SHIFTS = 1_000  # a site's current and upcoming shifts listed at most: months of a busy rota


class LifecycleSql(SqlCore):
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
            "SELECT contact_id, channel, address FROM contact_channels"
            f" WHERE contact_id IN ({placeholders(contact_ids)}) ORDER BY contact_id, channel",
            tuple(contact_ids),
        )
        return [ContactChannel(*r) for r in rows]

    def delete_contact_channel(self, contact_id: str, channel: str) -> bool:
        rows = self._run(
            "DELETE FROM contact_channels WHERE contact_id = ? AND channel = ? RETURNING contact_id",
            (contact_id, channel),
        )
        return bool(rows)

    def contact_preferences(self, contact_ids: Sequence[str]) -> dict[str, ContactPreference]:
        if not contact_ids:
            return {}
        marks = placeholders(contact_ids)
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

    def delete_site_contact(self, site_id: str, contact_id: str, now: float) -> bool:
        return self._untie(
            "DELETE FROM site_contacts WHERE site_id = ? AND contact_id = ? RETURNING site_id",
            (site_id, contact_id), contact_id, now,
        )  # fmt: skip

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
        return [self._shift(r) for r in rows]

    def delete_on_call_shift(self, site_id: str, contact_id: str, starts_at: float) -> bool:
        rows = self._run(
            "DELETE FROM on_call_shifts WHERE site_id = ? AND contact_id = ? AND starts_at = ? RETURNING contact_id",
            (site_id, contact_id, self._time_in(starts_at)),
        )
        return bool(rows)

    def set_escalation_policy(self, site_id: str, severity: Severity, steps: Sequence[EscalationStep]) -> None:
        key = (site_id, severity.value)
        with self._transaction() as cur:
            cur.execute(self._sql("DELETE FROM escalation_policies WHERE site_id = ? AND severity = ?"), key)
            cur.execute(
                self._sql(
                    "INSERT INTO escalation_policies_set (site_id, severity) VALUES (?, ?) ON CONFLICT DO NOTHING"
                ),
                key,
            )
            if steps:
                cur.executemany(
                    self._sql(
                        "INSERT INTO escalation_policies (site_id, severity, stage, after_s, target)"
                        " VALUES (?, ?, ?, ?, ?)"
                    ),
                    [(site_id, severity.value, s.stage, s.after_s, s.target) for s in steps],
                )

    def delete_escalation_policy(self, site_id: str, severity: Severity) -> bool:
        key = (site_id, severity.value)
        with self._transaction() as cur:
            cur.execute(self._sql("DELETE FROM escalation_policies WHERE site_id = ? AND severity = ?"), key)
            steps = cur.rowcount
            cur.execute(self._sql("DELETE FROM escalation_policies_set WHERE site_id = ? AND severity = ?"), key)
            return steps + cur.rowcount > 0

    def escalation_policy(self, site_id: str, severity: Severity) -> list[EscalationStep] | None:
        # The steps, and a row of NULLs if the policy was set: set without steps is [] (never escalate), not None.
        rows = self._run(
            "SELECT stage, after_s, target FROM escalation_policies WHERE site_id = ? AND severity = ?"
            " UNION ALL SELECT NULL, NULL, NULL FROM escalation_policies_set WHERE site_id = ? AND severity = ?"
            " ORDER BY stage",
            (site_id, severity.value) * 2,
        )
        if not rows:
            return None
        return [EscalationStep(int(r[0]), float(r[1]), r[2]) for r in rows if r[0] is not None]

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

    def fired_escalations(self, alert_ids: Sequence[int]) -> dict[int, EscalationStage]:
        if not alert_ids:
            return {}
        among, params = self._and_in("alert_id", alert_ids)
        rows = self._run(
            f"SELECT {ESCALATION_COLUMNS} FROM escalations WHERE fired_at IS NOT NULL{among} ORDER BY fired_at, stage",
            params,
        )
        return {stage.alert_id: stage for stage in map(self._stage, rows)}  # the newest last: it stays

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
