"""Request and response models of the API (pydantic at the edge; internal types stay dataclasses).

Requests are `...Create` / `...Update` / `...Set`, responses `...Public`: what a client may send is never what the
server stores (a password hash, an actor taken from the session) and the two evolve separately.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from alerts.review import LimitReview
from carewatch.model import (
    ID_MAX,
    ID_PATTERN,
    ID_RULE,
    Alert,
    AlertState,
    AlertTransition,
    Contact,
    ContactLink,
    ContactRole,
    Device,
    DeviceKind,
    Resident,
    Severity,
    Site,
    SiteKind,
    id_problem,
)
from carewatch.storage.base import (
    ADDRESS_MAX,
    EMAIL_PATTERN,
    MINUTES_PER_DAY,
    NEWS2_EMERGENCY_FROM,
    NEWS2_MAX_SCORE,
    NEWS2_URGENT_FROM,
    REASON_MAX,
    RULE_PATTERN,
    Bucket,
    ContactChannel,
    ContactPreference,
    EscalationStage,
    EscalationStep,
    News2Escalation,
    News2EscalationChange,
    OnCallShift,
    Role,
    Threshold,
    ThresholdChange,
    User,
    news2_escalation_problem,
    reason_problem,
    timezone_problem,
)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


NoNul = AfterValidator(_no_nul)  # PostgreSQL text cannot hold NUL: refuse it at the edge (422), not in the database
NAME_MAX = 200  # characters: a person's or a place's name, as shown on a tile


def _id(value: str) -> str:
    if id_problem(value) is not None:
        raise PydanticCustomError("id", ID_RULE)
    return value


def _name(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "a name cannot be blank")
    return value.strip()


def _timezone(value: str) -> str:
    problem = timezone_problem(value)
    if problem is not None:
        raise PydanticCustomError("timezone", "{problem}", {"problem": problem})
    return value


Id = Annotated[
    str, Field(min_length=1, max_length=ID_MAX, json_schema_extra={"pattern": ID_PATTERN}), AfterValidator(_id)
]
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX), NoNul, AfterValidator(_name)]  # stored trimmed
TimeZone = Annotated[str, Field(min_length=1, max_length=64, description="IANA, e.g. Asia/Shanghai"), NoNul,
                     AfterValidator(_timezone)]  # fmt: skip
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="alert id")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Auth and users ------------------------------------------------------------------------------------------------------


class LoginRequest(Strict):
    username: Annotated[str, Field(min_length=1, max_length=64), NoNul]
    password: Annotated[str, Field(min_length=1, max_length=200)]


class UserPublic(BaseModel):
    username: str
    display_name: str
    role: Role
    site_ids: list[str]
    resident_ids: list[str]
    active: bool

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(
            username=user.username, display_name=user.display_name, role=user.role, site_ids=list(user.site_ids),
            resident_ids=list(user.resident_ids), active=user.active,
        )  # fmt: skip


class LoginPublic(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>` (browsers get the same in a cookie)")
    expires_at: float
    user: UserPublic


class UserCreate(Strict):
    username: Id
    display_name: Name
    role: Role
    password: Annotated[str, Field(min_length=10, max_length=200)]
    site_ids: list[Id] = Field(default_factory=list, description="operator, clinician: the sites they work for")
    resident_ids: list[Id] = Field(default_factory=list, description="family: their relatives")

    @model_validator(mode="after")
    def _scope_fits_role(self) -> UserCreate:
        check_scope(self.role, self.site_ids, self.resident_ids)
        return self


class UserUpdate(Strict):
    display_name: Name | None = None
    role: Role | None = None
    password: Annotated[str, Field(min_length=10, max_length=200)] | None = None
    site_ids: list[Id] | None = None
    resident_ids: list[Id] | None = None
    active: bool | None = None


def check_scope(role: Role, site_ids: list[str], resident_ids: list[str]) -> None:
    if role is Role.FAMILY and site_ids:
        raise ValueError("a family user is linked to residents, not sites")
    if role in (Role.OPERATOR, Role.CLINICIAN) and resident_ids:
        raise ValueError(f"a {role} works for sites, not single residents")
    if role is Role.ADMIN and (site_ids or resident_ids):
        raise ValueError("an admin sees every site: give no sites or residents")


# Registry ------------------------------------------------------------------------------------------------------------


class SitePublic(BaseModel):
    site_id: str
    name: str
    kind: SiteKind
    timezone: str

    @classmethod
    def of(cls, site: Site) -> SitePublic:
        return cls.model_validate(site, from_attributes=True)


class SiteUpsert(Strict):
    """A site, created or replaced; a field left out keeps its stored value (carewatch.model.upserted)."""

    name: Name
    kind: SiteKind
    timezone: TimeZone = "UTC"


class News2Public(BaseModel):
    score: int
    response: Literal["low", "low_medium", "medium", "high"]
    missing: int = Field(description="of RR, SpO2, systolic BP, HR, temperature: how many lack a recent reading")


class ResidentPublic(BaseModel):
    resident_id: str
    site_id: str
    name: str
    room: str | None
    birth_year: int | None
    spo2_scale: int
    latest: dict[str, tuple[float, float]] = Field(description="metric -> (epoch seconds, value)")
    news2: News2Public | None = None

    @classmethod
    def of(
        cls, resident: Resident, latest: dict[str, tuple[float, float]], news2: News2Public | None = None
    ) -> ResidentPublic:
        return cls(
            resident_id=resident.resident_id, site_id=resident.site_id, name=resident.name, room=resident.room,
            birth_year=resident.birth_year, spo2_scale=resident.spo2_scale, latest=latest, news2=news2,
        )  # fmt: skip


class ResidentUpsert(Strict):
    """A resident, created or replaced; a field left out keeps its stored value (carewatch.model.upserted): the
    SpO2 scale, a clinician's decision, is never reset by a client that does not show it."""

    site_id: Id
    name: Name
    room: Annotated[str, Field(max_length=32), NoNul] | None = None
    birth_year: Annotated[int, Field(ge=1900, le=2100)] | None = None
    spo2_scale: Literal[1, 2] = 1


