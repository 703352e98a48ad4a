"""The storage contract. Every backend (TimescaleDB, SQLite) passes the same suite: tests/storage/test_contract.py."""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from carewatch.catalog import RULE_NAMES, Metric
from carewatch.model import (
    Alert,
    AlertDraft,
    AlertState,
    AlertTransition,
    Batch,
    Contact,
    ContactLink,
    DeadLetter,
    Device,
    EventRow,
    Resident,
    Severity,
    Site,
    WriteResult,
)
from carewatch.storage.retention import Purged, RetentionPolicy

TIME_SERIES_TABLES = ("readings", "events", "accel")
COUNTABLE_TABLES = (*TIME_SERIES_TABLES, "dead_letters", "alerts", "alert_transitions")
MAX_HISTORY_ROWS = 50_000  # one history query's rows at most: a day of 1 Hz samples, and then some


class StorageError(Exception):
    """A storage failure that retrying will not fix (schema missing, extension missing, bad credentials)."""


class TransientStorageError(Exception):
    """The database is unreachable or restarting: retry later, do not acknowledge what was not written."""


class AlertConflict(Exception):
    """A transition that the alert's current state does not allow (e.g. acknowledging a resolved alert)."""

    def __init__(self, alert: Alert | None, wanted: AlertState) -> None:
        self.alert = alert
        state = alert.state if alert else "missing"
        super().__init__(f"alert {alert.alert_id if alert else '?'} is {state}, cannot become {wanted}")


class Role(StrEnum):
    """Dashboard roles (docs/architecture.md, "Users and roles", says who may do what)."""

    ADMIN = "admin"  # everything, every site
    OPERATOR = "operator"  # the sites assigned: read, acknowledge, resolve, snooze
    CLINICIAN = "clinician"  # the sites assigned: read, acknowledge, set thresholds
    FAMILY = "family"  # the residents linked: read only


@dataclass(frozen=True, slots=True)
class User:
    username: str
    display_name: str
    role: Role
    site_ids: tuple[str, ...] = ()  # operator, clinician: the sites they work for
    resident_ids: tuple[str, ...] = ()  # family: their relatives
    active: bool = True


# NEWS2 (RCP 2017): the aggregate runs from 0 to 20 (3 for each of six parameters, 2 for supplemental oxygen); Chart
# 2 calls 5 the key threshold for an urgent response and 7 an emergency one.
NEWS2_MAX_SCORE = 20
NEWS2_URGENT_FROM = 5
NEWS2_EMERGENCY_FROM = 7
# A clinician's individual alarm limits (thresholds, a NEWS2 escalation) each carry the reason for the change, kept
# with who made it and when in the resident's audit trail (AACN practice alert on alarm management).
REASON_MAX = 500  # characters: a line of the resident's plan, not the plan itself


def reason_problem(reason: str) -> str | None:
    """Why a clinician's reason for an individual limit is not acceptable (None: it is)."""
    if not reason.strip():
        return "give the clinical reason (the decision documented in the resident's plan)"
    if len(reason) > REASON_MAX:
        return f"the reason is longer than {REASON_MAX} characters"
    return None


def threshold_limits_problem(metric: Metric, low: float | None, high: float | None) -> str | None:
    """Why a clinician's limits for ``metric`` are not acceptable (None: they are): each must lie within the metric's
    plausible range (carewatch.catalog). A reading beyond it is an artefact the rules never see, so a limit there
    could never be met, or always be crossed (a permanent alert)."""
    for side, value in (("low", low), ("high", high)):
        if value is not None and not metric.low <= value <= metric.high:
            unit = "" if metric.unit == "1" else f" {metric.unit}"
            plausible = f"{metric.low:g} to {metric.high:g}{unit}"
            return f"{side} {value:g} is outside the plausible range of {metric.label} ({plausible})"
    return None


def news2_escalation_problem(urgent_from: int, emergency_from: int, reason: str) -> str | None:
    """Why a NEWS2 escalation is not acceptable (None: it is)."""
    if not 1 <= urgent_from <= NEWS2_MAX_SCORE or not 1 <= emergency_from <= NEWS2_MAX_SCORE:
        return (
            f"NEWS2 levels run from 1 to {NEWS2_MAX_SCORE} (urgent_from {urgent_from}, emergency_from {emergency_from})"
        )
    if emergency_from <= urgent_from:
        return f"emergency_from ({emergency_from}) must be above urgent_from ({urgent_from})"
    return reason_problem(reason)


class ThresholdContext(StrEnum):
    """When a clinician's limit applies: ``always`` (the default), or only to readings taken while the resident is in
    bed (``in_bed``: their own bed sensor says occupied and no sign of being up came since, alerts.signals; a
    resident without a bed sensor is never in bed). Out of bed the ``always`` limit, or the rule's default, applies."""

    ALWAYS = "always"
    IN_BED = "in_bed"


