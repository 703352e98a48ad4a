"""The storage contract, run against every backend (SQLite and a real TimescaleDB)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

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
from carewatch.storage.base import AlertConflict, Store

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
    assert store.devices()[0] == Device("door1", "h1", DeviceKind.DOOR, None, "hall", "front_door")
    store.upsert_contacts(
        [Contact("c1", "Wang Min", ContactRole.FAMILY, email="min@example.org")],
        [ContactLink("r1", "c1", "daughter")],
    )
    [(contact, link)] = store.contacts_of("r1")
    assert contact.email == "min@example.org" and link.relation == "daughter"


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