class DevicePublic(BaseModel):
    device_id: str
    site_id: str
    kind: DeviceKind
    resident_id: str | None
    room: str | None
    friendly_name: str | None

    @classmethod
    def of(cls, device: Device) -> DevicePublic:
        return cls.model_validate(device, from_attributes=True)


class DeviceUpsert(Strict):
    """A device, created or replaced; a field left out keeps its stored value (carewatch.model.upserted): the
    Zigbee2MQTT name ingest maps a bridged sensor by is never cleared by a client that does not show it."""

    site_id: Id
    kind: DeviceKind
    resident_id: Id | None = None
    room: Annotated[str, Field(max_length=32), NoNul] | None = None
    friendly_name: Annotated[str, Field(min_length=1, max_length=100), NoNul] | None = None


class ContactPublic(BaseModel):
    contact_id: str
    name: str
    role: ContactRole
    email: str | None
    phone: str | None
    relation: str
    priority: int

    @classmethod
    def of(cls, contact: Contact, link: ContactLink) -> ContactPublic:
        return cls(
            contact_id=contact.contact_id, name=contact.name, role=contact.role, email=contact.email,
            phone=contact.phone, relation=link.relation, priority=link.priority,
        )  # fmt: skip


class ContactLinkPublic(BaseModel):
    resident_id: str
    contact_id: str
    relation: str
    priority: int

    @classmethod
    def of(cls, link: ContactLink) -> ContactLinkPublic:
        return cls.model_validate(link, from_attributes=True)


ChannelKind = Literal["email", "webhook", "mqtt"]  # carewatch.storage.base.CONTACT_CHANNELS


class ContactChannelPublic(BaseModel):
    channel: ChannelKind
    address: str = Field(description="an e-mail address, a webhook URL (http or https), an MQTT topic")

    @classmethod
    def of(cls, channel: ContactChannel) -> ContactChannelPublic:
        return cls(channel=channel.channel, address=channel.address)  # type: ignore[arg-type]


class ContactChannelSet(Strict):
    """Where the contact is reached on this channel (checked for the channel: carewatch.storage.base)."""

    address: Annotated[str, Field(min_length=1, max_length=ADDRESS_MAX), NoNul]


Minute = Annotated[int, Field(ge=0, lt=MINUTES_PER_DAY, description="minutes after local midnight")]
RuleName = Annotated[str, Field(pattern=RULE_PATTERN, description="a rule's name, or * for any rule")]


class ContactRulePublic(BaseModel):
    rule: str = Field(description="a rule, or * for any rule the contact has no entry for")
    lowest: Severity = Field(description="the lowest severity of the rule's alerts the contact receives")