def threshold_context_problem(context: str) -> str | None:
    """Why a threshold's context is not acceptable (None: it is)."""
    if context not in tuple(ThresholdContext):
        return f"context must be one of {', '.join(ThresholdContext)}, not {context!r}"
    return None


@dataclass(frozen=True, slots=True)
class Threshold:
    """A clinician's per-resident limits for one metric in one context (`ThresholdContext`: at most one record per
    resident, metric and context); None = no limit on that side (for ``in_bed``: the ``always`` limit, else the
    rule's default). The reason documents the decision (a line of the resident's plan). Raises ValueError without an
    acceptable reason (`reason_problem`) or with an unknown context."""

    resident_id: str
    metric: str
    low: float | None
    high: float | None
    reason: str
    updated_at: float
    updated_by: str
    context: str = ThresholdContext.ALWAYS

    def __post_init__(self) -> None:
        problem = reason_problem(self.reason) or threshold_context_problem(self.context)
        if problem is not None:
            raise ValueError(problem)


@dataclass(frozen=True, slots=True)
class ThresholdChange:
    """One entry of a resident's threshold audit trail: a metric's limits in one context set (``threshold``: those
    then in force, with their reason) or removed (``threshold`` None: back to the rule's default, or for ``in_bed``
    to the ``always`` limit)."""

    resident_id: str
    metric: str
    at: float
    by: str
    threshold: Threshold | None
    context: str = ThresholdContext.ALWAYS


@dataclass(frozen=True, slots=True)
class News2Escalation:
    """A clinician's documented decision to change when one resident's NEWS2 alerts: the aggregate from which it is
    urgent and an emergency, and whether a single parameter scoring 3 alerts on its own. The RCP (NEWS2, 2017)
    leaves the response to a score persistently raised by a chronic condition to a competent clinical decision-maker,
    documented in the patient's plan. Raises ValueError when not acceptable (`news2_escalation_problem`)."""

    resident_id: str
    urgent_from: int
    emergency_from: int
    red_score: bool  # False: a single 3 does not alert by itself (the aggregate still does)
    reason: str
    set_by: str
    set_at: float

    def __post_init__(self) -> None:
        problem = news2_escalation_problem(self.urgent_from, self.emergency_from, self.reason)
        if problem is not None:
            raise ValueError(problem)


@dataclass(frozen=True, slots=True)
class News2EscalationChange:
    """One entry of a resident's NEWS2 escalation audit trail: set (the escalation then in force) or removed
    (``escalation`` None: back to the defaults)."""

    resident_id: str
    at: float
    by: str
    escalation: News2Escalation | None


MAX_REPLAY_ROWS = 1_000_000  # one replay read per table at most: a minute of data for ~10,000 residents
MAX_STATS_ROWS = 500_000  # aggregate rows of one rebuild read: e.g. 10,000 residents x 5 metrics x 8 days


class ReadingStats(NamedTuple):
    resident_id: str
    metric: str
    start: float  # bucket start, epoch-aligned
    n: int  # readings in the bucket
    total: float  # sum of the values
    total_sq: float  # sum of their squares


class ActivityBucket(NamedTuple):
    device_id: str
    resident_id: str | None  # None for a shared sensor
    start: float  # bucket start, epoch-aligned
    first: float  # the bucket's first event
    last: float  # and its last
    n: int  # events in the bucket


class Bucket(NamedTuple):
    start: float  # epoch seconds, aligned to multiples of the bucket width since the epoch
    samples: int  # readings in the bucket
    min: float
    max: float
    mean: float


# Lifecycle records: escalation, routing, deliveries --------------------------------------------------------------
ESCALATION_TARGETS = ("operators", "on_call", "family", "clinic")
# An attempt's outcome, or what became of a message without one: held back ("suppressed"), refused by a full channel
# ("dropped"), queued for a later first attempt ("deferred": the end of quiet hours), withdrawn before it went
# ("superseded": an alert's end when the alert reopened).
DELIVERY_STATUSES = ("delivered", "retry", "failed", "dead", "suppressed", "dropped", "deferred", "superseded")


CONTACT_CHANNELS = ("email", "webhook", "mqtt")  # how a contact is reached (the dashboard's notices are not theirs)
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
ADDRESS_MAX = 500  # characters: an e-mail address (RFC 5321: 254), a webhook URL, an MQTT topic
MINUTES_PER_DAY = 1440
RULE_PATTERN = r"^(\*|[a-z0-9_]{1,64})$"  # a preference's rule: a rule's name, or * for any rule


@dataclass(frozen=True, slots=True)
class ContactChannel:
    """Where routing sends a contact's messages: the single source of where a contact is reached (a contact's
    ``email`` is their directory entry, not a channel)."""

    contact_id: str
    channel: str  # one of CONTACT_CHANNELS
    address: str  # an e-mail address, a webhook URL, an MQTT topic


