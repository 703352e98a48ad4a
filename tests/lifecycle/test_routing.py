"""Routing on both backends: who is told of a new alert (operators, clinic for clinical alerts, family by their
preferences), quiet hours in the contact's own time zone with the critical bypass, the on-call rota, and the closing
message when an alert resolves: only to whoever was told (delivered or still being tried), in quiet hours deferred to
their end (withdrawn if the alert reopens first), once per resolution (a flap's reopening and escalation end with a
second one)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from lifecycle_support import wait_for

from alerts.notify.base import FHIR_JSON, JSON
from alerts.routing import in_quiet_hours, quiet_hours_end, wants
from carewatch.model import Alert, AlertState, Contact, ContactLink, ContactRole, Severity
from carewatch.storage.base import ContactPreference

EVENING = 7 * 3600  # T0 is 16:00 in Shanghai; T0 + 7 h is 23:00 there, 15:00 UTC


def alert_of(rule: str = "fall", severity: Severity = Severity.WARNING) -> Alert:
    return Alert(1, "r1", "s1", rule, severity, AlertState.OPEN, 0, 0, 0, "t", "e", {})


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


def test_quiet_hours_end_at_their_next_end_in_the_contacts_time_zone() -> None:
    night = ContactPreference("f", "Asia/Shanghai", 22 * 60, 7 * 60)
    t0 = 1_764_403_200.0  # 2025-11-29 16:00 Shanghai
    assert quiet_hours_end(night, t0 + EVENING).timestamp() == t0 + 15 * 3600  # 23:00 -> 07:00 the next day
    assert quiet_hours_end(night, t0 + 14 * 3600).timestamp() == t0 + 15 * 3600  # 06:00 -> 07:00 that day
    nap = ContactPreference("f", "UTC", 13 * 60, 15 * 60)
    assert quiet_hours_end(nap, t0 + 5 * 3600 + 59).timestamp() == t0 + 7 * 3600  # 13:00:59 UTC -> 15:00
    london = ContactPreference("f", "Europe/London", 22 * 60, 7 * 60)
    before_spring_forward = datetime(2025, 3, 29, 23, 0, tzinfo=UTC).timestamp()  # 23:00 GMT; BST from 01:00 UTC
    assert quiet_hours_end(london, before_spring_forward) == datetime(2025, 3, 30, 6, 0, tzinfo=UTC)  # 07:00 BST


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


def over(harness: Any) -> list[tuple[str, str]]:
    """(contact, channel) of every "resolved" message delivered."""
    return sorted((contact, channel) for contact, channel, kind in harness.sent() if kind == "resolved")


def family_of_everything(harness: Any) -> None:
    """fam2 hears of every alert from warning up, and sleeps 22:00-07:00 Shanghai time."""
    preference = ContactPreference("fam2", "Asia/Shanghai", 22 * 60, 7 * 60, (("*", Severity.WARNING),))
    harness.store.upsert_contact_preferences([preference])


def statuses(harness: Any, alert: Any, contact: str) -> list[tuple[str, str, str]]:
    harness.settle()
    return [(d.kind, d.status, d.error) for d in harness.store.deliveries(alert.alert_id) if d.contact_id == contact]


def retried(harness: Any) -> bool:
    """Whether every message settled, moving the clock a second on (retries fall due on the harness's clock)."""
    harness.clock.advance(1.0)
    harness.dispatcher.wake()
    return bool(harness.dispatcher.idle())


def test_a_family_member_held_back_by_quiet_hours_is_not_told_it_is_over(harness: Any) -> None:
    family_of_everything(harness)
    harness.clock.now = harness.T0 + EVENING  # 23:00 in Shanghai
    [alert] = harness.lifecycle.apply([harness.draft(harness.clock.now)], [])
    harness.lifecycle.resolve(alert.alert_id, "operator:zhang", harness.clock.advance(600))
    assert statuses(harness, alert, "fam2") == [("raised", "suppressed", "quiet hours")]  # nothing about its end
    assert over(harness) == [("clinic", "webhook"), ("fam1", "email"), ("fam1", "mqtt"), ("op1", "webhook")]


MORNING = 15 * 3600  # T0 + 15 h: 07:00 the next day in Shanghai, the end of fam2's quiet hours
UNTIL_MORNING = "quiet hours: until 2025-11-30 07:00 Asia/Shanghai"


@pytest.mark.parametrize("severity", [Severity.URGENT, Severity.CRITICAL])
def test_the_end_of_an_alert_told_by_day_waits_for_the_end_of_the_quiet_hours(harness: Any, severity: Severity) -> None:
    """An urgent alert told by day ends at night: its end is deferred to the end of the quiet hours (07:00 in their
    time zone), audited as such, and goes then. A critical one went through the quiet hours and woke them: they hear
    that it is over at once."""
    family_of_everything(harness)
    told_at = harness.T0 if severity is Severity.URGENT else harness.T0 + EVENING  # a critical alert goes at night
    harness.clock.now = told_at
    [alert] = harness.lifecycle.apply([harness.draft(told_at, severity)], [])
    harness.settle()  # told
    harness.clock.now = harness.T0 + EVENING + 600  # 23:10 in Shanghai
    harness.lifecycle.resolve(alert.alert_id, "operator:zhang", harness.clock.now)
    assert ("fam1", "mqtt") in over(harness)  # fam1 keeps no quiet hours
    if severity is Severity.CRITICAL:
        assert statuses(harness, alert, "fam2") == [("raised", "delivered", ""), ("resolved", "delivered", "")]
        return
    assert statuses(harness, alert, "fam2") == [("raised", "delivered", ""), ("resolved", "deferred", UNTIL_MORNING)]
    [deferred] = harness.store.outbox(pending_only=True)
    assert (deferred.contact_id, deferred.kind, deferred.due_at) == ("fam2", "resolved", harness.T0 + MORNING)
    assert ("fam2", "mqtt") not in over(harness)  # not at night
    harness.clock.now = harness.T0 + MORNING
    harness.dispatcher.wake()
    assert ("fam2", "mqtt") in over(harness)
    assert statuses(harness, alert, "fam2")[-1] == ("resolved", "delivered", "")


def resolve_by_itself(harness: Any, cleared_at: float) -> None:
    harness.lifecycle.apply([], [harness.cleared(cleared_at)])
    harness.clock.now = cleared_at + harness.HOLD_S
    assert [a.state for a in harness.lifecycle.tick(harness.clock.now)] == [AlertState.RESOLVED]
    harness.settle()


def test_a_deferred_end_is_withdrawn_when_the_alert_reopens_and_the_last_end_goes_in_the_morning(
    harness: Any,
) -> None:
    """Told by day; at night it resolves by itself (its end deferred: to the morning for fam2, who sleeps, and for
    everyone else until the flap window has passed, within which it may reopen), comes back within the flap window
    (the deferred ends are withdrawn: it is not over), and resolves again, by hand: in the morning fam2 hears once
    that it is over, the second resolution's message; fam1 (no quiet hours) hears that one at once, and never heard
    "over" while it was open again (the review: an end sent at once was followed by silence when it reopened)."""
    family_of_everything(harness)
    [alert] = harness.lifecycle.apply([harness.draft(harness.T0)], [])
    harness.settle()
    resolve_by_itself(harness, harness.T0 + EVENING)
    due = {(i.contact_id, i.channel): i.due_at for i in harness.store.outbox(pending_only=True)}
    settled = harness.clock.now + harness.FLAP_S
    assert due == {("fam2", "mqtt"): harness.T0 + MORNING} | {target: settled for target in due if target[0] != "fam2"}
    assert ("fam1", "mqtt") in due and over(harness) == []
    harness.clock.advance(60)
    [reopened] = harness.lifecycle.apply([harness.draft(harness.clock.now)], [])
    assert reopened.alert_id == alert.alert_id and harness.store.outbox(pending_only=True) == []
    harness.lifecycle.resolve(alert.alert_id, "operator:zhang", harness.clock.advance(600))
    harness.settle()
    [second_end] = harness.store.outbox(pending_only=True)
    assert second_end.contact_id == "fam2" and second_end.idempotency_key.endswith("resolved:2-fam2-mqtt")
    harness.clock.now = harness.T0 + MORNING
    harness.dispatcher.wake()
    assert [s for s in harness.sent() if s[0] == "fam2"] == [("fam2", "mqtt", "raised"), ("fam2", "mqtt", "resolved")]
    assert statuses(harness, alert, "fam2") == [
        ("raised", "delivered", ""), ("resolved", "deferred", UNTIL_MORNING),
        ("resolved", "superseded", "the alert reopened"), ("resolved", "deferred", UNTIL_MORNING),
        ("resolved", "delivered", ""),
    ]  # fmt: skip
    assert [s for _, s, _ in statuses(harness, alert, "fam1") if s != "delivered"] == ["deferred"] * 2 + [
        "superseded"
    ] * 2
    assert over(harness).count(("fam1", "mqtt")) == 1


def test_a_message_that_died_told_nobody(harness: Any) -> None:
    harness.channels["email"].failures = 100  # fam1's e-mail is dead-lettered after 3 attempts
    [alert] = harness.lifecycle.apply([harness.draft(harness.T0)], [])
    wait_for(lambda: retried(harness), "the e-mail's retries to run out")
    assert [s for _, s, _ in statuses(harness, alert, "fam1") if s != "delivered"] == ["retry", "retry", "dead"]
    harness.channels["email"].failures = 0
    harness.lifecycle.resolve(alert.alert_id, "operator:zhang", harness.clock.advance(60))
    assert over(harness) == [("clinic", "webhook"), ("fam1", "mqtt"), ("op1", "webhook")]
    assert [
        i for i in harness.store.outbox(alert_id=alert.alert_id) if i.kind == "resolved" and i.channel == "email"
    ] == []


def test_a_message_still_being_tried_counts_as_told(harness: Any) -> None:
    harness.dispatcher.stop()  # nothing is sent: the raised messages wait in the outbox
    [alert] = harness.lifecycle.apply([harness.draft(harness.T0)], [])
    harness.lifecycle.resolve(alert.alert_id, "operator:zhang", harness.clock.advance(60))
    pending = harness.store.outbox(pending_only=True, alert_id=alert.alert_id)
    raised = sorted((i.contact_id, i.channel) for i in pending if i.kind == "raised")
    assert raised == sorted((i.contact_id, i.channel) for i in pending if i.kind == "resolved")
    assert raised == [("clinic", "webhook"), ("fam1", "email"), ("fam1", "mqtt"), ("op1", "webhook")]


def test_the_on_call_clinician_hears_that_it_is_over(harness: Any) -> None:
    """Dr Chen is on the rota and linked to another resident: neither a site contact nor one of Wang Fang's."""
    doctor = Contact("doc1", "Dr Chen", ContactRole.CLINICIAN)
    harness.store.upsert_contacts([doctor], [ContactLink("r2", "doc1", "doctor", 1)])
    [alert] = harness.lifecycle.apply([harness.draft(harness.T0)], [])
    harness.clock.now = harness.T0 + 600
    assert [s.target for s in harness.escalator.run_due()] == ["operators", "operators", "on_call"]
    harness.lifecycle.resolve(alert.alert_id, "operator:zhang", harness.clock.advance(60))
    assert ("doc1", "email") in over(harness)
    [closing] = [m for m in harness.channels["email"].sent if m.contact_id == "doc1" and m.kind == "resolved"]
    assert closing.payload["resourceType"] == "Bundle"  # a clinician's copy is FHIR


def test_each_resolution_after_a_flap_tells_whoever_was_told_since(harness: Any) -> None:
    """Raised, resolved by itself (its end waits out the flap window), back within it (the same alert, nobody told,
    the waiting end withdrawn: nobody heard "over" while it was open again), escalated, resolved by hand: that
    resolution reaches everyone told, the first episode's and those the escalation called, once each."""
    t0, clock, lifecycle = harness.T0, harness.clock, harness.lifecycle
    [alert] = lifecycle.apply([harness.draft(t0)], [])
    clock.now = t0 + 10 + harness.HOLD_S
    lifecycle.apply([], [harness.cleared(t0 + 10)])
    assert [a.state for a in lifecycle.tick(clock.now)] == [AlertState.RESOLVED]
    harness.settle()
    assert over(harness) == []  # it may yet come back
    clock.now = t0 + 100
    [reopened] = lifecycle.apply([harness.draft(clock.now)], [])
    assert reopened.alert_id == alert.alert_id and reopened.state is AlertState.OPEN
    clock.now = t0 + 1300
    assert [s.target for s in harness.escalator.run_due()] == ["operators", "operators", "on_call", "family"]
    lifecycle.resolve(alert.alert_id, "operator:zhang", clock.advance(60))
    everyone = [("clinic", "webhook"), ("doc1", "email"), ("fam1", "email"), ("fam1", "mqtt"), ("op1", "webhook")]
    assert over(harness) == everyone
    ends = [i for i in harness.store.outbox(alert_id=alert.alert_id) if i.kind == "resolved"]
    assert sorted(i.state for i in ends) == ["delivered"] * 5 + ["superseded"] * 4
    assert len({i.idempotency_key for i in ends}) == 9  # each resolution's message has its own key