class ContactRuleSet(Strict):
    rule: RuleName
    lowest: Severity


class ContactPreferencePublic(BaseModel):
    """What routing reads of a family contact: their time zone, quiet hours (held back there, except critical
    alerts) and the rules they receive (none listed: urgent and critical alerts of every rule)."""

    configured: bool = Field(description="false: none stored; the defaults apply")
    timezone: str
    quiet_start: int | None
    quiet_end: int | None
    rules: list[ContactRulePublic]

    @classmethod
    def of(cls, preference: ContactPreference | None) -> ContactPreferencePublic:
        p = preference or ContactPreference("")
        return cls(
            configured=preference is not None, timezone=p.timezone, quiet_start=p.quiet_start, quiet_end=p.quiet_end,
            rules=[ContactRulePublic(rule=rule, lowest=lowest) for rule, lowest in p.rules],
        )  # fmt: skip


class ContactPreferenceSet(Strict):
    """A family contact's preferences; a field left out keeps its stored value (the default if none)."""

    timezone: TimeZone = "UTC"
    quiet_start: Minute | None = None
    quiet_end: Minute | None = None
    rules: Annotated[list[ContactRuleSet], Field(max_length=50, description="empty: urgent and critical")] = Field(
        default_factory=list
    )

    @model_validator(mode="after")
    def _both_ends(self) -> ContactPreferenceSet:  # the rest is checked on the preference as stored (the route)
        if len({"quiet_start", "quiet_end"} & self.model_fields_set) == 1:
            raise ValueError("give both ends of the quiet hours (null for none), or neither to keep them")
        return self


class ContactDetailPublic(BaseModel):
    """A contact with every link of theirs to a resident, their channels and preferences (the admin's directory)."""

    contact_id: str
    name: str
    role: ContactRole
    email: str | None = Field(description="the directory's; messages go to the channels only")
    phone: str | None
    links: list[ContactLinkPublic]
    channels: list[ContactChannelPublic]
    preferences: ContactPreferencePublic

    @classmethod
    def of(
        cls, contact: Contact, links: list[ContactLink], channels: list[ContactChannel],
        preference: ContactPreference | None,
    ) -> ContactDetailPublic:  # fmt: skip
        return cls(
            contact_id=contact.contact_id, name=contact.name, role=contact.role, email=contact.email,
            phone=contact.phone, links=[ContactLinkPublic.of(k) for k in links],
            channels=[ContactChannelPublic.of(c) for c in channels], preferences=ContactPreferencePublic.of(preference),
        )  # fmt: skip


class SiteContactPublic(BaseModel):
    """One of a site's own contacts: its operators and clinic (routing's, and the on-call rota's, besides the
    residents' contacts)."""

    site_id: str
    contact_id: str
    name: str
    role: ContactRole


class ContactUpsert(Strict):
    """A contact, created or replaced; a field left out keeps its stored value (carewatch.model.upserted). The
    e-mail is the directory's: messages go to the contact's channels (PUT .../channels/email)."""

    name: Name
    role: ContactRole
    email: Annotated[str, Field(max_length=200, pattern=EMAIL_PATTERN), NoNul] | None = None
    phone: Annotated[str, Field(max_length=32), NoNul] | None = None


class ContactLinkUpsert(Strict):
    """A contact's link to a resident, created or replaced; a priority left out keeps its stored value."""

    relation: Annotated[str, Field(min_length=1, max_length=64), NoNul]
    priority: Annotated[int, Field(ge=1, le=99, description="1 = called first")] = 1


class ResidentContactUpsert(ContactUpsert, ContactLinkUpsert):
    """A contact and their link to the resident, in one call."""


# When a clinician's limit applies (carewatch.storage.base.ThresholdContext): always, or while the resident is in bed.
ContextName = Literal["always", "in_bed"]
CONTEXT_ABOUT = "always (the default), or in_bed: only while the resident is in bed (their own bed sensor)"
Context = Annotated[ContextName, Field(description=CONTEXT_ABOUT)]


class ThresholdPublic(BaseModel):
    metric: str
    context: Context
    low: float | None
    high: float | None
    updated_at: float
    updated_by: str
    reason: str

    @classmethod
    def of(cls, threshold: Threshold) -> ThresholdPublic:
        return cls.model_validate(threshold, from_attributes=True)


class ChangePublic(BaseModel):
    """One entry of the audit trail of a clinician's individual limits: when, and who."""

    at: float
    by: str