@dataclass(frozen=True, slots=True)
class ContactPreference:
    """A contact's time zone, quiet hours (minutes after local midnight) and, for family, the rules they receive."""

    contact_id: str
    timezone: str = "UTC"
    quiet_start: int | None = None
    quiet_end: int | None = None
    rules: tuple[tuple[str, Severity], ...] = ()  # (rule or "*", lowest severity); empty = urgent and up


def channel_address_problem(channel: str, address: str) -> str | None:
    """Why ``address`` cannot be the address of a ``channel`` (None: it can)."""
    if channel not in CONTACT_CHANNELS:
        return f"channel must be one of {', '.join(CONTACT_CHANNELS)}, not {channel!r}"
    if not address or len(address) > ADDRESS_MAX or "\x00" in address or address != address.strip():
        return f"give an address of 1 to {ADDRESS_MAX} characters, without NUL or surrounding spaces"
    return _ADDRESS_PROBLEMS[channel](address)


def _email_problem(address: str) -> str | None:
    return None if re.fullmatch(EMAIL_PATTERN, address) else f"{address[:80]!r} is not an e-mail address"


def _webhook_problem(address: str) -> str | None:
    url = urlsplit(address)
    if url.scheme not in ("http", "https") or not url.hostname or any(c.isspace() for c in address):
        return "a webhook is an http:// or https:// URL with a host, e.g. https://clinic.example/carewatch"
    return None


def _mqtt_topic_problem(address: str) -> str | None:
    if "+" in address or "#" in address or address.startswith("$"):
        return "an MQTT topic to publish to has no wildcards (+, #) and does not start with $"
    return None


_ADDRESS_PROBLEMS = {"email": _email_problem, "webhook": _webhook_problem, "mqtt": _mqtt_topic_problem}


def timezone_problem(zone: str) -> str | None:
    """Why ``zone`` is not a time zone routing can use (None: it is)."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {zone[:80]!r}: give an IANA name such as Asia/Shanghai"
    return None


def preference_problem(preference: ContactPreference) -> str | None:
    """Why routing could not read ``preference`` as it is meant (None: it can)."""
    rules = [rule for rule, _ in preference.rules]
    bad = [rule for rule in rules if rule != "*" and rule not in RULE_NAMES]
    if bad:
        return f"{bad[0][:80]!r} is not a rule's name (docs/rules.md: fall, sos, spo2_low, ...) nor * (any rule)"
    if len(set(rules)) < len(rules):
        return "each rule at most once"
    return timezone_problem(preference.timezone) or quiet_hours_problem(preference.quiet_start, preference.quiet_end)


def quiet_hours_problem(start: int | None, end: int | None) -> str | None:
    """Why quiet hours from ``start`` to ``end`` (minutes after local midnight) are not acceptable (None: they are)."""
    if (start is None) != (end is None):
        return "give both ends of the quiet hours, or neither"
    if start is None or end is None:
        return None
    if not (0 <= start < MINUTES_PER_DAY and 0 <= end < MINUTES_PER_DAY):
        return f"quiet hours are minutes after local midnight, 0 to {MINUTES_PER_DAY - 1}"
    if start == end:
        return "quiet hours that start and end at the same minute hold nothing back: leave them out"
    return None


@dataclass(frozen=True, slots=True)
class EscalationStep:
    stage: int  # 1, 2, ...
    after_s: float  # after the alert opened
    target: str  # one of ESCALATION_TARGETS


@dataclass(frozen=True, slots=True)
class OnCallShift:
    site_id: str
    contact_id: str
    starts_at: float
    ends_at: float


SHIFTS_NAMED = 5  # a refusal names this many of the shifts in the way, then counts the rest


class StillOnRota(Exception):
    """A removal refused, and nothing removed: it would leave ``shifts`` (current or upcoming) to a contact who is no
    longer a contact of the shift's site, or no longer exists. The rota would then name someone the site does not
    call, or, the contact gone, nobody at all: the escalation's on-call stage would quietly fall back to the clinic.
    Reassign or remove the shifts first."""

    def __init__(self, contact_id: str, shifts: Sequence[OnCallShift]) -> None:
        self.contact_id = contact_id
        self.shifts = tuple(shifts)
        named = [f"{s.site_id} {_utc(s.starts_at)} to {_utc(s.ends_at)}" for s in self.shifts[:SHIFTS_NAMED]]
        more = len(self.shifts) - len(named)
        listed = "; ".join(named) + (f"; and {more} more" if more else "")
        super().__init__(
            f"contact {contact_id} is on the on-call rota ({listed}): reassign or remove these shifts first"
        )


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


@dataclass(frozen=True, slots=True)
class EscalationStage:
    alert_id: int
    stage: int
    target: str
    due_at: float
    fired_at: float | None = None
    cancelled_at: float | None = None

    @property
    def kind(self) -> str:
        """How its messages, and the dashboard's notice and alerts, name the stage: "escalation:<stage>"."""
        return f"escalation:{self.stage}"


