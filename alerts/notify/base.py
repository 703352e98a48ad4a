"""The interfaces every delivery channel implements.

Two shapes: a ``Notifier`` hears every alert change (the dashboard's websocket feed); a ``Channel`` delivers one
``Message`` to one contact's address (webhook, e-mail, MQTT, and the dashboard for escalation notices). A channel
raises ``TransientDeliveryError`` for what a retry may fix and ``PermanentDeliveryError`` for what it will not; the
dispatcher (notify/dispatch.py) retries, audits and dead-letters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from carewatch.model import Alert

JSON = "application/json"
FHIR_JSON = "application/fhir+json"


class Notifier(Protocol):
    def alert_changed(self, alert: Alert, snoozed_until: float | None = None) -> None:
        """An alert was raised or changed state, or was snoozed until ``snoozed_until`` (its state unchanged). Called
        from the ingest writer's or an API thread: return quickly."""


@dataclass(frozen=True, slots=True)
class Message:
    """One delivery to one contact on one channel; every attempt of it carries the same idempotency key."""

    site_id: str
    alert_id: int | None  # None for a digest
    contact_id: str
    channel: str
    address: str  # a URL, an e-mail address, an MQTT topic, a site id (dashboard)
    kind: str  # "raised", "escalation:2", "resolved", "digest"
    idempotency_key: str
    subject: str  # one line, for people
    text: str  # the readable body
    payload: dict[str, Any]  # the machine-readable body (a FHIR Bundle for the clinic)
    content_type: str = JSON


class DeliveryError(Exception):
    """A channel could not deliver a message."""


class TransientDeliveryError(DeliveryError):
    """The receiver is down, slow or busy (timeouts, 5xx, 408, 429, SMTP 4xx): retry later."""


class PermanentDeliveryError(DeliveryError):
    """The receiver refused the message (4xx, a redirect, SMTP 5xx, a bad address): retrying will not help."""


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> None:
        """Deliver, or raise a DeliveryError subclass. Runs on the dispatcher's worker thread, never the writer's."""
