"""The storage contract, run against every backend (SQLite and a real TimescaleDB)."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from typing import Any

import numpy as np
import psycopg
import pytest
from storage_support import (
    predate_alert_raise_times,
    predate_delivery_states,
    predate_threshold_contexts,
    predate_threshold_reasons,
)

from carewatch.model import (
    AccelRow,
    AlertDraft,
    AlertState,
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
from carewatch.storage.base import (
    DUPLICATE,
    QUEUED,
    AlertConflict,
    DeliveryAttempt,
    News2Escalation,
    News2EscalationChange,
    OutboxItem,
    Role,
    StorageError,
    Store,
    Threshold,
    ThresholdChange,
    ThresholdContext,
    User,
)
from carewatch.storage.sql import LEGACY_REASON, SqlStore

T0 = 1_764_412_800.0


def seed(store: Store) -> None:
    store.upsert_sites([Site("s1", "Sunrise Home", SiteKind.CARE_INSTITUTION), Site("h1", "Li home", SiteKind.HOME)])
    store.upsert_residents([Resident("r1", "s1", "Wang Fang", "101"), Resident("r2", "h1", "Li Wei", spo2_scale=2)])
    store.upsert_devices(
        [
            Device("w1", "s1", DeviceKind.WEARABLE, "r1"),
            Device("w2", "h1", DeviceKind.WEARABLE, "r2"),
            Device("door1", "h1", DeviceKind.DOOR, None, "hall", "front_door"),
        ]
    )


def reading(ts: float, value: float, metric: str = "spo2", device: str = "w1", artefact: bool = False) -> ReadingRow:
    resident, site = ("r1", "s1") if device == "w1" else ("r2", "h1")
    return ReadingRow(ts, site, device, resident, metric, value, int(ts - T0), artefact)


def draft(resident: str = "r1", rule: str = "spo2_low", at: float = T0) -> AlertDraft:
    return AlertDraft(resident, "s1", rule, Severity.URGENT, at, "SpO2 low", "SpO2 below 90 % for 60 s", {"n": 3})


def test_registry_round_trip_and_upsert(store: Store) -> None:
    seed(store)
    store.upsert_residents([Resident("r1", "s1", "Wang Fang", "102", 1938)])  # moved room: updated, not duplicated
    assert [s.site_id for s in store.sites()] == ["h1", "s1"]
    assert store.residents("s1") == [Resident("r1", "s1", "Wang Fang", "102", 1938)]
    assert len(store.residents()) == 2
    assert store.resident("r2") == Resident("r2", "h1", "Li Wei", spo2_scale=2)
    assert store.resident("nobody") is None
    assert store.devices()[0] == Device("door1", "h1", DeviceKind.DOOR, None, "hall", "front_door")
    store.upsert_contacts(
        [Contact("c1", "Wang Min", ContactRole.FAMILY, email="min@example.org")],
        [ContactLink("r1", "c1", "daughter")],
    )
    [(contact, link)] = store.contacts_of("r1")
    assert contact.email == "min@example.org" and link.relation == "daughter"


def test_every_registry_write_raises_the_registry_generation_with_its_rows(store: Store) -> None:
    generations = [store.registry_generation()]
    seed(store)  # sites, residents, devices: one write each
    generations.append(store.registry_generation())
    store.upsert_devices([Device("w3", "s1", DeviceKind.WEARABLE, "r1")])
    generations.append(store.registry_generation())
    store.upsert_devices([])
    store.upsert_contacts([Contact("c1", "Wang Min", ContactRole.FAMILY)], [])  # not what ingest reads
    generations.append(store.registry_generation())
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.ForeignKeyViolation)):
        store.upsert_devices([Device("w4", "nowhere", DeviceKind.WEARABLE, None)])  # rolled back with its bump
    generations.append(store.registry_generation())
    assert [g - generations[0] for g in generations] == [0, 3, 4, 4, 4]


def test_contacts_linked_or_not_their_links_and_unlinking(store: Store) -> None:
    seed(store)
    store.upsert_contacts(
        [
            Contact("op", "Nurse Liu", ContactRole.OPERATOR),
            Contact("fam", "Wang Min", ContactRole.FAMILY, phone="+86 139"),
            Contact("doc", "Dr Chen", ContactRole.CLINICIAN),
        ],
        [ContactLink("r2", "doc", "GP"), ContactLink("r1", "fam", "daughter"), ContactLink("r1", "doc", "GP", 2)],
    )
    assert [c.contact_id for c in store.contacts()] == ["doc", "fam", "op"]  # "op" linked to nobody
    assert store.contacts()[1] == Contact("fam", "Wang Min", ContactRole.FAMILY, phone="+86 139")
    assert [c.contact_id for c in store.contacts(["op", "nobody", "fam"])] == ["fam", "op"]  # those that exist
    assert store.contacts([]) == []
    assert store.contact_links() == [
        ContactLink("r2", "doc", "GP"), ContactLink("r1", "doc", "GP", 2), ContactLink("r1", "fam", "daughter"),
    ]  # fmt: skip
    assert store.delete_contact_link("r1", "doc", T0) is True
    assert store.delete_contact_link("r1", "doc", T0) is False  # no longer linked
    assert store.delete_contact_link("r1", "op", T0) is False  # never linked
    assert [k.contact_id for _, k in store.contacts_of("r1")] == ["fam"]
    assert [k.resident_id for k in store.contact_links() if k.contact_id == "doc"] == ["r2"]
    assert len(store.contacts()) == 3  # the contact stays


def test_write_batch_skips_duplicates(store: Store) -> None:
    seed(store)
    xyz = np.tile(np.array([0.0, -1.0, 0.02], dtype=np.float32), (50, 1))
    batch = Batch(
        readings=[reading(T0, 97), reading(T0 + 5, 96), reading(T0 + 5, 96), reading(T0, 71, "hr")],
        events=[EventRow(T0, "h1", "door1", None, "door", 1.0, 3)],
        accel=[AccelRow(T0, "s1", "w1", "r1", 9, 50.0, xyz)],
        dead_letters=[DeadLetter(T0, "carewatch/v1/x/y/vitals", "unknown_device", "y", b"{}", 2)],
    )
    first = store.write_batch(batch)
    assert (first.readings, first.events, first.accel, first.duplicates, first.dead_letters) == (3, 1, 1, 1, 1)
    again = store.write_batch(batch)  # a redelivered batch: every row is a duplicate, dead letters are kept
    assert (again.readings, again.events, again.accel, again.duplicates) == (0, 0, 0, 6)
    assert store.count("readings") == 3 and store.count("events") == 1 and store.count("accel") == 1
    assert store.count("dead_letters") == 2
    assert store.dead_letters(1)[0].reason == "unknown_device"


def test_history_and_latest_ignore_artefacts(store: Store) -> None:
    seed(store)
    now = __import__("time").time()
    rows = [reading(now - 30, 97), reading(now - 20, 40, artefact=True), reading(now - 10, 95), reading(now, 70, "hr")]
    store.write_batch(Batch(readings=rows))
    assert store.readings("r1", "spo2", now - 60, now) == [(pytest.approx(now - 30), 97), (pytest.approx(now - 10), 95)]
    assert store.readings("r1", "spo2", now - 15, now) == [(pytest.approx(now - 10), 95)]
    latest = store.latest_readings()
    assert latest["r1"]["spo2"] == (pytest.approx(now - 10), 95)
    assert latest["r1"]["hr"][1] == 70
    assert store.latest_readings("h1") == {}


def test_latest_device_readings_are_each_devices_newest_plausible_one(store: Store) -> None:
    seed(store)
    store.upsert_devices([Device("w3", "h1", DeviceKind.WEARABLE, "r2")])  # r2's second wearable
    rows = [
        reading(T0, 1, "worn"),
        reading(T0 + 60, 0, "worn"),
        reading(T0 + 120, 7, "worn", artefact=True),  # the newest, implausible: says nothing
        reading(T0 + 200, 72, "hr"),  # another metric
        reading(T0 - 600, 0, "worn", "w2"),  # before ``since``
        reading(T0 + 30, 0, "worn", "w2"),
        reading(T0 + 90, 1, "worn", "w2"),
        reading(T0 + 100, 70, "hr", "w3"),  # no worn reading at all
    ]
    store.write_batch(Batch(readings=rows))
    assert store.latest_device_readings("worn", T0 - 300) == {"w1": (T0 + 60, 0.0), "w2": (T0 + 90, 1.0)}
    assert store.latest_device_readings("worn", T0 + 61) == {"w2": (T0 + 90, 1.0)}  # w1: only the artefact since then
    assert store.latest_device_readings("hr", T0) == {"w1": (T0 + 200, 72.0), "w3": (T0 + 100, 70.0)}
    assert store.latest_device_readings("spo2", T0) == {}


def test_one_live_alert_per_resident_and_rule(store: Store) -> None:
    seed(store)
    alert = store.raise_alert(draft())
    assert alert is not None and alert.state is AlertState.OPEN and alert.evidence == {"n": 3}
    assert store.raise_alert(draft(at=T0 + 10)) is None  # the repeat does not duplicate it
    assert store.raise_alert(draft(rule="hr_high")) is not None  # another rule is another alert
    resolved = store.resolve_live("r1", "spo2_low", "system", T0 + 60, "condition cleared")
    assert resolved is not None and resolved.state is AlertState.RESOLVED
    assert store.resolve_live("r1", "spo2_low", "system", T0 + 61) is None
    assert store.raise_alert(draft(at=T0 + 120)) is not None  # after resolution a new episode opens a new alert
    assert len(store.alerts(live_only=True)) == 2 and len(store.alerts()) == 3


def test_acknowledge_then_resolve_is_audited(store: Store) -> None:
    seed(store)
    alert = store.raise_alert(draft())
    assert alert is not None
    acked = store.acknowledge_alert(alert.alert_id, "operator:zhang", T0 + 30, "calling the room")
    assert acked.state is AlertState.ACKNOWLEDGED and acked.acknowledged_by == "operator:zhang"
    with pytest.raises(AlertConflict):
        store.acknowledge_alert(alert.alert_id, "operator:li", T0 + 31)
    done = store.resolve_alert(alert.alert_id, "operator:zhang", T0 + 90)
    assert done.resolved_at == pytest.approx(T0 + 90)
    with pytest.raises(AlertConflict):
        store.resolve_alert(alert.alert_id, "operator:zhang", T0 + 91)
    trail = [(t.from_state, t.to_state, t.actor) for t in store.transitions(alert.alert_id)]
    assert trail == [
        (None, AlertState.OPEN, "system"),
        (AlertState.OPEN, AlertState.ACKNOWLEDGED, "operator:zhang"),
        (AlertState.ACKNOWLEDGED, AlertState.RESOLVED, "operator:zhang"),
    ]


def test_racing_acknowledgements_have_one_winner(store: Store) -> None:
    seed(store)
    alert = store.raise_alert(draft())
    assert alert is not None
    outcomes: list[str] = []

    def acknowledge(who: str) -> None:
        try:
            store.acknowledge_alert(alert.alert_id, who, T0 + 5)
            outcomes.append("won")
        except AlertConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=acknowledge, args=(f"operator:{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "won"]
    assert len(store.transitions(alert.alert_id)) == 2


# History, users, sessions, thresholds (the dashboard's part of the contract) ---------------------------------------


def test_readings_bucketed_are_epoch_aligned(store: Store) -> None:
    seed(store)
    week = 7 * 86400
    base = (
        T0 // week + 1
    ) * week + 3 * 86400  # a Sunday midnight: not on a 7-day boundary of time_bucket's default origin
    rows = [reading(base + 60 * i, 90 + i % 5) for i in range(120)]  # two hours of one reading a minute
    rows += [reading(base + 30, 40, artefact=True), reading(base + 30, 70, "hr")]
    store.write_batch(Batch(readings=rows))
    hourly = store.readings_bucketed("r1", "spo2", base - 3600, base + 7200, 3600)
    assert [b.start for b in hourly] == [pytest.approx(base), pytest.approx(base + 3600)]  # no empty bucket
    first = hourly[0]
    assert (first.samples, first.min, first.max) == (60, 90, 94)
    assert first.mean == pytest.approx(sum(90 + i % 5 for i in range(60)) / 60)
    weekly = store.readings_bucketed("r1", "spo2", base - week, base + 86400, week)
    assert [(b.start, b.samples) for b in weekly] == [(pytest.approx(base - 3 * 86400), 120)]
    assert store.readings_bucketed("r1", "spo2", base + 7200, base + 9000, 60) == []


def test_alerts_matching_filters(store: Store) -> None:
    seed(store)
    store.upsert_residents([Resident("r3", "s1", "Zhao Lei")])
    a = store.raise_alert(draft("r1", "spo2_low", T0))
    b = store.raise_alert(draft("r3", "hr_high", T0 + 10))
    assert a is not None and b is not None
    store.acknowledge_alert(b.alert_id, "operator:li", T0 + 20)
    assert [x.alert_id for x in store.alerts_matching(site_ids=["s1"])] == [b.alert_id, a.alert_id]
    assert [x.alert_id for x in store.alerts_matching(resident_ids=["r1"])] == [a.alert_id]
    assert [x.alert_id for x in store.alerts_matching(states=[AlertState.ACKNOWLEDGED])] == [b.alert_id]
    assert [x.alert_id for x in store.alerts_matching(rule="spo2_low", since=T0, until=T0 + 5)] == [a.alert_id]
    assert store.alerts_matching(site_ids=[]) == [] and store.alerts_matching(site_ids=["h1"]) == []
    assert store.alerts_matching(severities=["critical"]) == []


def test_users_sessions_and_thresholds(store: Store) -> None:
    seed(store)
    family = User("min", "Wang Min", Role.FAMILY, resident_ids=("r1",))
    with pytest.raises(StorageError):
        store.save_user(family)  # a new user needs a password
    store.save_user(family, "hash-1")
    store.save_user(User("zhang", "Zhang Operator", Role.OPERATOR, site_ids=("s1", "h1")), "hash-2")
    assert store.user("min") == family
    assert store.password_hash("min") == "hash-1"
    store.save_user(User("min", "Wang Min", Role.FAMILY, resident_ids=("r1", "r2")))  # None keeps the password
    assert store.password_hash("min") == "hash-1"
    assert [u.username for u in store.users()] == ["min", "zhang"]
    assert store.user("zhang") == User("zhang", "Zhang Operator", Role.OPERATOR, site_ids=("h1", "s1"))

    store.create_session("t1", "min", T0, T0 + 3600)
    assert store.session_user("t1", T0 + 10) == User("min", "Wang Min", Role.FAMILY, resident_ids=("r1", "r2"))
    assert store.session_user("t1", T0 + 3600) is None  # expired
    assert store.session_user("nope", T0) is None
    store.create_session("t2", "min", T0, T0 + 60)
    assert store.purge_sessions(T0 + 3600) == 2
    store.create_session("t3", "min", T0, T0 + 3600)
    store.save_user(User("min", "Wang Min", Role.FAMILY, active=False))
    assert store.session_user("t3", T0) is None and store.password_hash("min") is None  # deactivated
    store.delete_session("t3")
    assert store.delete_user("min") and not store.delete_user("min")


def test_thresholds_are_set_replaced_removed_and_audited(store: Store) -> None:
    seed(store)
    assert store.thresholds("r1") == [] and store.threshold_changes("r1") == []
    first = Threshold("r1", "spo2", 92, None, "COPD, usual 92 % at rest", T0, "dr:chen")
    second = Threshold("r1", "spo2", 90, None, "COPD, lower at night", T0 + 5, "dr:li")
    pulse = Threshold("r1", "hr", 45, 110, "fit sleeper: pulse 45 asleep", T0 + 10, "dr:chen")
    other = Threshold("r2", "hr", None, 120, "AF, rate control", T0 + 15, "dr:li")
    for threshold in (first, second, pulse, other):
        store.set_threshold(threshold)  # the second replaces the first, not duplicates it
    assert store.thresholds("r1") == [pulse, second] and store.thresholds("r2") == [other]
    assert store.all_thresholds() == [pulse, second, other]
    assert store.delete_threshold("r1", "hr", "dr:wu", T0 + 20)
    assert not store.delete_threshold("r1", "hr", "dr:wu", T0 + 25)  # nothing to remove: no audit row either
    assert store.thresholds("r1") == [second]
    assert store.threshold_changes("r1") == [
        ThresholdChange("r1", "spo2", T0, "dr:chen", first),
        ThresholdChange("r1", "spo2", T0 + 5, "dr:li", second),
        ThresholdChange("r1", "hr", T0 + 10, "dr:chen", pulse),
        ThresholdChange("r1", "hr", T0 + 20, "dr:wu", None),
    ]
    assert store.threshold_changes("r2") == [ThresholdChange("r2", "hr", T0 + 15, "dr:li", other)]


def test_a_threshold_and_its_audit_row_are_written_together(store: Store) -> None:
    seed(store)
    kept = Threshold("r1", "hr", 45, 110, "fit sleeper: pulse 45 asleep", T0, "dr:chen")
    store.set_threshold(kept)
    store._run("DROP TABLE resident_threshold_changes")  # type: ignore[attr-defined]  # every audit write fails
    with pytest.raises((sqlite3.Error, psycopg.Error), match="resident_threshold_changes"):
        store.set_threshold(Threshold("r1", "spo2", 88, None, "COPD", T0 + 5, "dr:li"))
    with pytest.raises((sqlite3.Error, psycopg.Error), match="resident_threshold_changes"):
        store.delete_threshold("r1", "hr", "dr:li", T0 + 10)
    assert store.thresholds("r1") == [kept]  # neither change without its audit row


def test_a_database_from_before_threshold_reasons_is_brought_up_to_date(store: Store) -> None:
    seed(store)
    predate_threshold_reasons(store)
    store._run(  # type: ignore[attr-defined]
        "INSERT INTO resident_thresholds VALUES (?, ?, ?, ?, ?, ?)",
        ("r1", "spo2", 88.0, None, store._time_in(T0), "dr:li"),  # type: ignore[attr-defined]
    )
    store.init_schema()
    store.init_schema()  # idempotent
    legacy = Threshold("r1", "spo2", 88.0, None, LEGACY_REASON, T0, "dr:li")
    assert store.all_thresholds() == [legacy]
    replaced = Threshold("r1", "spo2", 86.0, None, "COPD, lower at night", T0 + 5, "dr:chen")
    store.set_threshold(replaced)
    assert store.thresholds("r1") == [replaced]
    assert store.threshold_changes("r1") == [ThresholdChange("r1", "spo2", T0 + 5, "dr:chen", replaced)]


def test_alerts_from_before_raise_times_were_raised_when_opened(store: Store) -> None:
    """A database from before an alert's raise time was kept apart: its alerts get raised_at = opened_at (then they
    were one), its reports count them as before, and new alerts keep the two apart."""
    seed(store)
    predate_alert_raise_times(store)
    store._run(  # type: ignore[attr-defined]
        "INSERT INTO alerts (resident_id, site_id, rule, severity, state, opened_at, updated_at, title, explanation,"
        " evidence) VALUES ('r1', 's1', 'spo2_low', 'urgent', 'open', ?, ?, 't', 'e', '{}')",
        (store._time_in(T0), store._time_in(T0)),  # type: ignore[attr-defined]
    )
    store.init_schema()
    store.init_schema()  # idempotent
    [old] = store.alerts()
    assert (old.opened_at, old.raised_at) == (T0, T0)
    assert [t.alerts for t in store.alert_tallies("s1", T0, T0 + 1)] == [1]
    new = store.raise_alert(draft(rule="hr_high", at=T0 + 10), raised_at=T0 + 86_400)
    assert new is not None and (new.opened_at, new.raised_at) == (T0 + 10, T0 + 86_400)
    assert store.alerts_raised(None, T0 + 86_400, T0 + 86_401) == [new]


def test_a_metric_has_a_limit_always_and_one_in_bed_each_set_removed_and_audited(store: Store) -> None:
    seed(store)
    always = Threshold("r1", "hr", 40, None, "the default", T0, "dr:chen")
    in_bed = Threshold("r1", "hr", 35, None, "pulse 38 asleep", T0 + 5, "dr:chen", ThresholdContext.IN_BED)
    wider = Threshold("r1", "hr", 34, None, "pulse 37 asleep", T0 + 10, "dr:li", ThresholdContext.IN_BED)
    for threshold in (always, in_bed, wider):
        store.set_threshold(threshold)  # the wider in-bed limit replaces the first, not the one that applies always
    assert store.thresholds("r1") == [always, wider] == store.all_thresholds()
    assert not store.delete_threshold("r2", "hr", "dr:wu", T0 + 15, ThresholdContext.IN_BED)
    assert store.delete_threshold("r1", "hr", "dr:wu", T0 + 20, ThresholdContext.IN_BED)
    assert store.thresholds("r1") == [always]
    assert store.threshold_changes("r1") == [
        ThresholdChange("r1", "hr", T0, "dr:chen", always),
        ThresholdChange("r1", "hr", T0 + 5, "dr:chen", in_bed, ThresholdContext.IN_BED),
        ThresholdChange("r1", "hr", T0 + 10, "dr:li", wider, ThresholdContext.IN_BED),
        ThresholdChange("r1", "hr", T0 + 20, "dr:wu", None, ThresholdContext.IN_BED),
    ]
    with pytest.raises(ValueError, match="context must be one of always, in_bed"):
        store.delete_threshold("r1", "hr", "dr:wu", T0 + 25, "asleep")
    with pytest.raises(ValueError, match="context must be one of always, in_bed"):
        Threshold("r1", "hr", 35, None, "asleep", T0, "dr:chen", "asleep")


def test_a_database_from_before_threshold_contexts_is_brought_up_to_date(store: Store) -> None:
    """Its limits apply always; the key gains the context, so an in-bed limit of the same metric can be added."""
    seed(store)
    predate_threshold_contexts(store)
    old = ("r1", "hr", 45.0, None, "fit sleeper", store._time_in(T0), "dr:li")  # type: ignore[attr-defined]
    store._run("INSERT INTO resident_thresholds VALUES (?, ?, ?, ?, ?, ?, ?)", old)  # type: ignore[attr-defined]
    store._run(  # type: ignore[attr-defined]
        "INSERT INTO resident_threshold_changes (resident_id, metric, at, actor, low, high, reason)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        ("r1", "hr", old[5], "dr:li", 45.0, None, "fit sleeper"),
    )
    store.init_schema()
    store.init_schema()  # idempotent
    kept = Threshold("r1", "hr", 45.0, None, "fit sleeper", T0, "dr:li")
    assert store.all_thresholds() == [kept] and store.threshold_changes("r1") == [
        ThresholdChange("r1", "hr", T0, "dr:li", kept)
    ]
    in_bed = Threshold("r1", "hr", 35.0, None, "pulse 38 asleep", T0 + 5, "dr:chen", ThresholdContext.IN_BED)
    store.set_threshold(in_bed)
    assert store.thresholds("r1") == [kept, in_bed]
    with pytest.raises((sqlite3.Error, psycopg.Error)):  # the table's CHECK, for a writer that bypasses the record
        store._run(  # type: ignore[attr-defined]
            "INSERT INTO resident_thresholds VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (*old[:6], "dr:li", "asleep")
        )


@pytest.mark.parametrize(("reason", "problem"), [("", "give the clinical reason"), ("  ", "give the clinical reason"),
                                                 ("x" * 501, "longer than 500")])  # fmt: skip
def test_a_threshold_without_a_reason_is_refused(reason: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Threshold("r1", "spo2", 88, None, reason, T0, "dr:chen")


def test_news2_escalation_is_set_replaced_removed_and_audited(store: Store) -> None:
    seed(store)
    assert store.news2_escalation("r2") is None and store.all_news2_escalations() == []
    first = News2Escalation("r2", 6, 8, True, "COPD, baseline 4", "dr:chen", T0)
    second = News2Escalation("r2", 7, 9, False, "COPD on home oxygen, baseline 5", "dr:li", T0 + 60)
    store.set_news2_escalation(first)
    store.set_news2_escalation(second)  # replaced, not duplicated
    assert store.news2_escalation("r2") == second
    assert store.all_news2_escalations() == [second] and store.news2_escalation("r1") is None
    assert store.delete_news2_escalation("r2", "dr:wu", T0 + 120)
    assert not store.delete_news2_escalation("r2", "dr:wu", T0 + 180)  # nothing to remove: no audit row either
    assert store.news2_escalation("r2") is None and store.all_news2_escalations() == []
    assert store.news2_escalation_changes("r2") == [
        News2EscalationChange("r2", T0, "dr:chen", first),
        News2EscalationChange("r2", T0 + 60, "dr:li", second),
        News2EscalationChange("r2", T0 + 120, "dr:wu", None),
    ]


@pytest.mark.parametrize(
    ("urgent", "emergency", "reason", "problem"),
    [(0, 7, "x", "from 1 to 20"), (5, 21, "x", "from 1 to 20"), (7, 7, "x", "must be above"), (5, 7, "  ", "reason")],
)
def test_a_news2_escalation_out_of_range_or_without_a_reason_is_refused(
    urgent: int, emergency: int, reason: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        News2Escalation("r1", urgent, emergency, True, reason, "dr:chen", T0)


# Lifecycle: escalation, routing, deliveries ----------------------------------------------------------------------


def test_contact_channels_preferences_site_contacts_and_rota(store: Store) -> None:
    from carewatch.storage.base import ContactChannel, ContactPreference, OnCallShift

    seed(store)
    store.upsert_contacts(
        [Contact("op", "Zhang", ContactRole.OPERATOR), Contact("doc", "Dr Chen", ContactRole.CLINICIAN),
         Contact("fam", "Wang Min", ContactRole.FAMILY)],
        [ContactLink("r1", "fam", "daughter")],
    )  # fmt: skip
    store.upsert_contact_channels([ContactChannel("fam", "mqtt", "t/fam"), ContactChannel("fam", "email", "a@b.c")])
    store.upsert_contact_channels([ContactChannel("fam", "email", "min@b.c")])  # updated, not duplicated
    assert store.contact_channels(["fam", "op"]) == [
        ContactChannel("fam", "email", "min@b.c"), ContactChannel("fam", "mqtt", "t/fam")
    ]  # fmt: skip
    preference = ContactPreference(
        "fam", "Asia/Shanghai", 1320, 420, (("*", Severity.CRITICAL), ("fall", Severity.INFO))
    )
    store.upsert_contact_preferences([preference])
    store.upsert_contact_preferences([preference])  # replaced, rules not doubled
    assert store.contact_preferences(["fam", "op"]) == {"fam": preference}
    store.add_site_contacts("s1", ["op", "doc", "op"])
    assert [c.contact_id for c in store.site_contacts("s1")] == ["doc", "op"]
    store.add_on_call_shifts([OnCallShift("s1", "doc", T0, T0 + 3600)])
    assert [c.contact_id for c in store.on_call("s1", T0 + 10)] == ["doc"]
    assert store.on_call("s1", T0 + 3600) == [] and store.on_call("h1", T0 + 10) == []


def test_a_contacts_channel_and_a_sites_own_contact_are_removed(store: Store) -> None:
    from carewatch.storage.base import ContactChannel

    seed(store)
    store.upsert_contacts(
        [Contact("op", "Zhang", ContactRole.OPERATOR), Contact("doc", "Dr Chen", ContactRole.CLINICIAN)], []
    )
    store.upsert_contact_channels([ContactChannel("op", "mqtt", "t/op"), ContactChannel("op", "email", "z@b.c")])
    assert store.delete_contact_channel("op", "email") is True
    assert store.delete_contact_channel("op", "email") is False  # none left to remove
    assert store.contact_channels(["op"]) == [ContactChannel("op", "mqtt", "t/op")]
    store.add_site_contacts("s1", ["op", "doc"])
    store.add_site_contacts("h1", ["doc"])
    assert store.delete_site_contact("s1", "doc", T0) is True
    assert store.delete_site_contact("s1", "doc", T0) is False
    assert [c.contact_id for c in store.site_contacts("s1")] == ["op"]
    assert [c.contact_id for c in store.site_contacts("h1")] == ["doc"]  # another site's own stays
    assert {c.contact_id for c in store.contacts()} >= {"op", "doc"}  # the contact stays in the directory


def test_a_contact_with_shifts_not_yet_over_is_not_removed_from_a_site_or_the_directory(store: Store) -> None:
    from carewatch.storage.base import ContactChannel, ContactPreference, OnCallShift, StillOnRota

    seed(store)
    store.upsert_contacts(
        [Contact("doc", "Dr Chen", ContactRole.CLINICIAN), Contact("fam", "Wang Min", ContactRole.FAMILY)],
        [ContactLink("r1", "doc", "GP"), ContactLink("r1", "fam", "daughter")],
    )
    store.add_site_contacts("s1", ["doc"])
    store.upsert_contact_channels([ContactChannel("doc", "email", "chen@clinic.example")])
    store.upsert_contact_preferences([ContactPreference("fam", "Asia/Shanghai", 1320, 420)])
    past, current = OnCallShift("s1", "doc", T0 - 7200, T0 - 3600), OnCallShift("s1", "doc", T0 - 60, T0 + 3600)
    upcoming = OnCallShift("s1", "fam", T0 + 86_400, T0 + 90_000)
    elsewhere = OnCallShift("h1", "fam", T0, T0 + 600)  # at a site fam is no contact of: not unlinking r1's concern
    store.add_on_call_shifts([past, current, upcoming, elsewhere])

    assert store.delete_site_contact("s1", "doc", T0) is True  # still a contact of s1: linked to r1
    with pytest.raises(StillOnRota) as refused:
        store.delete_contact_link("r1", "doc", T0)  # then no longer one, with a shift running
    assert refused.value.shifts == (current,)
    assert "contact doc is on the on-call rota (s1 2025-11-29 10:39 UTC to 2025-11-29 11:40 UTC)" in str(refused.value)
    assert [k.contact_id for _, k in store.contacts_of("r1")] == ["doc", "fam"]  # nothing removed
    store.add_site_contacts("s1", ["doc"])
    with pytest.raises(StillOnRota):
        store.delete_contact("doc", T0)
    assert [k.contact_id for _, k in store.contacts_of("r1")] == ["doc", "fam"]
    assert [c.contact_id for c in store.site_contacts("s1")] == ["doc"]
    assert store.contact_channels(["doc"]) != [] and [c.contact_id for c in store.on_call("s1", T0)] == ["doc"]
    with pytest.raises(StillOnRota) as refused:
        store.delete_contact_link("r1", "fam", T0)  # an upcoming shift too
    assert refused.value.shifts == (upcoming,)

    assert store.delete_contact("doc", T0 + 3600) is True  # at the end of the shift: only past ones left
    assert store.delete_contact("doc", T0 + 3600) is False
    assert "doc" not in {c.contact_id for c in store.contacts()}
    assert [k.contact_id for _, k in store.contacts_of("r1")] == ["fam"]
    assert store.site_contacts("s1") == [] and store.contact_channels(["doc"]) == []
    assert store.on_call_shifts("s1", 0) == [upcoming]  # the past shifts went with them
    store.delete_on_call_shift("s1", "fam", upcoming.starts_at)
    with pytest.raises(StillOnRota) as refused:
        store.delete_contact("fam", T0)
    assert refused.value.shifts == (elsewhere,)
    assert store.delete_contact("fam", T0 + 600) is True
    assert store.on_call_shifts("h1", 0) == []
    assert store.contact_preferences(["fam"]) == {} and store.contacts() == []


def test_escalation_stages_are_claimed_once_and_cancelled_by_acknowledgement(store: Store) -> None:
    from carewatch.storage.base import EscalationStage, EscalationStep

    seed(store)
    assert store.escalation_policy("s1", Severity.URGENT) is None
    store.set_escalation_policy(
        "s1", Severity.URGENT, [EscalationStep(1, 60, "operators"), EscalationStep(2, 600, "on_call")]
    )
    assert [s.target for s in store.escalation_policy("s1", Severity.URGENT) or []] == ["operators", "on_call"]
    alert = store.raise_alert(draft())
    assert alert is not None
    stages = [
        EscalationStage(alert.alert_id, 1, "operators", T0 + 60),
        EscalationStage(alert.alert_id, 2, "on_call", T0 + 600),
    ]
    store.plan_escalation(alert.alert_id, stages)
    assert store.due_escalations(T0 + 59) == []
    assert [s.stage for s in store.due_escalations(T0 + 60)] == [1]
    assert store.claim_escalation(alert.alert_id, 1, T0 + 60) is True
    assert store.claim_escalation(alert.alert_id, 1, T0 + 61) is False  # once
    assert store.claim_escalation(alert.alert_id, 2, T0 + 61) is False  # not due yet
    store.plan_escalation(alert.alert_id, stages)  # re-planning never re-arms a fired stage
    assert store.escalations(alert.alert_id)[0].fired_at == pytest.approx(T0 + 60)
    store.acknowledge_alert(alert.alert_id, "operator:zhang", T0 + 100)
    assert store.due_escalations(T0 + 10_000) == []
    assert store.claim_escalation(alert.alert_id, 2, T0 + 10_000) is False
    assert store.escalations(alert.alert_id)[1].cancelled_at == pytest.approx(T0 + 100)
    assert store.escalation_tally("s1", T0, T0 + 100) == ({"operators": 1}, 1)
    assert store.escalation_tally("h1", T0, T0 + 100) == ({}, 0)


def test_fired_escalations_give_the_newest_stage_each_alert_fired(store: Store) -> None:
    from carewatch.storage.base import EscalationStage

    seed(store)
    alerts = [store.raise_alert(draft(rule=rule)) for rule in ("spo2_low", "hr_high", "rr_high")]
    escalated, acknowledged, quiet = [a.alert_id for a in alerts if a is not None]
    for alert_id in (escalated, acknowledged, quiet):
        store.plan_escalation(alert_id, [EscalationStage(alert_id, n, "operators", T0 + 60 * n) for n in (1, 2, 3)])
    for stage in (1, 2):
        assert store.claim_escalation(escalated, stage, T0 + 60 * stage)
    assert store.claim_escalation(acknowledged, 1, T0 + 60)
    store.acknowledge_alert(acknowledged, "operator:zhang", T0 + 100)  # its later stages are cancelled, never fired
    fired = store.fired_escalations([escalated, acknowledged, quiet, 999])
    assert {alert_id: (s.stage, s.fired_at) for alert_id, s in fired.items()} == {
        escalated: (2, pytest.approx(T0 + 120)), acknowledged: (1, pytest.approx(T0 + 60)),
    }  # fmt: skip
    assert fired[escalated].kind == "escalation:2"
    assert store.fired_escalations([quiet]) == {} and store.fired_escalations([]) == {}


def test_an_escalation_policy_set_without_steps_is_kept_as_never_escalate(store: Store) -> None:
    from carewatch.storage.base import EscalationStep

    seed(store)
    store.set_escalation_policy("s1", Severity.URGENT, [])
    assert store.escalation_policy("s1", Severity.URGENT) == []  # set, empty: never escalate
    assert store.escalation_policy("s1", Severity.CRITICAL) is None  # none set: the defaults apply
    assert store.escalation_policy("h1", Severity.URGENT) is None
    store.set_escalation_policy("s1", Severity.URGENT, [EscalationStep(1, 60, "operators")])
    assert store.escalation_policy("s1", Severity.URGENT) == [EscalationStep(1, 60, "operators")]
    assert isinstance(store, SqlStore)
    store._run("DELETE FROM escalation_policies_set")  # a database from before the table: its steps still count
    assert store.escalation_policy("s1", Severity.URGENT) == [EscalationStep(1, 60, "operators")]
    store.set_escalation_policy("s1", Severity.URGENT, [])  # emptied again: its steps gone, still set
    assert store.escalation_policy("s1", Severity.URGENT) == []
    assert store.delete_escalation_policy("s1", Severity.URGENT) is True  # back to the defaults
    assert store.escalation_policy("s1", Severity.URGENT) is None
    assert store.delete_escalation_policy("s1", Severity.URGENT) is False
    store.set_escalation_policy("s1", Severity.URGENT, [EscalationStep(1, 60, "operators")])
    assert store.delete_escalation_policy("s1", Severity.URGENT) is True
    assert store.escalation_policy("s1", Severity.URGENT) is None


def test_snooze_reopen_and_deliveries(store: Store) -> None:
    from carewatch.storage.base import DeliveryAttempt, EscalationStage

    seed(store)
    alert = store.raise_alert(draft())
    assert alert is not None
    store.plan_escalation(
        alert.alert_id,
        [
            EscalationStage(alert.alert_id, 1, "operators", T0 + 60),
            EscalationStage(alert.alert_id, 2, "on_call", T0 + 360),
        ],
    )
    store.snooze_alert(alert.alert_id, "operator:li", T0 + 10, T0 + 900, "showering")
    assert [s.due_at for s in store.escalations(alert.alert_id)] == [T0 + 900, T0 + 1200]  # held, spacing kept
    assert store.snoozed_until(alert.alert_id) == pytest.approx(T0 + 900)
    assert store.snoozes([alert.alert_id, alert.alert_id + 1]) == {alert.alert_id: pytest.approx(T0 + 900)}
    assert store.snoozes([]) == {}
    assert store.transitions(alert.alert_id)[-1].snooze == (pytest.approx(T0 + 900), "showering")
    assert store.due_escalations(T0 + 899) == [] and len(store.due_escalations(T0 + 900)) == 1
    assert store.reopen_recent(draft(at=T0 + 950), T0) is None  # live: nothing to reopen
    store.resolve_live("r1", "spo2_low", "system", T0 + 1000, "cleared")
    assert store.reopen_recent(draft(at=T0 + 1200), T0 + 1001) is None  # resolved before the window
    reopened = store.reopen_recent(draft(at=T0 + 1200), T0 + 500)
    assert reopened is not None and reopened.alert_id == alert.alert_id and reopened.state is AlertState.OPEN
    assert reopened.resolved_at is None and store.transitions(alert.alert_id)[-1].from_state is AlertState.RESOLVED
    store.resolve_alert(alert.alert_id, "operator:li", T0 + 1300)
    assert store.reopen_recent(draft(at=T0 + 1310), T0) is None  # resolved by hand: never reopened
    with pytest.raises(AlertConflict):
        store.snooze_alert(alert.alert_id, "operator:li", T0 + 1320, T0 + 2000)

    attempts = [
        DeliveryAttempt(T0 + 1, "s1", alert.alert_id, "fam", "webhook", "http://x", "raised", "k", 1, "retry", "503"),
        DeliveryAttempt(T0 + 2, "s1", alert.alert_id, "fam", "webhook", "http://x", "raised", "k", 2, "delivered"),
        DeliveryAttempt(T0 + 3, "h1", None, "fam", "email", "a@b.c", "digest", "d", 1, "delivered"),
    ]
    store.record_deliveries(attempts)
    assert store.deliveries(alert.alert_id) == attempts[:2]
    assert store.deliveries() == attempts
    assert store.delivery_tallies("h1", T0, T0 + 10) == [("email", "delivered", 1)]
    assert store.delivery_tallies(None, T0, T0 + 2.5) == [("webhook", "delivered", 1), ("webhook", "retry", 1)]
    assert [a.alert_id for a in store.alerts_raised("s1", T0, T0 + 1)] == [alert.alert_id]
    assert store.alerts_raised("s1", T0 + 1, T0 + 2) == []


def test_the_rota_lists_current_and_upcoming_shifts_and_deletes_one(store: Store) -> None:
    from carewatch.storage.base import OnCallShift

    seed(store)
    store.upsert_contacts(
        [Contact("doc", "Dr Chen", ContactRole.CLINICIAN), Contact("nur", "Nurse Li", ContactRole.CLINICIAN)], []
    )
    past, now, later = (
        OnCallShift("s1", "doc", T0 - 7200, T0 - 3600),
        OnCallShift("s1", "doc", T0, T0 + 3600),
        OnCallShift("s1", "nur", T0 + 3600.25, T0 + 7200),
    )
    store.add_on_call_shifts([later, past, now, OnCallShift("h1", "doc", T0, T0 + 60)])
    assert store.on_call_shifts("s1", T0 + 10) == [now, later]  # the finished shift is not listed
    assert store.on_call_shifts("h1", T0 + 60) == []
    assert store.delete_on_call_shift("s1", "nur", later.starts_at) is True  # the start read back finds it
    assert store.delete_on_call_shift("s1", "nur", later.starts_at) is False
    assert store.delete_on_call_shift("h1", "doc", now.starts_at + 1) is False
    assert store.on_call_shifts("s1", T0 - 7200) == [past, now]


# The durable outbox (alerts/notify/dispatch.py) -----------------------------------------------------------------


def outbox_item(
    key: str, channel: str = "webhook", alert_id: int | None = None, due: float = T0, **kw: Any
) -> OutboxItem:
    message = {"idempotency_key": key, "payload": {"resourceType": "Bundle", "entry": [{"n": 1.5}]}, "text": "SpO2 low"}
    return OutboxItem(key, channel, "s1", alert_id, "fam", f"http://x/{key}", "raised", message, due_at=due, **kw)


def test_outbox_enqueue_is_idempotent_bounded_and_audits_what_settles_at_once(store: Store) -> None:
    seed(store)
    alert = store.raise_alert(draft())
    assert alert is not None
    items = [
        outbox_item("a", alert_id=alert.alert_id), outbox_item("b"),
        outbox_item("c", "email", state="suppressed", attempt=0, note="quiet hours"),
        outbox_item("d", "mqtt", state="failed", note="channel 'mqtt' is not configured"),
        outbox_item("e"),  # a third pending webhook: over the limit of 2
        outbox_item("f", "email"),  # another channel has room
    ]  # fmt: skip
    assert store.enqueue_outbox(items, T0, limit=2) == [QUEUED, QUEUED, "suppressed", "failed", "dropped", QUEUED]
    assert store.enqueue_outbox(items, T0 + 1, limit=100) == [DUPLICATE] * 6  # the same keys again: no-ops
    assert [i.idempotency_key for i in store.outbox(pending_only=True)] == ["a", "b", "f"]
    assert [i.idempotency_key for i in store.outbox(alert_id=alert.alert_id)] == ["a"]  # one alert's messages
    assert store.outbox("webhook", pending_only=True)[0] == items[0]  # the message round-trips, payload and all
    assert {i.idempotency_key: i.state for i in store.outbox()} == {
        "a": "pending", "b": "pending", "c": "suppressed", "d": "failed", "e": "dropped", "f": "pending"
    }  # fmt: skip
    assert [(d.idempotency_key, d.attempt, d.status, d.error) for d in store.deliveries()] == [
        ("c", 0, "suppressed", "quiet hours"), ("d", 1, "failed", "channel 'mqtt' is not configured"),
        ("e", 1, "dropped", "the delivery queue is full"),
    ]  # fmt: skip
    assert store.outbox_next_due("webhook") == pytest.approx(T0) and store.outbox_next_due("mqtt") is None


def test_outbox_leases_retries_and_settles_with_the_audit(store: Store) -> None:
    seed(store)
    store.enqueue_outbox([outbox_item("a"), outbox_item("b", due=T0 + 10)], T0, limit=10)
    [a] = store.claim_outbox("webhook", T0, "w1", lease_s=60, limit=5)  # b is not due yet
    assert a.idempotency_key == "a" and a.attempt == 1
    assert store.claim_outbox("webhook", T0 + 20, "w2", lease_s=60, limit=5) == [outbox_item("b", due=T0 + 10)]
    assert store.outbox_next_due("webhook") == pytest.approx(T0 + 60)  # both leased: a's lease ends first

    def attempt(key: str, n: int, status: str, at: float) -> DeliveryAttempt:
        return DeliveryAttempt(at, "s1", None, "fam", "webhook", f"http://x/{key}", "raised", key, n, status)

    assert store.settle_outbox(attempt("a", 1, "retry", T0 + 1), "w1", retry_at=T0 + 30) is True
    [pending_a] = [i for i in store.outbox(pending_only=True) if i.idempotency_key == "a"]
    assert (pending_a.attempt, pending_a.due_at) == (2, pytest.approx(T0 + 30))
    assert store.claim_outbox("webhook", T0 + 29, "w2", lease_s=60) == []  # a not due, b leased
    [again] = store.claim_outbox("webhook", T0 + 30, "w2", lease_s=60)
    assert (again.idempotency_key, again.attempt) == ("a", 2)
    assert store.settle_outbox(attempt("a", 2, "delivered", T0 + 31), "w1") is False  # a is w2's now
    assert store.settle_outbox(attempt("a", 2, "delivered", T0 + 31), "w2") is True
    [b] = store.claim_outbox("webhook", T0 + 80, "w3", lease_s=60)  # w2's lease on b ran out
    assert b.idempotency_key == "b"
    assert store.settle_outbox(attempt("b", 1, "dead", T0 + 81), "w3") is True
    assert store.outbox(pending_only=True) == [] and store.outbox_next_due("webhook") is None
    assert [(i.idempotency_key, i.state, i.attempt) for i in store.outbox()] == [
        ("a", "delivered", 2),
        ("b", "dead", 1),
    ]
    assert [(d.idempotency_key, d.attempt, d.status) for d in store.deliveries()] == [
        ("b", 0, "deferred"), ("a", 1, "retry"), ("a", 2, "delivered"), ("a", 2, "delivered"), ("b", 1, "dead")
    ]  # b was queued due later; every attempt is audited, also the one whose lease was lost  # fmt: skip


def to_target(
    key: str, alert_id: int, kind: str = "raised", due: float = T0, address: str = "http://x/fam"
) -> OutboxItem:
    return replace(outbox_item(key, alert_id=alert_id, due=due), address=address, kind=kind)


def test_one_alerts_messages_to_one_target_are_claimed_in_the_order_queued(store: Store) -> None:
    """The end waits while "raised" to the same target is in its retries; another target's message and a digest
    (no alert) do not; once "raised" settles (dead-lettered here), the end goes."""
    seed(store)
    alert = store.raise_alert(draft())
    assert alert is not None
    store.enqueue_outbox([to_target("raised", alert.alert_id)], T0, limit=10)
    [raised] = store.claim_outbox("webhook", T0, "w1", lease_s=60)
    retry = DeliveryAttempt(T0, "s1", alert.alert_id, "fam", "webhook", raised.address, "raised", "raised", 1, "retry")
    assert store.settle_outbox(retry, "w1", retry_at=T0 + 60)
    later = [
        to_target("resolved", alert.alert_id, "resolved", T0 + 1), to_target("other", alert.alert_id, due=T0 + 1,
        address="http://x/other"), outbox_item("digest", due=T0 + 1),
    ]  # fmt: skip
    store.enqueue_outbox(later, T0 + 1, limit=10)
    assert store.outbox_next_due("webhook") == pytest.approx(T0 + 1)  # other and digest
    assert {i.idempotency_key for i in store.claim_outbox("webhook", T0 + 2, "w1", lease_s=60, limit=5)} == {
        "other", "digest"
    }  # fmt: skip
    assert store.outbox_next_due("webhook") == pytest.approx(T0 + 60)  # raised's retry: resolved goes after it
    assert store.claim_outbox("webhook", T0 + 59, "w1", lease_s=60, limit=5) == []
    [again] = store.claim_outbox("webhook", T0 + 60, "w1", lease_s=60, limit=5)
    assert again.idempotency_key == "raised"
    assert store.settle_outbox(replace(retry, at=T0 + 60, attempt=2, status="dead"), "w1")
    assert [i.idempotency_key for i in store.claim_outbox("webhook", T0 + 60, "w1", lease_s=60)] == ["resolved"]


def test_a_deferred_message_is_audited_and_one_withdrawn_settles_superseded(store: Store) -> None:
    seed(store)
    alert = store.raise_alert(draft())
    assert alert is not None
    until = "quiet hours: until 2025-11-30 07:00 Asia/Shanghai"
    items = [
        replace(to_target("end", alert.alert_id, "resolved", T0 + 3600), note=until),
        to_target("sending", alert.alert_id, "resolved", address="http://x/clinic"),
        to_target("raised", alert.alert_id, address="http://x/op"),  # another kind: stays
    ]
    assert store.enqueue_outbox(items, T0, limit=10) == [QUEUED] * 3
    assert [(d.idempotency_key, d.attempt, d.status, d.error) for d in store.deliveries()] == [
        ("end", 0, "deferred", until)
    ]
    assert {i.idempotency_key for i in store.claim_outbox("webhook", T0, "w1", lease_s=60, limit=5)} == {
        "sending", "raised"
    }  # fmt: skip
    withdrawn = store.withdraw_outbox(alert.alert_id, "resolved", T0 + 10, "the alert reopened")
    assert [i.idempotency_key for i in withdrawn] == ["end"]  # not the one being sent
    assert store.withdraw_outbox(alert.alert_id, "resolved", T0 + 11, "the alert reopened") == []
    assert {i.idempotency_key: i.state for i in store.outbox()} == {
        "end": "superseded", "sending": "pending", "raised": "pending"
    }  # fmt: skip
    assert [(d.idempotency_key, d.attempt, d.status, d.error) for d in store.deliveries()][1:] == [
        ("end", 0, "superseded", "the alert reopened")
    ]


def test_a_database_from_before_deferred_deliveries_is_brought_up_to_date(store: Store) -> None:
    """Its outbox and audit rows are kept; a deferral and a withdrawal can be stored."""
    seed(store)
    alert = store.raise_alert(draft())
    assert alert is not None
    predate_delivery_states(store)
    held = replace(to_target("held", alert.alert_id), state="suppressed", attempt=0, note="quiet hours")
    store.enqueue_outbox([held], T0, limit=10)
    store.init_schema()
    store.init_schema()  # idempotent
    deferred = to_target("end", alert.alert_id, "resolved", T0 + 3600, "http://x/other")
    assert store.enqueue_outbox([deferred], T0, limit=10) == [QUEUED]
    assert [i.idempotency_key for i in store.withdraw_outbox(alert.alert_id, "resolved", T0, "reopened")] == ["end"]
    assert [(d.idempotency_key, d.status) for d in store.deliveries()] == [
        ("held", "suppressed"), ("end", "deferred"), ("end", "superseded")
    ]  # fmt: skip
    assert {i.idempotency_key: i.state for i in store.outbox()} == {"held": "suppressed", "end": "superseded"}


def test_racing_claimers_get_each_message_once(store: Store) -> None:
    seed(store)
    store.enqueue_outbox([outbox_item(f"k{i:02}") for i in range(40)], T0, limit=100)
    barrier = threading.Barrier(4)
    claimed: list[str] = []

    def claim(owner: str) -> None:
        barrier.wait()
        while batch := store.claim_outbox("webhook", T0, owner, lease_s=60, limit=3):
            claimed.extend(i.idempotency_key for i in batch)

    threads = [threading.Thread(target=claim, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == [f"k{i:02}" for i in range(40)]  # all of them, none twice


def test_a_stage_claim_and_its_messages_commit_together(store: Store) -> None:
    from carewatch.storage.base import EscalationStage, StageClaim

    seed(store)
    alert = store.raise_alert(draft())
    assert alert is not None
    store.plan_escalation(
        alert.alert_id, [EscalationStage(alert.alert_id, n, "operators", T0 + 60 * n) for n in (1, 2)]
    )
    assert (
        store.enqueue_outbox(
            [outbox_item("s1", alert_id=alert.alert_id)], T0 + 59, 10, StageClaim(alert.alert_id, 1, T0 + 59)
        )
        is None
    )  # not due
    assert store.outbox() == []  # nothing written
    assert store.enqueue_outbox(
        [outbox_item("s1", alert_id=alert.alert_id)], T0 + 60, 10, StageClaim(alert.alert_id, 1, T0 + 60)
    ) == [QUEUED]
    assert (
        store.enqueue_outbox(
            [outbox_item("s1b", alert_id=alert.alert_id)], T0 + 61, 10, StageClaim(alert.alert_id, 1, T0 + 61)
        )
        is None
    )  # once
    assert store.escalations(alert.alert_id)[0].fired_at == pytest.approx(T0 + 60)
    assert (
        store.enqueue_outbox([], T0 + 200, 10, StageClaim(alert.alert_id, 2, T0 + 200)) == []
    )  # a stage nobody hears of still fires
    assert [i.idempotency_key for i in store.outbox()] == ["s1"]


def test_retention_takes_the_outbox_with_its_alert(store: Store) -> None:
    from carewatch.storage.retention import RetentionPolicy

    seed(store)
    old, live = store.raise_alert(draft()), store.raise_alert(draft(rule="fall"))
    assert old is not None and live is not None
    store.enqueue_outbox(
        [outbox_item("old", alert_id=old.alert_id), outbox_item("live", alert_id=live.alert_id),
         outbox_item("digest", "email", state="failed", note="no e-mail settings")],
        T0, limit=10,
    )  # fmt: skip
    store.resolve_alert(old.alert_id, "op", T0 + 60)
    purged = store.apply_retention(RetentionPolicy(alerts_days=1), T0 + 2 * 86_400)
    assert purged["alerts"].rows == 1  # the outbox row did not hold the alert back (it references it)
    assert [i.idempotency_key for i in store.outbox()] == ["live"]  # the live alert's stays, even pending


# The alert core's restart rebuild (alerts.rebuild) ----------------------------------------------------------------


def test_replay_batch_returns_rows_oldest_first(store: Store) -> None:
    seed(store)
    xyz = np.array([[0.0, -1.0, 0.02], [0.1, -0.9, 0.0]], dtype=np.float32)
    store.write_batch(
        Batch(
            readings=[
                reading(T0 + 20, 95),
                reading(T0, 97),
                reading(T0 + 10, 30, artefact=True),
                reading(T0, 71, "hr"),
            ],
            events=[EventRow(T0 + 5, "h1", "door1", None, "door", 1.0, 3)],
            accel=[AccelRow(T0 + 1, "s1", "w1", "r1", 9, 50.0, xyz)],
        )
    )
    batch = store.replay_batch(T0, T0 + 20)
    assert [(r.ts, r.metric, r.value, r.artefact) for r in batch.readings if r.metric == "spo2"] == [
        (T0, "spo2", 97.0, False),
        (T0 + 10, "spo2", 30.0, True),  # artefacts come back flagged: they still show the device is alive
    ]
    assert [r.ts for r in batch.readings] == sorted(r.ts for r in batch.readings)
    assert batch.events == [EventRow(T0 + 5, "h1", "door1", None, "door", 1.0, 3)] and batch.accel == []
    only = store.replay_batch(T0, T0 + 60, metrics=["hr"], events=False, accel=True)
    assert [(r.metric, r.resident_id) for r in only.readings] == [("hr", "r1")] and only.events == []
    [block] = only.accel
    assert (block.ts, block.device_id, block.rate_hz) == (T0 + 1, "w1", 50.0)
    np.testing.assert_array_equal(block.xyz, xyz)
    assert block.xyz.dtype == np.float32 and block.xyz.shape == (2, 3)
    # A worker's partition: only its sites' rows, however many sites it names.
    home = store.replay_batch(T0, T0 + 60, accel=True, sites=["h1"])
    assert (len(home.readings), home.events, home.accel) == (0, batch.events, [])
    station = store.replay_batch(T0, T0 + 60, accel=True, sites=["s1", *(f"other-{k}" for k in range(2000))])
    assert (len(station.readings), station.events, len(station.accel)) == (4, [], 1)
    nowhere = store.replay_batch(T0, T0 + 60, accel=True, sites=[])
    assert (nowhere.readings, nowhere.events, nowhere.accel) == ([], [], [])
    # Some devices' rows only (a recovery's backlog), with a site or without.
    door = store.replay_batch(T0, T0 + 60, accel=True, devices=["door1", "gone"])
    assert (door.readings, door.events, door.accel) == ([], batch.events, [])
    wearable = store.replay_batch(T0, T0 + 60, accel=True, sites=["s1"], devices=["w1"])
    assert (len(wearable.readings), wearable.events, len(wearable.accel)) == (4, [], 1)
    assert store.replay_batch(T0, T0 + 60, accel=True, sites=["h1"], devices=["w1"]) == Batch()


def test_replayed_accelerometer_blocks_come_back_sample_for_sample(store: Store) -> None:
    """Blocks of different lengths, decoded together (one pass per axis): each exactly as written, in time order."""
    seed(store)
    rng = np.random.default_rng(3)
    blocks = [rng.normal(0.0, 2.0, (n, 3)).astype(np.float32) for n in (25, 1, 50, 25, 7)]
    store.write_batch(
        Batch(accel=[AccelRow(T0 + 4 - k, "s1", "w1", "r1", k, 25.0, xyz) for k, xyz in enumerate(blocks)])
    )
    replayed = store.replay_batch(T0, T0 + 60, events=False, accel=True).accel
    assert [row.seq for row in replayed] == [4, 3, 2, 1, 0]
    for row in replayed:
        assert row.xyz.dtype == np.float32 and row.xyz.shape == blocks[row.seq].shape
        np.testing.assert_array_equal(row.xyz, blocks[row.seq])


def test_a_database_from_before_device_seen_fills_it_at_its_next_start(store: Store) -> None:
    seed(store)
    store.write_batch(
        Batch(
            readings=[reading(T0, 97), reading(T0 + 60, 96)],
            events=[EventRow(T0 + 5, "h1", "door1", None, "door", 1.0, 3)],
            accel=[AccelRow(T0 + 90, "s1", "w2", "r2", 9, 50.0, np.zeros((2, 3), np.float32))],
        )
    )
    store._run("DROP TABLE device_seen")  # type: ignore[attr-defined]
    store.init_schema()
    assert store.device_last_seen(T0) == {"w1": T0 + 60, "door1": T0 + 5, "w2": T0 + 90}
    store.init_schema()  # filled once: a later start changes nothing
    assert store.device_last_seen(T0) == {"w1": T0 + 60, "door1": T0 + 5, "w2": T0 + 90}


def test_rebuild_aggregates(store: Store) -> None:
    seed(store)
    day = np.floor(T0 / 86_400) * 86_400
    store.write_batch(
        Batch(
            readings=[
                reading(day + 60, 96),
                reading(day + 120, 98),
                reading(day + 180, 20, artefact=True),
                reading(day + 86_460, 94),
                reading(day + 60, 70, "hr"),
            ],
            events=[
                EventRow(day + 100, "h1", "door1", None, "door", 0.0, 1),
                EventRow(day + 200, "h1", "door1", None, "door", 1.0, 2),
                EventRow(day + 3700, "h1", "door1", None, "door", 1.0, 3),
                EventRow(day + 300, "h1", "w2", "r2", "motion", 0.0, 4),  # a PIR clearing is no activity
            ],
        )
    )
    stats = store.reading_stats(day, day + 2 * 86_400, ["spo2"], 86_400)
    assert [(s.resident_id, s.metric, s.start, s.n) for s in stats] == [
        ("r1", "spo2", day, 2),
        ("r1", "spo2", day + 86_400, 1),
    ]
    assert stats[0].total == pytest.approx(194.0) and stats[0].total_sq == pytest.approx(96.0**2 + 98.0**2)
    buckets = store.activity_buckets(day, day + 7200, ["door", "motion"], 3600)
    assert [(b.device_id, b.resident_id, b.start, b.first, b.last, b.n) for b in buckets] == [
        ("door1", None, day, day + 100, day + 200, 2),
        ("door1", None, day + 3600, day + 3700, day + 3700, 1),
    ]
    rows = store.device_events(["door1", "nobody"], "door", day + 100, day + 3700)  # [start, end)
    assert [(e.device_id, e.ts, e.value) for e in rows] == [("door1", day + 100, 0.0), ("door1", day + 200, 1.0)]
    assert store.device_events(["w2"], "door", day, day + 7200) == []  # one kind only
    assert store.device_events([], "door", day, day + 7200) == []
    seen = {"door1": day + 3700, "w1": day + 86_460, "w2": day + 300}
    assert store.device_last_seen(day + 150) == seen
    assert store.device_last_seen(day + 100_000) == {}
    store.write_batch(Batch(readings=[reading(day + 30, 95)]))  # an older row, sent late, moves nothing back
    assert store.device_last_seen(day + 150) == seen
    limit = Threshold("r1", "spo2", 88.0, None, "COPD, usual 88 %", T0, "dr:li")
    store.set_threshold(limit)
    assert store.all_thresholds() == [limit]


def test_a_removed_contact_hears_nothing_more_of_what_was_pending_for_them(store: Store) -> None:
    """The review: a family member removed (a guardianship change) still got an alert's end deferred to the end of
    their quiet hours. Unlinking them from the resident withdraws their pending messages about that resident's
    alerts; removing them from the directory, all of theirs. One being sent goes; other contacts' messages stay."""
    seed(store)
    store.upsert_contacts(
        [Contact("fam", "Wang Min", ContactRole.FAMILY), Contact("son", "Wang Lei", ContactRole.FAMILY)],
        [ContactLink("r1", "fam", "daughter"), ContactLink("r1", "son", "son")],
    )
    alert, other = store.raise_alert(draft()), store.raise_alert(draft("r2"))
    assert alert is not None and other is not None
    items = [
        to_target("end", alert.alert_id, "resolved", T0 + 3600),  # deferred to the end of quiet hours
        to_target("sending", alert.alert_id, address="http://x/fam-email"),
        replace(to_target("son", alert.alert_id, due=T0 + 600), contact_id="son", address="http://x/son"),
        to_target("r2's", other.alert_id, due=T0 + 600),  # about another resident's alert
    ]
    assert store.enqueue_outbox(items, T0, limit=10) == [QUEUED] * 4
    assert [i.idempotency_key for i in store.claim_outbox("webhook", T0, "w1", lease_s=60)] == ["sending"]
    assert store.delete_contact_link("r1", "fam", T0 + 10) is True
    states = {i.idempotency_key: i.state for i in store.outbox()}
    assert states == {"end": "superseded", "sending": "pending", "son": "pending", "r2's": "pending"}
    assert store.delete_contact("fam", T0 + 20) is True
    states = {i.idempotency_key: i.state for i in store.outbox()}
    assert states == {"end": "superseded", "sending": "pending", "son": "pending", "r2's": "superseded"}
    audit = [(d.idempotency_key, d.status, d.error) for d in store.deliveries() if d.status == "superseded"]
    assert audit == [
        ("end", "superseded", "the contact was removed"),
        ("r2's", "superseded", "the contact was removed"),
    ]