def snooze_delay(dues: Iterable[float], until: float) -> float:
    """How far a snooze ending at ``until`` moves the pending escalation stages due at ``dues``: all by this one delay,
    so the first fires at the snooze's end (at its own time, if later) and the others keep their spacing after it (the
    on-call is not paged in the same instant as the operators' reminder)."""
    return max(0.0, until - min(dues, default=until))


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    at: float
    site_id: str
    alert_id: int | None  # None for a digest
    contact_id: str
    channel: str
    address: str
    kind: str  # "raised", "escalation:2", "resolved", "digest"
    idempotency_key: str  # the same for every attempt of one delivery
    attempt: int  # 1, 2, ...
    status: str  # one of DELIVERY_STATUSES
    error: str = ""


class AlertTally(NamedTuple):
    """The alerts of one rule and severity in a report's period."""

    rule: str
    severity: Severity
    alerts: int
    acknowledged: int
    resolved_automatically: int
    live: int  # not yet resolved


class EscalationTally(NamedTuple):
    """The escalation stages fired in a report's period."""

    by_target: dict[str, int]
    alerts: int  # the alerts escalated


OUTBOX_PENDING = "pending"  # an outbox message's state until it settles with one of DELIVERY_STATUSES
OUTBOX_STATES = (OUTBOX_PENDING, "delivered", "failed", "dead", "suppressed", "dropped", "superseded")
QUEUED, DUPLICATE = "queued", "duplicate"  # outcomes of enqueue_outbox besides the settled states


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One message of the durable outbox: the fields its audit rows need, the whole message (serialised by
    alerts/notify, which owns its shape) and where it stands. Pending: ``attempt`` is the next attempt's number, due at
    ``due_at``. Settled (one of DELIVERY_STATUSES): ``attempt`` is the last one's."""

    idempotency_key: str
    channel: str
    site_id: str
    alert_id: int | None  # None for a digest
    contact_id: str
    address: str
    kind: str
    message: dict[str, Any]
    state: str = OUTBOX_PENDING
    attempt: int = 1
    due_at: float = 0.0
    note: str = ""  # for an item settled (suppressed, failed) or deferred on submission: its audit row's error text


class StageClaim(NamedTuple):
    """Claim this escalation stage at ``at`` in the transaction that writes its messages (Store.enqueue_outbox)."""

    alert_id: int
    stage: int
    at: float