class ThresholdChangePublic(ChangePublic):
    metric: str
    context: Context
    threshold: ThresholdPublic | None  # None: removed (back to the rule's default; in bed, to the limit otherwise)

    @classmethod
    def of(cls, change: ThresholdChange) -> ThresholdChangePublic:
        return cls.model_validate(change, from_attributes=True)  # the threshold too


Reason = Annotated[str, Field(min_length=1, max_length=REASON_MAX), NoNul]  # a clinician's, for an individual limit


class ThresholdSet(Strict):
    """A clinician's limits for one metric of one resident, documented by the reason for them."""

    low: Annotated[float, Field(allow_inf_nan=False)] | None = None
    high: Annotated[float, Field(allow_inf_nan=False)] | None = None
    reason: Reason

    @model_validator(mode="after")
    def _acceptable(self) -> ThresholdSet:
        if self.low is None and self.high is None:
            raise ValueError("give low, high or both")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError("low must be below high")
        problem = reason_problem(self.reason)
        if problem is not None:
            raise ValueError(problem)
        return self


class News2EscalationPublic(BaseModel):
    """The NEWS2 levels in force for a resident: the RCP's (``resident_specific`` false; no reason, setter or time)
    or a clinician's documented escalation."""

    resident_specific: bool
    urgent_from: int
    emergency_from: int
    red_score: bool
    reason: str | None = None
    set_by: str | None = None
    set_at: float | None = None

    @classmethod
    def of(cls, escalation: News2Escalation | None) -> News2EscalationPublic:
        e = escalation
        if e is None:
            return cls(
                resident_specific=False, urgent_from=NEWS2_URGENT_FROM, emergency_from=NEWS2_EMERGENCY_FROM,
                red_score=True,
            )  # fmt: skip
        return cls(
            resident_specific=True, urgent_from=e.urgent_from, emergency_from=e.emergency_from,
            red_score=e.red_score, reason=e.reason, set_by=e.set_by, set_at=e.set_at,
        )  # fmt: skip


class News2EscalationChangePublic(ChangePublic):
    escalation: News2EscalationPublic | None  # None: removed (back to the RCP's levels)

    @classmethod
    def of(cls, change: News2EscalationChange) -> News2EscalationChangePublic:
        escalation = News2EscalationPublic.of(change.escalation) if change.escalation is not None else None
        return cls(at=change.at, by=change.by, escalation=escalation)


News2Level = Annotated[int, Field(ge=1, le=NEWS2_MAX_SCORE)]


class News2EscalationSet(Strict):
    """A clinician's decision for one resident, documented by its reason (RCP NEWS2 2017: the response to a score
    persistently raised by a chronic condition is a competent clinical decision-maker's, recorded in the plan)."""

    urgent_from: News2Level = NEWS2_URGENT_FROM
    emergency_from: News2Level = NEWS2_EMERGENCY_FROM
    red_score: bool = True
    reason: Reason

    @model_validator(mode="after")
    def _acceptable(self) -> News2EscalationSet:
        problem = news2_escalation_problem(self.urgent_from, self.emergency_from, self.reason)
        if problem is not None:
            raise ValueError(problem)
        return self


# The settling-in review of a resident's limits ---------------------------------------------------------------------


DAY_S = 86_400.0
REVIEW_DEFAULT_DAYS = 7  # the settling-in week
REVIEW_MAX_DAYS = 30  # bounds the readings one request reads back: a month
APPLY_MAX_CHOICES = 32  # more than there are threshold rules


class LimitSuggestionPublic(BaseModel):
    rule: str
    metric: str
    side: Literal["low", "high"]
    default: float = Field(description="the rule's limit for this resident without a clinician's threshold")
    in_force: float | None = Field(description="the clinician's limit in force instead of the default, if any")
    usual: float = Field(description="the resident's usual value at rest over the review's period")
    suggested: float = Field(description="the individual limit the review suggests")
    reason: str
    at_safety_bound: bool = Field(
        description="held at the rule's hard bound, short of the full margin (the reason says whether usual values "
        "still alert there)"
    )
    context: Context


class News2SuggestionPublic(BaseModel):
    urgent_from: int
    emergency_from: int
    red_score: bool
    usual_score: int = Field(description="the resident's usual NEWS2 aggregate at rest over the review's period")
    reason: str


