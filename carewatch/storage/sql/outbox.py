"""The durable outbox of deliveries (alerts/notify/dispatch.py): enqueue with the escalation stage's claim,
claim with a lease (one alert's messages to one target in the order queued), settle with the delivery's audit,
withdraw what an alert's reopening made untrue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from carewatch.storage.base import DUPLICATE, OUTBOX_PENDING, QUEUED, DeliveryAttempt, OutboxItem, StageClaim
from carewatch.storage.sql._core import Cursor
from carewatch.storage.sql.lifecycle import LifecycleSql

OUTBOX_COLUMNS = (
    "idempotency_key, channel, site_id, alert_id, contact_id, address, kind, message, state, attempt, due_at"
)
OUTBOX_FULL = "the delivery queue is full"  # the audit's error text of a message dropped at a full channel
# A pending message ("queued") that no earlier message about its alert to its target (contact, channel, address)
# is waiting for: an earlier one still pending (in its retries, being sent, deferred) goes first. Earlier: written
# before (created_at); a digest (no alert) waits for nothing.
FIRST_FOR_TARGET = (
    "NOT EXISTS (SELECT 1 FROM outbox earlier WHERE earlier.alert_id = queued.alert_id"
    " AND earlier.contact_id = queued.contact_id AND earlier.channel = queued.channel"
    " AND earlier.address = queued.address AND earlier.state = 'pending' AND earlier.created_at < queued.created_at)"
)


class OutboxSql(LifecycleSql):
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
                    if item.due_at > now:  # its first attempt later (the end of quiet hours): audited as such
                        self._insert_deliveries(cur, [_attempt_of(item, now, 0, "deferred", item.note)])
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
            f" SELECT idempotency_key FROM outbox queued WHERE channel = ? AND due_at <= ? AND {free}"
            f" AND {FIRST_FOR_TARGET} ORDER BY due_at, created_at LIMIT ?) RETURNING {OUTBOX_COLUMNS}",
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

    def withdraw_outbox(self, alert_id: int, kind: str, now: float, reason: str) -> list[OutboxItem]:
        with self._transaction() as cur:
            return self._withdraw(cur, "alert_id = ? AND kind = ?", (alert_id, kind), now, reason)

    def _withdraw(
        self, cur: Cursor, condition: str, params: Sequence[Any], now: float, reason: str
    ) -> list[OutboxItem]:
        at = self._time_in(now)
        cur.execute(
            self._sql(
                "UPDATE outbox SET state = 'superseded', settled_at = ? WHERE state = 'pending'"
                f" AND (lease_until IS NULL OR lease_until <= ?) AND {condition} RETURNING {OUTBOX_COLUMNS}"
            ),
            (at, at, *params),
        )
        withdrawn = [self._outbox_item(r) for r in cur.fetchall()]
        if withdrawn:
            self._insert_deliveries(cur, [_attempt_of(item, now, 0, "superseded", reason) for item in withdrawn])
        return withdrawn

    def outbox(
        self, channel: str | None = None, pending_only: bool = False, limit: int = 500, alert_id: int | None = None
    ) -> list[OutboxItem]:
        clauses: list[str] = []
        params: list[Any] = []
        if channel is not None:
            clauses.append("channel = ?")
            params.append(channel)
        if alert_id is not None:
            clauses.append("alert_id = ?")
            params.append(alert_id)
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
            "SELECT min(CASE WHEN lease_until > due_at THEN lease_until ELSE due_at END) FROM outbox queued"
            f" WHERE channel = ? AND state = 'pending' AND {FIRST_FOR_TARGET}",  # the earlier one's time counts
            (channel,),
        )
        return self._time_out_or_none(rows[0][0])

    def _outbox_item(self, r: Sequence[Any]) -> OutboxItem:
        return OutboxItem(
            r[0], r[1], r[2], None if r[3] is None else int(r[3]), r[4], r[5], r[6], self._json_out(r[7]), r[8],
            int(r[9]), self._time_out(r[10]),
        )  # fmt: skip


def _attempt_of(item: OutboxItem, at: float, attempt: int, status: str, error: str) -> DeliveryAttempt:
    return DeliveryAttempt(
        at, item.site_id, item.alert_id, item.contact_id, item.channel, item.address, item.kind,
        item.idempotency_key, attempt, status, error,
    )  # fmt: skip