class Store(ABC):
    """Durable storage of the registry, readings, events, dead letters and alerts. Times are epoch seconds."""

    backend: str

    @abstractmethod
    def init_schema(self) -> None:
        """Create what is missing (idempotent)."""

    @abstractmethod
    def close(self) -> None: ...

    # Registry -------------------------------------------------------------------------------------------------
    @abstractmethod
    def upsert_sites(self, sites: Sequence[Site]) -> None: ...

    @abstractmethod
    def upsert_residents(self, residents: Sequence[Resident]) -> None: ...

    @abstractmethod
    def upsert_devices(self, devices: Sequence[Device]) -> None: ...

    @abstractmethod
    def registry_generation(self) -> int:
        """A counter that every write to sites, residents or devices raises, visible with the write's rows: a cheap
        read that says whether the registry changed since it was last read (one row, whatever its size)."""

    @abstractmethod
    def upsert_contacts(self, contacts: Sequence[Contact], links: Sequence[ContactLink]) -> None: ...

    @abstractmethod
    def sites(self) -> list[Site]: ...

    @abstractmethod
    def residents(self, site_id: str | None = None) -> list[Resident]: ...

    @abstractmethod
    def resident(self, resident_id: str) -> Resident | None: ...

    @abstractmethod
    def devices(self) -> list[Device]: ...

    @abstractmethod
    def contacts_of(self, resident_id: str) -> list[tuple[Contact, ContactLink]]: ...

    @abstractmethod
    def contacts(self, contact_ids: Sequence[str] | None = None) -> list[Contact]:
        """Every contact (or those of ``contact_ids`` that exist), linked to a resident or not (the site's operators,
        an on-call clinician), by id."""

    @abstractmethod
    def contact_links(self) -> list[ContactLink]:
        """Every link of a contact to a resident, by contact, priority and resident."""

    @abstractmethod
    def delete_contact_link(self, resident_id: str, contact_id: str, now: float) -> bool:
        """Unlink a contact from a resident (the contact stays); False when they were not linked. Raises StillOnRota
        (nothing removed) when that leaves them shifts at the resident's site that end after ``now`` while they are
        no longer a contact of it (not one of its own, not linked to another of its residents)."""

    @abstractmethod
    def delete_contact(self, contact_id: str, now: float) -> bool:
        """Remove a contact from the directory with what is theirs: their links to residents, their place among
        sites' own contacts, their channels, preferences and past on-call shifts (one transaction); False when there
        was none. Raises StillOnRota (nothing removed) while they have a shift that ends after ``now``. Delivery
        records keep their id (the audit trail)."""

    # Time series ----------------------------------------------------------------------------------------------
    @abstractmethod
    def write_batch(self, batch: Batch) -> WriteResult:
        """Write all rows of a batch in one transaction; rows already stored (same dedupe key) are skipped.

        Raises TransientStorageError when the database cannot be reached: nothing of the batch was written.
        """

    @abstractmethod
    def readings(self, resident_id: str, metric: str, start: float, end: float) -> list[tuple[float, float]]:
        """(ts, value) of one resident's non-artefact readings in [start, end), oldest first."""

    @abstractmethod
    def latest_readings(self, site_id: str | None = None) -> dict[str, dict[str, tuple[float, float]]]:
        """resident_id -> metric -> (ts, value) of the newest non-artefact reading."""

    @abstractmethod
    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest rejected messages first."""

    @abstractmethod
    def count(self, table: str) -> int:
        """Rows in one of COUNTABLE_TABLES."""

    # Alerts ---------------------------------------------------------------------------------------------------
    @abstractmethod
    def raise_alert(self, draft: AlertDraft, raised_at: float | None = None) -> Alert | None:
        """Open an alert, unless one for this resident and rule is live (then None). Audited as raised at
        ``raised_at`` (the wall clock; by default the draft's time, as for live data); ``opened_at`` keeps the
        draft's (the condition's) time."""

    @abstractmethod
    def acknowledge_alert(self, alert_id: int, actor: str, at: float, note: str = "") -> Alert:
        """open -> acknowledged; raises AlertConflict from any other state (the first of two racing operators wins)."""

    @abstractmethod
    def resolve_alert(self, alert_id: int, actor: str, at: float, note: str = "") -> Alert:
        """open or acknowledged -> resolved; raises AlertConflict when already resolved."""

    @abstractmethod
    def resolve_live(self, resident_id: str, rule: str, actor: str, at: float, note: str = "") -> Alert | None:
        """Resolve the live alert of this resident and rule, if there is one (the condition cleared), at ``at`` or,
        if it was raised later (from a backlog), at its raise."""

    @abstractmethod
    def alert(self, alert_id: int) -> Alert | None: ...

    @abstractmethod
    def alerts(self, site_id: str | None = None, live_only: bool = False, limit: int = 200) -> list[Alert]:
        """Newest first."""

    @abstractmethod
    def transitions(self, alert_id: int) -> list[AlertTransition]:
        """The audit trail of one alert, oldest first."""

    # History ------------------------------------------------------------------------------------------------------
    @abstractmethod
    def readings_bucketed(
        self, resident_id: str, metric: str, start: float, end: float, bucket_s: float
    ) -> list[Bucket]:
        """Non-artefact readings in [start, end) in buckets of bucket_s seconds (epoch-aligned), oldest first.

        Only buckets holding readings are returned (no gap filling).
        """

    @abstractmethod
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
        """Alerts opened in [since, until) matching every filter given (None = any), newest first."""

    # Dashboard: users, roles, sessions, thresholds ----------------------------------------------------------------
    @abstractmethod
    def save_user(self, user: User, password_hash: str | None = None) -> None:
        """Create or update a user and replace their sites and residents; None keeps the stored password hash.

        Raises StorageError when a new user comes without a password hash.
        """

    @abstractmethod
    def user(self, username: str) -> User | None: ...

    @abstractmethod
    def users(self) -> list[User]: ...

    @abstractmethod
    def password_hash(self, username: str) -> str | None:
        """The stored hash of an active user (None: no such user, or deactivated)."""

    @abstractmethod
    def delete_user(self, username: str) -> bool:
        """Remove a user and their sessions; False when there was none."""

    @abstractmethod
    def create_session(self, token_hash: str, username: str, created_at: float, expires_at: float) -> None: ...

    @abstractmethod
    def session_user(self, token_hash: str, now: float) -> User | None:
        """The active user of an unexpired session, else None."""

    @abstractmethod
    def delete_session(self, token_hash: str) -> None: ...

    @abstractmethod
    def purge_sessions(self, now: float) -> int:
        """Delete expired sessions; how many."""

    @abstractmethod
    def thresholds(self, resident_id: str) -> list[Threshold]:
        """The resident's thresholds, by metric and context."""

    @abstractmethod
    def set_threshold(self, threshold: Threshold) -> None:
        """Set or replace a resident's limits for one metric in one context, with its audit row (one transaction)."""

    @abstractmethod
    def delete_threshold(
        self, resident_id: str, metric: str, by: str, at: float, context: str = ThresholdContext.ALWAYS
    ) -> bool:
        """Remove the limits of one metric and context, with its audit row; False when the resident had none
        (nothing written). Raises ValueError for an unknown context."""

    @abstractmethod
    def threshold_changes(self, resident_id: str) -> list[ThresholdChange]:
        """The audit trail of a resident's thresholds (every metric and context), oldest first."""

    @abstractmethod
    def news2_escalation(self, resident_id: str) -> News2Escalation | None:
        """The resident's NEWS2 escalation in force (None: the defaults)."""

    @abstractmethod
    def set_news2_escalation(self, escalation: News2Escalation) -> None:
        """Set or replace a resident's NEWS2 escalation, with its audit row (one transaction)."""

    @abstractmethod
    def delete_news2_escalation(self, resident_id: str, by: str, at: float) -> bool:
        """Back to the defaults, with its audit row; False when the resident had none (nothing written)."""

    @abstractmethod
    def news2_escalation_changes(self, resident_id: str) -> list[News2EscalationChange]:
        """The audit trail of a resident's NEWS2 escalation, oldest first."""

    # Lifecycle: escalation, routing, deliveries ------------------------------------------------------------------
    @abstractmethod
    def reopen_recent(self, draft: AlertDraft, since: float, at: float | None = None) -> Alert | None:
        """Flap suppression: reopen this resident's and rule's newest alert if the system resolved it at or after
        ``since`` and no alert of theirs is live (audited resolved -> open at ``at``, by default the draft's time);
        else None."""

    @abstractmethod
    def snooze_alert(self, alert_id: int, actor: str, at: float, until: float, note: str = "") -> Alert:
        """Hold a live alert's escalation until ``until`` (audited; the state is unchanged).

        Raises AlertConflict when the alert is resolved."""

    @abstractmethod
    def snoozes(self, alert_ids: Sequence[int]) -> dict[int, float]:
        """When the newest snooze of each of these alerts that was snoozed ends (or ended): alert id -> end."""

    def snoozed_until(self, alert_id: int) -> float | None:
        return self.snoozes([alert_id]).get(alert_id)

    @abstractmethod
    def upsert_contact_channels(self, channels: Sequence[ContactChannel]) -> None: ...

    @abstractmethod
    def upsert_contact_preferences(self, preferences: Sequence[ContactPreference]) -> None:
        """Replaces each contact's time zone, quiet hours and rule list."""

    @abstractmethod
    def contact_channels(self, contact_ids: Sequence[str]) -> list[ContactChannel]:
        """The channels of these contacts, by contact and channel."""

    @abstractmethod
    def delete_contact_channel(self, contact_id: str, channel: str) -> bool:
        """The contact is no longer reached on this channel; False when they had none."""

    @abstractmethod
    def contact_preferences(self, contact_ids: Sequence[str]) -> dict[str, ContactPreference]: ...

    @abstractmethod
    def add_site_contacts(self, site_id: str, contact_ids: Sequence[str]) -> None:
        """The site's operators and clinic."""

    @abstractmethod
    def site_contacts(self, site_id: str) -> list[Contact]:
        """The site's own contacts (operators, clinic), by id."""

    @abstractmethod
    def delete_site_contact(self, site_id: str, contact_id: str, now: float) -> bool:
        """The contact is no longer one of the site's own (the contact stays); False when they were not. Raises
        StillOnRota (nothing removed) when that leaves them shifts at the site that end after ``now`` while they are
        no longer a contact of it (not linked to one of its residents)."""

    @abstractmethod
    def add_on_call_shifts(self, shifts: Sequence[OnCallShift]) -> None: ...

    @abstractmethod
    def on_call(self, site_id: str, at: float) -> list[Contact]:
        """The contacts whose shift for the site covers ``at``."""

    @abstractmethod
    def on_call_shifts(self, site_id: str, since: float) -> list[OnCallShift]:
        """The site's shifts that end after ``since`` (current and upcoming), by start."""

    @abstractmethod
    def delete_on_call_shift(self, site_id: str, contact_id: str, starts_at: float) -> bool:
        """Remove one shift (its key: site, contact, start); False when there was none."""

    @abstractmethod
    def set_escalation_policy(self, site_id: str, severity: Severity, steps: Sequence[EscalationStep]) -> None:
        """Replaces the site's policy for this severity; without steps, alerts of that severity never escalate."""

    @abstractmethod
    def delete_escalation_policy(self, site_id: str, severity: Severity) -> bool:
        """Remove the site's policy for this severity (the defaults apply again); False when none was set."""

    @abstractmethod
    def escalation_policy(self, site_id: str, severity: Severity) -> list[EscalationStep] | None:
        """The site's stages for this severity, by stage; [] for a policy set without steps (never escalate), None
        when the site has none configured (the defaults apply)."""

    @abstractmethod
    def plan_escalation(self, alert_id: int, stages: Sequence[EscalationStage]) -> None:
        """Insert stages not yet planned; re-arm (new due time) planned stages that have not fired (a reopen)."""

    @abstractmethod
    def due_escalations(self, now: float, limit: int = 100) -> list[EscalationStage]:
        """Pending stages due at ``now`` (not fired, not cancelled), oldest first."""

    @abstractmethod
    def claim_escalation(self, alert_id: int, stage: int, now: float) -> bool:
        """Mark a due stage fired, only if it is still pending and the alert still open: of racing claimers (two
        schedulers, a scheduler and an acknowledgement) exactly one wins."""

    @abstractmethod
    def escalations(self, alert_id: int) -> list[EscalationStage]: ...

    @abstractmethod
    def fired_escalations(self, alert_ids: Sequence[int]) -> dict[int, EscalationStage]:
        """The newest stage that fired of each of these alerts that escalated (alert id -> stage)."""

    @abstractmethod
    def record_deliveries(self, attempts: Sequence[DeliveryAttempt]) -> None: ...

    @abstractmethod
    def deliveries(self, alert_id: int | None = None, limit: int = 500) -> list[DeliveryAttempt]:
        """Oldest first; all alerts' when alert_id is None."""

    # The durable outbox of deliveries (alerts/notify/dispatch.py) ----------------------------------------------------
    @abstractmethod
    def enqueue_outbox(
        self, items: Sequence[OutboxItem], now: float, limit: int, claim: StageClaim | None = None
    ) -> list[str] | None:
        """Write messages to the outbox in one transaction; the outcome of each, in order.

        With ``claim``, first claim that escalation stage as claim_escalation does: when the claim is lost, nothing
        is written and the result is None. Then each item: a key already in the outbox -> DUPLICATE (nothing
        written); an item settled on submission (state suppressed or failed) -> stored settled, with its audit row;
        a pending item whose channel already has ``limit`` or more pending messages -> "dropped" (stored settled,
        audited); else QUEUED, and one due after ``now`` is audited "deferred" (attempt 0, its note). Racing writers
        may overshoot ``limit`` by their own items.
        """

    @abstractmethod
    def claim_outbox(self, channel: str, now: float, owner: str, lease_s: float, limit: int = 1) -> list[OutboxItem]:
        """Lease to ``owner`` until ``now + lease_s`` up to ``limit`` pending messages of the channel that are due
        at ``now`` and not leased (or whose lease ran out), soonest due first: of racing claimers one gets each.
        A message about an alert waits while one queued before it to the same target (contact, channel, address)
        is pending, in its retries or being sent: one alert's messages reach a target in the order queued."""

    @abstractmethod
    def withdraw_outbox(self, alert_id: int, kind: str, now: float, reason: str) -> list[OutboxItem]:
        """Settle the alert's pending messages of ``kind`` that are not being sent as "superseded", each audited
        (attempt 0, ``reason``), in one transaction; the ones withdrawn."""

    @abstractmethod
    def settle_outbox(self, attempt: DeliveryAttempt, owner: str, retry_at: float | None = None) -> bool:
        """Write the attempt's audit row and, in the same transaction, move its message on and end the lease:
        ``retry_at`` given -> pending, attempt + 1 due then; else settled with the attempt's status. False when the
        lease was no longer ``owner``'s (another dispatcher took the message over): only the audit row is written."""

    @abstractmethod
    def outbox(
        self, channel: str | None = None, pending_only: bool = False, limit: int = 500, alert_id: int | None = None
    ) -> list[OutboxItem]:
        """Outbox messages (of one channel; only the pending ones; of one alert), oldest first (as submitted)."""

    @abstractmethod
    def outbox_next_due(self, channel: str) -> float | None:
        """When the channel's next pending message may go (its due time, or the end of a lease on it; one waiting
        for an earlier message to its target goes after that one); None: none."""

    # Reports (alerts.reports): counted in the database, never capped ------------------------------------------
    @abstractmethod
    def alert_tallies(
        self, site_id: str | None, start: float, end: float, resident_id: str | None = None
    ) -> list[AlertTally]:
        """The alerts raised in [start, end) (of a site, of a resident), counted by rule and severity."""

    @abstractmethod
    def residents_alerted(self, site_id: str | None, start: float, end: float) -> int:
        """How many residents had an alert raised in [start, end)."""

    @abstractmethod
    def acknowledge_delays(
        self, site_id: str | None, start: float, end: float, resident_id: str | None = None
    ) -> list[float]:
        """Seconds from raise to acknowledgement of every acknowledged alert raised in [start, end), in no order."""

    @abstractmethod
    def alerts_raised(
        self, site_id: str | None, start: float, end: float, resident_id: str | None = None, limit: int = 20
    ) -> list[Alert]:
        """The newest ``limit`` alerts raised in [start, end) (of a site, of a resident), oldest first."""

    @abstractmethod
    def escalation_tally(self, site_id: str | None, start: float, end: float) -> EscalationTally:
        """The escalation stages that fired in [start, end), counted by target, and the alerts they were of."""

    @abstractmethod
    def delivery_tallies(self, site_id: str | None, start: float, end: float) -> list[tuple[str, str, int]]:
        """The delivery attempts made in [start, end), counted: (channel, status, attempts)."""

    # Alert core: rebuilding its state after a restart (alerts.rebuild) ------------------------------------------
    @abstractmethod
    def replay_batch(
        self, start: float, end: float, metrics: Sequence[str] | None = None, events: bool = True, accel: bool = False,
        sites: Sequence[str] | None = None, devices: Sequence[str] | None = None,
    ) -> Batch:  # fmt: skip
        """Stored rows with times in [start, end), oldest first, as a Batch to replay into the alert core: readings
        (artefacts included, flagged; only ``metrics`` when given), events unless ``events`` is False, accelerometer
        blocks when ``accel``; only rows of ``sites`` when given (a worker's partition), of ``devices`` when given.
        At most MAX_REPLAY_ROWS per table: read long ranges in chunks."""

    @abstractmethod
    def reading_stats(self, start: float, end: float, metrics: Sequence[str], bucket_s: float) -> list[ReadingStats]:
        """Count, sum and sum of squares of non-artefact readings of residents in [start, end), per resident,
        metric and epoch-aligned bucket of ``bucket_s`` seconds (at most MAX_STATS_ROWS)."""

    @abstractmethod
    def activity_buckets(self, start: float, end: float, kinds: Sequence[str], bucket_s: float) -> list[ActivityBucket]:
        """First and last time and count of events of ``kinds`` in [start, end) (``motion`` only with value >= 0.5:
        a PIR clearing is no movement), per device and epoch-aligned bucket (at most MAX_STATS_ROWS)."""

    @abstractmethod
    def device_events(self, device_ids: Sequence[str], kind: str, start: float, end: float) -> list[EventRow]:
        """Stored events of one ``kind`` from ``device_ids`` in [start, end), by device and time, at most
        MAX_STATS_ROWS: for sensors that report a few changes a day (a bed sensor: a few to a few tens of rows per
        resident-day), read through the (device, kind, time) index; read a long range in chunks of time."""

    @abstractmethod
    def device_last_seen(self, since: float) -> dict[str, float]:
        """device_id -> newest time of any stored row (readings, events, accelerometer) at or after ``since``."""

    @abstractmethod
    def latest_device_readings(self, metric: str, since: float) -> dict[str, tuple[float, float]]:
        """Registered device_id -> (ts, value) of the device's newest non-artefact reading of ``metric`` at or after
        ``since``."""

    @abstractmethod
    def all_thresholds(self) -> list[Threshold]:
        """Every resident's thresholds (the alert core applies them all at once)."""

    @abstractmethod
    def all_news2_escalations(self) -> list[News2Escalation]:
        """Every resident's NEWS2 escalation (the alert core applies them all at once)."""

    # History at scale: roll-ups, retention (carewatch.storage.rollups, .retention, .history) ----------------------
    @abstractmethod
    def refresh_rollups(self, now: float) -> dict[str, int]:
        """Bring every roll-up up to date to ``now`` (incremental, idempotent), and re-aggregate the buckets that
        readings stored behind the watermark marked late (carewatch.storage.rollups); roll-up -> buckets written."""

    @abstractmethod
    def rollup_watermark(self, rollup: str) -> float | None:
        """Every bucket of this roll-up before the returned time is aggregated; None: never run."""

    @abstractmethod
    def history(self, resident_id: str, metric: str, start: float, end: float, bucket_s: float) -> list[Bucket]:
        """Like readings_bucketed, from raw readings for short windows and from a roll-up (then raw readings after
        its watermark) for long ones. A roll-up's first bucket may start before ``start`` (by less than its width).
        Short windows read the minute roll-up where retention removed the raw readings, in buckets of a whole number
        of minutes (1-minute buckets for ``bucket_s`` under a minute or not a multiple of one)."""

    @abstractmethod
    def alert_counts(self, site_id: str | None, start: float, end: float, bucket_s: float) -> list[tuple[float, int]]:
        """(bucket start, alerts opened) per epoch-aligned bucket of [start, end) holding any, oldest first."""

    @abstractmethod
    def apply_retention(self, policy: RetentionPolicy, now: float) -> dict[str, Purged]:
        """Remove what the policy no longer keeps (carewatch.storage.retention states the guarantee)."""
