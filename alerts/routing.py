"""Routing: who hears about an alert, on which channel, and when not.

- The operators of the site see everything: the dashboard's websocket feed (the Notifier), plus the channels of the
  site's operator contacts for new alerts and escalations.
- Family contacts receive the alerts of their relative that their preferences select (rule and lowest severity;
  without preferences: urgent and critical), not during their quiet hours (in their own time zone), except critical
  alerts, which always go through. A message held back is audited as "suppressed".
- The clinic (the site's clinician contacts) receives clinical alerts, as a FHIR R4 Bundle; the on-call clinician of
  the rota receives escalations.
- When an alert resolves, whoever was told of it and not yet that it is over hears it is over, on the channel and
  address they were told on: told means a message delivered or still being tried (one held back, refused by a full
  channel, failed, dead-lettered or withdrawn told nobody). Each resolution of an alert (a flap reopens it) is its own
  message, so whoever an escalation called after the reopening hears of its end too. A critical alert's end goes
  through quiet hours (it woke them; they should not lie awake over it). The end of any other alert they were told of
  is deferred to the end of their quiet hours (in their time zone): queued with its first attempt then, audited
  "deferred" with until when. Not held back for good: they were told it began, they must hear it is over; not at
  night: a non-critical end is no reason to wake them.
- An alert that resolved by itself may come back within the flap window and reopen (alerts/lifecycle.py): its end is
  therefore sent only once that window has passed (deferred till then, audited "deferred"); one resolved by hand cannot
  reopen and goes at once. An alert that reopens is not over: its end not yet sent (waiting out the window, deferred to
  the morning, or in its retries) is withdrawn ("superseded", audited), so nobody hears "over" while it is open again
  (they would hear nothing more until it ended again); one being sent at that moment goes. Whoever it was meant for is
  told still (their newest message about it is not an end), so the next resolution, with its own key, tells them once
  that it is over: in the morning, one "resolved" for the whole night.
- Messages about one alert reach a target in the order they were queued (the dispatcher's outbox), so an end
  never arrives before the "raised" it follows, even when that one is in its retries.

Each routing hands its messages to the dispatcher at once, so they reach its durable outbox in one transaction; an
escalation stage's messages commit with the stage's claim (alerts/escalation.py says why).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.fhir import alert_bundle, is_clinical
from alerts.notify.base import FHIR_JSON, JSON, Message
from alerts.notify.dispatch import Deferred, Dispatcher
from carewatch.model import Alert, AlertState, Contact, ContactRole, Resident, Severity
from carewatch.storage.base import OUTBOX_PENDING, ContactPreference, EscalationStage, StageClaim, Store

log = logging.getLogger(__name__)

SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.URGENT: 2, Severity.CRITICAL: 3}
FAMILY_DEFAULT_LOWEST = Severity.URGENT  # a family contact without preferences hears of urgent and critical alerts
OPERATORS = "operators"  # the pseudo-contact of a site's dashboard notices
DASHBOARD_CHANNEL = "websocket"
RESOLVED = "resolved"  # the kind of the message that says an alert is over
TOLD = frozenset({"delivered", OUTBOX_PENDING})  # a message in these states told (or is still telling) its contact
ALERT_MESSAGES_MAX = 10_000  # an alert's messages read to find who was told: contacts x channels x (stages +
# resolutions) stays far below; a bound, so a runaway alert cannot make one resolution read without end

REOPENED = "the alert reopened"  # why an end not yet sent is withdrawn
SETTLING = "it may yet come back"  # why an automatic resolution's end waits out the flap window

Target = tuple[Contact, str, str]  # a contact, a channel, the address on it


class Routed(NamedTuple):
    """A routing's messages: to send now, held back (with the reason), deferred (to the end of quiet hours)."""

    messages: list[Message]
    held: list[tuple[Message, str]]
    deferred: list[Deferred]


def at_least(severity: Severity, lowest: Severity) -> bool:
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[lowest]


def wants(preference: ContactPreference | None, alert: Alert) -> bool:
    """Whether a family contact's preferences select this alert: the rule's own entry, else "*", else the default."""
    rules = dict(preference.rules) if preference else {}
    lowest = rules.get(alert.rule, rules.get("*", FAMILY_DEFAULT_LOWEST if not rules else None))
    return lowest is not None and at_least(alert.severity, lowest)


def in_quiet_hours(preference: ContactPreference | None, at: float) -> bool:
    """Whether ``at`` falls in the contact's quiet hours, in the contact's own time zone (start > end wraps)."""
    if preference is None or preference.quiet_start is None or preference.quiet_end is None:
        return False
    local = datetime.fromtimestamp(at, _zone(preference))
    minute = local.hour * 60 + local.minute
    start, end = preference.quiet_start, preference.quiet_end
    return start <= minute < end if start <= end else minute >= start or minute < end