class LimitReviewPublic(BaseModel):
    """What a resident's own readings at rest say about the default limits: the ones their usual values cross, with
    an individual limit for each, and a NEWS2 escalation where their usual score would alert."""

    resident_id: str
    start: float = Field(description="the period reviewed, epoch seconds; send it back to apply the review")
    end: float
    windows: int = Field(description="how many 5-minute windows of readings at rest the review drew on")
    windows_in_bed: int | None = Field(
        description="of them, in bed the whole window (limits for the time in bed come from these, always ones from "
        "the others); None: no bed sensor of their own, every window counts for the limits that apply always"
    )
    thresholds: list[LimitSuggestionPublic]
    news2: News2SuggestionPublic | None
    notes: list[str] = Field(description="what the review could not suggest, and why (e.g. too few readings)")

    @classmethod
    def of(cls, review: LimitReview) -> LimitReviewPublic:
        return cls.model_validate(review, from_attributes=True)  # the suggestions too


class LimitChoice(Strict):
    rule: Id
    context: Context = "always"
    suggested: Annotated[float, Field(allow_inf_nan=False, description="as the review showed it (409 if it changed)")]


class News2Choice(Strict):
    urgent_from: News2Level
    emergency_from: News2Level
    red_score: bool


Epoch = Annotated[float, Field(ge=0, le=1e11)]


class LimitReviewApply(Strict):
    """The suggestions a clinician accepts, echoed from the review of ``start``..``end`` they were shown. The server
    reviews that period again: a choice it no longer suggests, or suggests differently, is refused."""

    start: Epoch
    end: Epoch
    thresholds: Annotated[list[LimitChoice], Field(max_length=APPLY_MAX_CHOICES)] = Field(default_factory=list)
    news2: News2Choice | None = Field(default=None, description="the NEWS2 suggestion as shown; None: not taken")

    @model_validator(mode="after")
    def _acceptable(self) -> LimitReviewApply:
        if not 0 < self.end - self.start <= REVIEW_MAX_DAYS * DAY_S + 1:  # a second for the floats' rounding
            raise ValueError(f"a review covers more than 0 and at most {REVIEW_MAX_DAYS} days (start before end)")
        rules = [(choice.rule, choice.context) for choice in self.thresholds]
        if len(set(rules)) < len(rules):
            raise ValueError("each rule at most once per context")
        return self


class LimitReviewApplied(BaseModel):
    thresholds: list[ThresholdPublic] = Field(description="the resident's thresholds the review set, as now in force")
    news2: News2EscalationPublic | None = Field(description="the NEWS2 escalation it set; None: not taken")


# Readings ------------------------------------------------------------------------------------------------------------


class ReadingsPublic(BaseModel):
    resident_id: str
    metric: str
    points: list[tuple[float, float]]


class BucketPublic(BaseModel):
    start: float
    count: int
    min: float | None = Field(description="None in an empty bucket (fill=true): a gap, e.g. a device offline")
    max: float | None
    mean: float | None

    @classmethod
    def of(cls, bucket: Bucket) -> BucketPublic:
        return cls(start=bucket.start, count=bucket.samples, min=bucket.min, max=bucket.max, mean=bucket.mean)

    @classmethod
    def gap(cls, start: float) -> BucketPublic:
        return cls(start=start, count=0, min=None, max=None, mean=None)


class HistoryPublic(BaseModel):
    resident_id: str
    metric: str
    start: float
    end: float
    bucket_s: int
    buckets: list[BucketPublic] = Field(
        description="oldest first; only buckets holding readings, or with fill=true every bucket (count 0 = a gap)"
    )


# Alerts --------------------------------------------------------------------------------------------------------------


class AlertPublic(BaseModel):
    alert_id: int
    resident_id: str
    site_id: str
    rule: str
    severity: Severity
    state: AlertState
    opened_at: float = Field(description="when the condition became alertable (the data's time)")
    raised_at: float = Field(
        description="when carewatch raised it (its clock): the audit trail, escalation, time to acknowledge and the "
        "reports go by it; later than opened_at for a condition found in data that came late (a gateway's backlog)"
    )
    updated_at: float
    title: str
    explanation: str
    evidence: dict[str, object]
    acknowledged_at: float | None
    acknowledged_by: str | None
    resolved_at: float | None
    resolved_by: str | None
    escalation: str | None = Field(
        default=None,
        description="the newest escalation stage that fired (`escalation:<stage>`, as the live notice names it): "
        "nobody acknowledged in time; null: none fired",
    )
    snoozed_until: float | None = Field(
        default=None,
        description="when the newest snooze ends (or ended): its escalation waits until then; null: never snoozed",
    )

    @classmethod
    def of(
        cls, alert: Alert, escalation: EscalationStage | None = None, snoozed_until: float | None = None
    ) -> AlertPublic:
        """The alert, with the newest escalation stage it fired (Store.fired_escalations) and the end of its newest
        snooze (Store.snoozes)."""
        public = cls.model_validate(alert, from_attributes=True)
        public.escalation = None if escalation is None else escalation.kind
        public.snoozed_until = snoozed_until
        return public


