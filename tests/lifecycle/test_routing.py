"""Routing on both backends: who is told of a new alert (operators, clinic for clinical alerts, family by their
preferences), quiet hours in the contact's own time zone with the critical bypass, the on-call rota, and the closing
message when an alert resolves."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.notify.base import FHIR_JSON, JSON
from alerts.routing import in_quiet_hours, wants
from carewatch.model import Alert, AlertState, Severity
from carewatch.storage.base import ContactPreference

EVENING = 7 * 3600  # T0 is 16:00 in Shanghai; T0 + 7 h is 23:00 there, 15:00 UTC


def alert_of(rule: str = "fall", severity: Severity = Severity.WARNING) -> Alert:
    return Alert(1, "r1", "s1", rule, severity, AlertState.OPEN, 0, 0, "t", "e", {})


def test_family_preferences_select_by_rule_then_star_then_default() -> None:
    assert wants(None, alert_of(severity=Severity.URGENT)) and not wants(None, alert_of())  # default: urgent and up
    picky = ContactPreference("f", rules=(("fall", Severity.WARNING), ("*", Severity.CRITICAL)))
    assert wants(picky, alert_of("fall", Severity.WARNING))
    assert not wants(picky, alert_of("spo2_low", Severity.URGENT))
    assert wants(picky, alert_of("spo2_low", Severity.CRITICAL))
    only_falls = ContactPreference("f", rules=(("fall", Severity.INFO),))
    assert not wants(only_falls, alert_of("spo2_low", Severity.CRITICAL))


def test_quiet_hours_are_in_the_contacts_time_zone_and_wrap_midnight() -> None:
    night = ContactPreference("f", "Asia/Shanghai", 22 * 60, 7 * 60)
    t0 = 1_764_403_200.0  # 08:00 UTC = 16:00 Shanghai
    assert not in_quiet_hours(night, t0)
    assert in_quiet_hours(night, t0 + EVENING)  # 23:00 Shanghai
    assert in_quiet_hours(night, t0 + 14 * 3600)  # 06:00 Shanghai
    assert not in_quiet_hours(night, t0 + 15 * 3600)  # 07:00 Shanghai: over
    assert not in_quiet_hours(ContactPreference("f", "Europe/London", 22 * 60, 7 * 60), t0 + EVENING)  # 15:00 there
    afternoon_nap = ContactPreference("f", "UTC", 13 * 60, 15 * 60)
    assert in_quiet_hours(afternoon_nap, t0 + 5 * 3600) and not in_quiet_hours(afternoon_nap, t0)
    assert not in_quiet_hours(None, t0)


def test_a_clinical_alert_reaches_operators_clinic_and_the_family_who_want_it(harness: Any) -> None:
    [alert] = harness.lifecycle.apply([harness.draft(harness.T0)], [])
    assert sorted(harness.sent()) == [
        ("clinic", "webhook", "raised"),
        ("fam1", "email", "raised"),  # fam1 has no preferences: urgent and up
        ("fam1", "mqtt", "raised"),
        ("op1", "webhook", "raised"),
    ]  # fam2 wants falls only; doc1 is on call, called on escalation only
    [clinic] = [m for m in harness.channels["webhook"].sent if m.contact_id == "clinic"]
    assert clinic.content_type == FHIR_JSON and clinic.payload["resourceType"] == "Bundle"
    [family] = [m for m in harness.channels["mqtt"].sent if m.contact_id == "fam1"]
    assert family.content_type == JSON and family.payload["alert"]["alert_id"] == alert.alert_id
    assert "Wang Fang (room 101)" in family.text and family.subject == "[urgent] SpO2 low - Wang Fang"
    assert {d.status for d in harness.store.deliveries(alert.alert_id)} == {"delivered"}


def test_quiet_hours_hold_back_family_messages_unless_critical(harness: Any) -> None:
    store = harness.store
    store.upsert_contact_preferences(
        [ContactPreference("fam2", "Asia/Shanghai", 22 * 60, 7 * 60, (("*", Severity.WARNING),))]
    )
    harness.clock.now = harness.T0 + EVENING  # 23:00 in Shanghai
    [urgent] = harness.lifecycle.apply([harness.draft(harness.clock.now)], [])
    assert ("fam2", "mqtt", "raised") not in harness.sent()
    [held] = [d for d in store.deliveries(urgent.alert_id) if d.contact_id == "fam2"]
    assert (held.status, held.error, held.attempt) == ("suppressed", "quiet hours", 0)
    assert ("fam1", "mqtt", "raised") in harness.sent()  # fam1 keeps no quiet hours
    harness.lifecycle.resolve(urgent.alert_id, "operator:zhang", harness.clock.now + 1)
    harness.clock.now += 3600  # midnight: still quiet, but a critical alert goes through
    [critical] = harness.lifecycle.apply([harness.draft(harness.clock.now, Severity.CRITICAL)], [])
    harness.settle()
    assert [d.status for d in store.deliveries(critical.alert_id) if d.contact_id == "fam2"] == ["delivered"]


def test_on_call_follows_the_rota_and_falls_back_to_the_clinic(harness: Any) -> None:
    [alert] = harness.lifecycle.apply([harness.draft(harness.T0)], [])
    router = harness.router
    assert [c.contact_id for c in router.escalation_contacts(alert, "on_call", harness.T0)] == ["doc1"]
    after_shift = harness.T0 + 13 * 3600
    assert [c.contact_id for c in router.escalation_contacts(alert, "on_call", after_shift)] == ["clinic"]
    assert [c.contact_id for c in router.escalation_contacts(alert, "family", harness.T0)] == ["fam1"]
    assert [c.contact_id for c in router.escalation_contacts(alert, "operators", harness.T0)] == ["op1"]
    with pytest.raises(ValueError, match="unknown"):
        router.escalation_contacts(alert, "everyone", harness.T0)


def test_everyone_told_hears_that_it_is_over(harness: Any) -> None:
    [alert] = harness.lifecycle.apply([harness.draft(harness.T0)], [])
    harness.sent()
    harness.lifecycle.resolve(alert.alert_id, "operator:zhang", harness.T0 + 60, "back to 95 %")
    over = sorted(s for s in harness.sent() if s[2] == "resolved")
    assert over == [
        ("clinic", "webhook", "resolved"), ("fam1", "email", "resolved"), ("fam1", "mqtt", "resolved"),
        ("op1", "webhook", "resolved"),
    ]  # fmt: skip
    [bundle] = [
        m.payload for m in harness.channels["webhook"].sent if m.kind == "resolved" and m.contact_id == "clinic"
    ]
    assert bundle["entry"][1]["resource"]["status"] == "inactive"
