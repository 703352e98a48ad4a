"""Common types shared by ingest, the alert core, storage and the dashboard. Times are float epoch seconds (UTC)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

import numpy as np


class SiteKind(StrEnum):
    HOME = "home"
    COMMUNITY_STATION = "community_station"
    CARE_INSTITUTION = "care_institution"


class DeviceKind(StrEnum):
    WEARABLE = "wearable"
    SOS_BUTTON = "sos_button"
    MOTION = "motion"
    DOOR = "door"
    BED = "bed"
    CHAIR = "chair"
    BATHROOM = "bathroom"
    ENVIRONMENT = "environment"
    SMOKE = "smoke"
    GAS = "gas"
    WATER = "water"


class ContactRole(StrEnum):
    FAMILY = "family"
    CLINICIAN = "clinician"
    OPERATOR = "operator"


SITE_CONTACT_ROLES = (ContactRole.OPERATOR, ContactRole.CLINICIAN)  # a site's own contacts; family are residents'


@dataclass(frozen=True, slots=True)
class Site:
    site_id: str
    name: str
    kind: SiteKind
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Resident:
    resident_id: str
    site_id: str
    name: str
    room: str | None = None
    birth_year: int | None = None
    spo2_scale: int = 1  # NEWS2 SpO2 scale; 2 for hypercapnic respiratory failure, set by a clinician


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    site_id: str
    kind: DeviceKind
    resident_id: str | None = None  # None for shared home sensors (a door, a smoke detector)
    room: str | None = None
    friendly_name: str | None = None  # the Zigbee2MQTT name, for bridged home sensors


@dataclass(frozen=True, slots=True)
class Contact:
    contact_id: str
    name: str
    role: ContactRole
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class ContactLink:
    resident_id: str
    contact_id: str
    relation: str  # "daughter", "GP", ...
    priority: int = 1  # 1 = called first


Registered = TypeVar("Registered", Site, Resident, Device, Contact, ContactLink)
# An id names its thing in URLs and MQTT topics (carewatch/v1/<site>/<device>/...): no '/', '+', '#' nor spaces.
ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
ID_RULE = (
    "an id is letters, digits and . _ : - (not dots alone; no spaces, '/', '+' or '#': URLs and MQTT topics carry it)"
)
ID_MAX = 64


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be an id (`ID_RULE`), or None."""
    if len(value) > ID_MAX:
        return f"an id is at most {ID_MAX} characters"
    if re.fullmatch(ID_PATTERN, value) is None or not value.strip("."):  # "." and ".." are a URL's dot-segments
        return ID_RULE
    return None


def upserted(stored: Registered | None, new: Callable[..., Registered], fields: dict[str, Any]) -> Registered:
    """A registry record created (``new(**fields)``) or replaced from ``fields``; a field they leave out keeps its
    stored value, so a client or a manifest that does not know one (a resident's SpO2 scale, a clinician's NEWS2
    decision; a site's time zone, the rules' local time; a device's Zigbee2MQTT name; a contact's phone) cannot
    reset it."""
    return replace(stored, **fields) if stored is not None else new(**fields)


class ReadingRow(NamedTuple):
    ts: float
    site_id: str
    device_id: str
    resident_id: str | None
    metric: str
    value: float
    seq: int
    artefact: bool


class EventRow(NamedTuple):
    ts: float
    site_id: str
    device_id: str
    resident_id: str | None
    kind: str
    value: float
    seq: int


class AccelRow(NamedTuple):
    ts: float  # time of the first sample
    site_id: str
    device_id: str
    resident_id: str | None
    seq: int
    rate_hz: float
    xyz: np.ndarray  # (n, 3) float32, g


class DeadLetter(NamedTuple):
    received_at: float
    topic: str
    reason: str
    detail: str
    payload: bytes  # truncated
    payload_size: int


@dataclass(slots=True)
class Batch:
    """What one storage transaction writes: rows from many messages, and the rejections among them."""

    readings: list[ReadingRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    accel: list[AccelRow] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.readings) + len(self.events) + len(self.accel) + len(self.dead_letters)


@dataclass(frozen=True, slots=True)
class WriteResult:
    readings: int  # rows inserted; the rest of the batch's readings were duplicates
    events: int
    accel: int
    duplicates: int
    dead_letters: int


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    URGENT = "urgent"
    CRITICAL = "critical"


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """A rule's finding: the alert core proposes, the lifecycle decides whether it becomes a new alert."""

    resident_id: str
    site_id: str
    rule: str
    severity: Severity
    opened_at: float
    title: str
    explanation: str
    evidence: dict[str, Any]  # the readings behind it: {"metric": ..., "window": [t0, t1], "readings": [[ts, v], ...]}
    onset: float | None = None  # when the condition began, if before opened_at (alerts.rebuild.AlertedBefore)


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: int
    resident_id: str
    site_id: str
    rule: str
    severity: Severity
    state: AlertState
    opened_at: float  # when the condition became alertable: the data's time (the rules', the evidence's)
    raised_at: float  # when carewatch raised it (the wall clock): the record, the reports and time to acknowledge
    updated_at: float
    title: str
    explanation: str
    evidence: dict[str, Any]
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None


_SNOOZE_NOTE = re.compile(r"snoozed until (\d+(?:\.\d*)?)(?:: (.*))?", re.DOTALL)


def snooze_note(until: float, note: str) -> str:
    """The audit note of a snooze: its end (epoch seconds), then the actor's note (AlertTransition.snooze reads it)."""
    return f"snoozed until {until:.0f}" + (f": {note}" if note else "")


@dataclass(frozen=True, slots=True)
class AlertTransition:
    alert_id: int
    at: float
    from_state: AlertState | None
    to_state: AlertState
    actor: str
    note: str = ""

    @property
    def snooze(self) -> tuple[float, str] | None:
        """A snooze's end and the actor's note (a snooze keeps the state, its end is in the note); else None."""
        found = _SNOOZE_NOTE.fullmatch(self.note) if self.from_state is self.to_state else None
        return None if found is None else (float(found[1]), found[2] or "")