def quiet_hours_end(preference: ContactPreference, at: float) -> datetime:
    """When the quiet hours ``at`` falls in end: the next quiet_end after ``at``, in the contact's time zone."""
    if preference.quiet_end is None:
        raise ValueError(f"contact {preference.contact_id} keeps no quiet hours")
    local = datetime.fromtimestamp(at, _zone(preference))
    hour, minute = divmod(preference.quiet_end, 60)
    end = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return end if end > local else end + timedelta(days=1)  # a day of the wall clock: the same time after a DST change


def _zone(preference: ContactPreference) -> ZoneInfo:
    try:
        return ZoneInfo(preference.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("contact %s has an unknown time zone %r: UTC", preference.contact_id, preference.timezone)
        return ZoneInfo("UTC")


class Router:
    def __init__(self, store: Store, dispatcher: Dispatcher, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._clock = clock

    # Who ------------------------------------------------------------------------------------------------------
    def raised_contacts(self, alert: Alert) -> list[Contact]:
        site = self._store.site_contacts(alert.site_id)
        contacts = [c for c in site if c.role is ContactRole.OPERATOR]
        if is_clinical(alert):
            contacts += [c for c in site if c.role is ContactRole.CLINICIAN]
        family = [c for c, _ in self._store.contacts_of(alert.resident_id) if c.role is ContactRole.FAMILY]
        preferences = self._store.contact_preferences([c.contact_id for c in family])
        contacts += [c for c in family if wants(preferences.get(c.contact_id), alert)]
        return _unique(contacts)

    def escalation_contacts(self, alert: Alert, target: str, at: float) -> list[Contact]:
        site = self._store.site_contacts(alert.site_id)
        if target == "operators":
            return [c for c in site if c.role is ContactRole.OPERATOR]
        if target == "clinic":
            return [c for c in site if c.role is ContactRole.CLINICIAN]
        if target == "on_call":  # nobody on the rota: the clinic answers
            return self._store.on_call(alert.site_id, at) or [c for c in site if c.role is ContactRole.CLINICIAN]
        if target == "family":  # the emergency contact: the family link called first
            family = [(link.priority, c) for c, link in self._store.contacts_of(alert.resident_id)]
            family = [(p, c) for p, c in family if c.role is ContactRole.FAMILY]
            return [min(family, key=lambda pc: pc[0])[1]] if family else []
        raise ValueError(f"unknown escalation target {target!r}")

    # What -----------------------------------------------------------------------------------------------------
    def raised(self, alert: Alert) -> int:
        routed = self.messages(alert, self.raised_contacts(alert), "raised")
        self._submit(routed)
        return len(routed.messages)

    def escalate(self, alert: Alert, stage: EscalationStage, fired_at: float | None = None) -> bool:
        """Queue a stage's messages. With ``fired_at`` the stage is claimed (fired at that time) in the transaction
        that writes them: False, and nothing queued, when it was acknowledged or claimed by another worker first."""
        kind = stage.kind
        routed = self.messages(alert, self.escalation_contacts(alert, stage.target, stage.due_at), kind)
        if stage.target == OPERATORS:
            notice = self._message(alert, self._resident(alert), None, DASHBOARD_CHANNEL, alert.site_id, kind)
            routed.messages.insert(0, notice)
        return self._submit(routed, None if fired_at is None else StageClaim(stage.alert_id, stage.stage, fired_at))

    def resolved(self, alert: Alert, settle_s: float = 0.0) -> int:
        """Tell whoever was told of the alert, and not yet that it is over, that it is over, no sooner than
        ``settle_s`` from now (an automatic resolution: the flap window, within which it may reopen; quiet hours
        defer it further); how many messages go now."""
        told = self.told(alert)
        contacts = {c.contact_id: c for c in self._store.contacts(sorted({contact_id for contact_id, _, _ in told}))}
        targets = [(contacts[c], channel, address) for c, channel, address in told if c in contacts]
        episode = sum(t.to_state is AlertState.RESOLVED for t in self._store.transitions(alert.alert_id))
        routed = self._compose(alert, targets, RESOLVED, episode, self._clock() + settle_s)
        self._submit(routed)
        return len(routed.messages)

    def reopened(self, alert: Alert) -> int:
        """The alert is open again (a flap): withdraw its end not yet sent; how many messages were withdrawn."""
        return self._dispatcher.withdraw(alert.alert_id, RESOLVED, REOPENED)

    def told(self, alert: Alert) -> list[tuple[str, str, str]]:
        """(contact, channel, address) told of the alert and not yet that it is over: their newest message about it
        that was delivered or is still being tried is not a resolution. Dashboard notices are for no one person."""
        newest: dict[tuple[str, str, str], str] = {}
        for item in self._store.outbox(alert_id=alert.alert_id, limit=ALERT_MESSAGES_MAX):  # oldest first
            if item.state in TOLD and item.channel != DASHBOARD_CHANNEL:
                newest[(item.contact_id, item.channel, item.address)] = item.kind
        return sorted(target for target, kind in newest.items() if kind != RESOLVED)

    def messages(self, alert: Alert, contacts: Sequence[Contact], kind: str) -> Routed:
        """One message per contact and channel, sorted by quiet hours (``_compose``)."""
        by_contact = {c.contact_id: c for c in contacts}
        channels = self._store.contact_channels(list(by_contact))
        return self._compose(alert, [(by_contact[c.contact_id], c.channel, c.address) for c in channels], kind)

    def _compose(
        self, alert: Alert, targets: Sequence[Target], kind: str, episode: int | None = None,
        not_before: float | None = None,
    ) -> Routed:  # fmt: skip
        """One message per target, going at ``not_before`` (None: now; later: deferred till then). A family contact in
        quiet hours then: a critical alert's message goes, another alert's end is deferred to the end of the quiet
        hours, anything else is held back."""
        preferences = self._store.contact_preferences(sorted({contact.contact_id for contact, _, _ in targets}))
        critical = alert.severity is Severity.CRITICAL
        resident = self._resident(alert)
        now = self._clock()
        at = now if not_before is None else max(now, not_before)
        routed = Routed([], [], [])
        for contact, channel, address in targets:
            message = self._message(alert, resident, contact, channel, address, kind, episode)
            preference = preferences.get(contact.contact_id)
            quiet = contact.role is ContactRole.FAMILY and in_quiet_hours(preference, at) and not critical
            if quiet and kind == RESOLVED and preference is not None:
                end = quiet_hours_end(preference, at)
                note = f"quiet hours: until {end:%Y-%m-%d %H:%M} {end.tzinfo}"
                routed.deferred.append(Deferred(message, end.timestamp(), note))
            elif quiet:
                routed.held.append((message, "quiet hours"))
            elif at > now:
                until = datetime.fromtimestamp(at, ZoneInfo("UTC"))
                routed.deferred.append(Deferred(message, at, f"{SETTLING}: until {until:%Y-%m-%d %H:%M:%S} UTC"))
            else:
                routed.messages.append(message)
        return routed

    def _submit(self, routed: Routed, claim: StageClaim | None = None) -> bool:
        return self._dispatcher.submit_all(routed.messages, routed.held, claim, routed.deferred)

    def _message(
        self, alert: Alert, resident: Resident | None, contact: Contact | None, channel: str, address: str, kind: str,
        episode: int | None = None,
    ) -> Message:  # fmt: skip
        """``episode`` numbers an occasion that recurs (the alert's first, second resolution): its own key."""
        contact_id = contact.contact_id if contact else OPERATORS
        occasion = kind if episode is None else f"{kind}:{episode}"
        subject = _subject(alert, resident, kind)
        clinic = contact is not None and contact.role is ContactRole.CLINICIAN
        payload: dict[str, Any] = alert_bundle(alert, resident) if clinic else {"kind": kind, "alert": asdict(alert)}
        return Message(
            site_id=alert.site_id, alert_id=alert.alert_id, contact_id=contact_id, channel=channel, address=address,
            kind=kind, idempotency_key=f"alert-{alert.alert_id}-{occasion}-{contact_id}-{channel}", subject=subject,
            text=_text(alert, resident, kind), payload=payload, content_type=FHIR_JSON if clinic else JSON,
        )  # fmt: skip

    def _resident(self, alert: Alert) -> Resident | None:
        return self._store.resident(alert.resident_id)


def _unique(contacts: Sequence[Contact]) -> list[Contact]:
    return list({c.contact_id: c for c in contacts}.values())


def _subject(alert: Alert, resident: Resident | None, kind: str) -> str:
    who = resident.name if resident else alert.resident_id
    prefix = {"raised": "", RESOLVED: "Resolved: "}.get(kind, "Not acknowledged: " if kind.startswith("esc") else "")
    return f"{prefix}[{alert.severity.value}] {alert.title} - {who}"


def _text(alert: Alert, resident: Resident | None, kind: str) -> str:
    who = alert.resident_id if resident is None else resident.name
    if resident is not None and resident.room:
        who += f" (room {resident.room})"
    opened, raised = (_utc(t) for t in (alert.opened_at, alert.raised_at))
    when = f"Opened {opened}" if raised == opened else f"Condition since {opened}, raised {raised}"
    lines = [f"{alert.title}: {who}, site {alert.site_id}.", alert.explanation, f"{when}; now {alert.state}."]
    if kind.startswith("escalation"):
        lines.insert(0, "Nobody has acknowledged this alert yet: you are being called as the next step.")
    if kind == RESOLVED:
        lines.insert(0, "This alert is over.")
    return "\n".join(lines)


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M UTC")