class TransitionPublic(BaseModel):
    at: float
    from_state: AlertState | None
    to_state: AlertState
    actor: str
    note: str = Field(description="what the actor wrote (the system: why); of a snooze, without its end")
    snoozed_until: float | None = Field(default=None, description="a snooze (the state stays): when it ends")

    @classmethod
    def of(cls, transition: AlertTransition, notes: bool = True) -> TransitionPublic:
        """``notes``: False leaves out what the actor wrote (a family member's view)."""
        public = cls.model_validate(transition, from_attributes=True)
        if transition.snooze is not None:
            public.snoozed_until, public.note = transition.snooze
        if not notes:
            public.note = ""
        return public


class AlertDetailPublic(AlertPublic):
    transitions: list[TransitionPublic]


class AlertAction(Strict):
    note: Annotated[str, Field(max_length=2000, description="why; the actor is the logged-in user"), NoNul] = ""


# System --------------------------------------------------------------------------------------------------------------


class DeadLetterPublic(BaseModel):
    received_at: float
    topic: str
    reason: str
    detail: str
    payload_size: int


class SystemPublic(BaseModel):
    storage: str
    ingest: dict[str, float] = Field(description="counters since start: messages received, rows stored, ...")
    rejected_by_reason: dict[str, float]
    backlog: float = Field(description="messages received and not yet committed")
    broker_connected: bool
    websocket_clients: int
    websocket_dropped: int
    dead_letters_total: int
    dead_letters: list[DeadLetterPublic]
    alert_core_start_seconds: float | None = Field(
        description="how long this process's start took to ready the alert core's state (null: no alert core here)"
    )
    alert_core_resumed: bool = Field(description="that start took up the state a clean stop saved, as it was")
    alert_core_recovered: bool = Field(
        description="that start took up the state saved last while running and replayed the rows stored since "
        "(both false: it rebuilt the state from stored data)"
    )


# Escalation policies and the on-call rota ----------------------------------------------------------------------------


class EscalationStepSet(Strict):
    after_minutes: Annotated[float, Field(ge=0, le=7 * 24 * 60, description="after the alert opened")]
    target: Literal["operators", "on_call", "family", "clinic"]


class EscalationPolicySet(Strict):
    steps: Annotated[list[EscalationStepSet], Field(max_length=20, description="in order; empty = never escalate")]


class EscalationPolicyPublic(BaseModel):
    site_id: str
    severity: Severity
    configured: bool = Field(description="false: the site has no policy of its own; the defaults apply")
    steps: list[EscalationStepSet]

    @classmethod
    def of(cls, site_id: str, severity: Severity, steps: list[EscalationStep] | None) -> EscalationPolicyPublic:
        return cls(
            site_id=site_id, severity=severity, configured=steps is not None,
            steps=[EscalationStepSet(after_minutes=s.after_s / 60, target=s.target) for s in steps or []],  # type: ignore[arg-type]
        )  # fmt: skip


class OnCallShiftCreate(Strict):
    contact_id: Id
    starts_at: Annotated[float, Field(ge=0, le=1e11)]
    ends_at: Annotated[float, Field(ge=0, le=1e11)]

    @model_validator(mode="after")
    def _ordered(self) -> OnCallShiftCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("a shift ends after it starts")
        return self


class OnCallPublic(BaseModel):
    site_id: str
    at: float
    contact_ids: list[str] = Field(description="the contacts on call at that time")


class OnCallShiftPublic(BaseModel):
    site_id: str
    contact_id: str
    starts_at: float = Field(description="epoch seconds; with site and contact, the shift's key")
    ends_at: float

    @classmethod
    def of(cls, shift: OnCallShift) -> OnCallShiftPublic:
        return cls(site_id=shift.site_id, contact_id=shift.contact_id, starts_at=shift.starts_at, ends_at=shift.ends_at)
