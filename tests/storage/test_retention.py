"""Retention on both backends: after the job nothing younger than a policy is gone and nothing older stays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carewatch.model import (
    AccelRow,
    AlertDraft,
    Batch,
    DeadLetter,
    EventRow,
    ReadingRow,
    Resident,
    Severity,
    Site,
    SiteKind,
)
from carewatch.storage.base import DeliveryAttempt, EscalationStage, Store
from carewatch.storage.retention import DAY_S, MAX_RETENTION_DAYS, RetentionPolicy

T0 = 1_764_374_400.0  # a midnight UTC
HOUR = 3600.0
NOW = T0 + 10 * HOUR
# Hours, so that the cutoffs fall inside chunks (readings: 1-hour chunks, accel: 30 minutes, events: 1 day).
POLICY = RetentionPolicy(
    accel_days=2.25 * HOUR / DAY_S, readings_days=5.5 * HOUR / DAY_S, events_days=7.75 * HOUR / DAY_S,
    readings_1m_days=8.5 * HOUR / DAY_S, readings_1h_days=9.5 * HOUR / DAY_S, dead_letters_days=3 * HOUR / DAY_S,
    alerts_days=4 * HOUR / DAY_S,
)  # fmt: skip
TIMES = [T0 + 97 * i for i in range(int(10 * HOUR / 97))]  # every 97 s: rows on both sides of every cutoff


def seed(store: Store) -> None:
    store.upsert_sites([Site("s1", "Sunrise Home", SiteKind.CARE_INSTITUTION)])
    store.upsert_residents([Resident("r1", "s1", "Wang Fang")])
    xyz = np.zeros((25, 3), dtype=np.float32)
    store.write_batch(
        Batch(
            readings=[ReadingRow(t, "s1", "w1", "r1", "hr", 70.0, i, False) for i, t in enumerate(TIMES)],
            events=[EventRow(t, "s1", "d1", None, "door", 1.0, i) for i, t in enumerate(TIMES)],
            accel=[AccelRow(t, "s1", "w1", "r1", i, 25.0, xyz) for i, t in enumerate(TIMES)],
            dead_letters=[DeadLetter(t, "carewatch/v1/x", "bad_json", "", b"{", 1) for t in TIMES[::10]],
        )
    )


def times(store: Store, table: str, column: str = "time") -> list[float]:
    rows = store._run(f"SELECT {column} FROM {table} ORDER BY {column}")  # type: ignore[attr-defined]
    return [store._time_out(r[0]) for r in rows]  # type: ignore[attr-defined]


def alert(store: Store, opened: float, resolved: float | None, rule: str) -> int:
    draft = AlertDraft("r1", "s1", rule, Severity.URGENT, opened, "t", "e", {})
    raised = store.raise_alert(draft)
    assert raised is not None
    store.plan_escalation(raised.alert_id, [EscalationStage(raised.alert_id, 1, "operators", opened + 60)])
    store.record_deliveries(
        [DeliveryAttempt(opened, "s1", raised.alert_id, "c1", "email", "a@b", "raised", f"k{rule}", 1, "delivered")]
    )
    if resolved is not None:
        store.resolve_alert(raised.alert_id, "op", resolved)
    return raised.alert_id


def test_nothing_younger_is_gone_and_nothing_older_stays(store: Store) -> None:
    seed(store)
    old_resolved = alert(store, T0, T0 + HOUR, "a_old")  # resolved 9 h ago: past the 4 h legal period
    young_resolved = alert(store, T0, T0 + 8 * HOUR, "a_young")
    live = alert(store, T0, None, "a_live")  # never deleted
    store.refresh_rollups(NOW)
    before = {
        "readings": times(store, "readings"), "events": times(store, "events"), "accel": times(store, "accel"),
        "dead_letters": times(store, "dead_letters", "received_at"),
        "readings_1m": times(store, "readings_1m", "bucket"), "readings_1h": times(store, "readings_1h", "bucket"),
    }  # fmt: skip
    purged = store.apply_retention(POLICY, NOW)
    cutoffs = POLICY.cutoffs(NOW)
    for table, was in before.items():
        column = {"dead_letters": "received_at", "readings_1m": "bucket", "readings_1h": "bucket"}.get(table, "time")
        assert times(store, table, column) == [t for t in was if t >= cutoffs[table]], table
        assert purged[table].rows + purged[table].chunks > 0, table
    if store.backend == "timescaledb":  # whole chunks went with drop_chunks; only the boundary chunk row by row
        boundary = [t for t in TIMES if T0 + 4 * HOUR <= t < cutoffs["readings"]]  # the chunk [4 h, 5 h)
        assert purged["readings"] == (4, len(boundary))
        assert purged["accel"].chunks == 15  # the 30-minute chunks of [0, 7.5 h); the cutoff is at 7.75 h
    ids = {a.alert_id for a in store.alerts(limit=10)}
    assert ids == {young_resolved, live}
    assert store.transitions(old_resolved) == [] and store.deliveries(old_resolved) == []
    assert store.escalations(old_resolved) == [] and len(store.transitions(young_resolved)) == 2
    assert purged["alerts"].rows == 1 and purged["alert_audit"].rows == 4  # 1 delivery, 1 stage, 2 transitions
    again = store.apply_retention(POLICY, NOW)  # idempotent
    assert all(p.rows == 0 and p.chunks == 0 for p in again.values())


def test_raw_readings_not_yet_rolled_up_are_kept(store: Store) -> None:
    seed(store)
    purged = store.apply_retention(POLICY, NOW)  # the roll-up job never ran: the raw readings all stay
    assert purged["readings"].rows == 0 and store.count("readings") == len(TIMES)
    store.refresh_rollups(T0 + 2 * HOUR)  # minutes done to 2 h (less the 10-minute margin recomputed next time)
    store.apply_retention(POLICY, NOW)
    kept = times(store, "readings")
    assert kept[0] >= T0 + 2 * HOUR - 600 - 60 and kept == [t for t in TIMES if t >= kept[0]]


def test_a_policy_must_be_positive_and_finite() -> None:
    for days in (0, -1, math.nan, math.inf, 1e300, 1e6):
        with pytest.raises(ValueError, match="accel"):
            RetentionPolicy(accel_days=days).cutoffs(NOW)


def test_the_longest_policy_runs_on_both_backends(store: Store) -> None:
    """A century (MAX_RETENTION_DAYS) for every table, the most a setting may ask: its cutoffs are times both
    backends hold (inf, 1e300 or 1e6 days failed every run on TimescaleDB: "timestamp out of range"); nothing goes."""
    seed(store)
    counts = {table: store.count(table) for table in ("readings", "events", "alerts")}
    days = MAX_RETENTION_DAYS
    store.apply_retention(RetentionPolicy(days, days, days, days, days, days, days), NOW)
    assert {table: store.count(table) for table in counts} == counts
