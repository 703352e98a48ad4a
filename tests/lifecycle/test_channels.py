"""Every channel against a real receiver on loopback: a stdlib HTTP server (webhooks), aiosmtpd (e-mail), Mosquitto
(MQTT); the dispatcher's retries, dead letters, bounded lanes and audit; the clinic's FHIR R4 Bundle, validated with
fhir.resources."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message as EmailMessage
from typing import Any

import paho.mqtt.client as paho
import pytest
from aiosmtpd.controller import Controller
from fhir.resources.R4B.bundle import Bundle
from lifecycle_support import SECRET, WAIT_S, Receiver, wait_for
from paho.mqtt.enums import CallbackAPIVersion
from support import free_port

from alerts.fhir import alert_bundle
from alerts.notify.base import FHIR_JSON, Message, PermanentDeliveryError, TransientDeliveryError
from alerts.notify.dispatch import Dispatcher, RetryPolicy
from alerts.notify.email import EmailChannel
from alerts.notify.mqtt import MqttChannel, contact_topic
from alerts.notify.webhook import WebhookChannel
from alerts.routing import Router
from carewatch.model import Alert, AlertState, Resident, Severity
from carewatch.storage.base import ContactChannel, Store

FAST = RetryPolicy(max_attempts=4, first_s=0.01, cap_s=0.05)


def message(address: str, channel: str = "webhook", key: str = "alert-7-raised-clinic-webhook") -> Message:
    return Message(
        site_id="s1", alert_id=None, contact_id="clinic", channel=channel, address=address, kind="raised",
        idempotency_key=key, subject="[urgent] SpO2 low - Wang Fang", text="SpO2 below 90 % for 60 s",
        payload={"kind": "raised", "alert": {"alert_id": 7}},
    )  # fmt: skip


@pytest.fixture
def dispatcher(store: Store) -> Iterator[Dispatcher]:
    d = Dispatcher(store, [WebhookChannel(SECRET)], FAST)
    d.start()
    yield d
    d.stop()


def audit(store: Store) -> list[tuple[int, str]]:
    return [(d.attempt, d.status) for d in store.deliveries()]


def test_webhook_fails_then_recovers_and_is_delivered_exactly_once(store: Store, dispatcher: Dispatcher) -> None:
    with Receiver(failures=2) as receiver:
        dispatcher.submit(message(receiver.url))
        wait_for(dispatcher.idle, "the delivery to settle")
    assert len(receiver.requests) == 3 and len(receiver.accepted) == 1
    assert {h["Idempotency-Key"] for h, _ in receiver.requests} == {"alert-7-raised-clinic-webhook"}
    for headers, body in receiver.requests:  # every attempt is signed over timestamp.body
        expected = hmac.new(SECRET, headers["X-Carewatch-Timestamp"].encode() + b"." + body, hashlib.sha256)
        assert hmac.compare_digest(headers["X-Carewatch-Signature"], "sha256=" + expected.hexdigest())
    assert json.loads(receiver.accepted["alert-7-raised-clinic-webhook"]) == {
        "alert": {"alert_id": 7}, "kind": "raised"
    }  # fmt: skip
    assert audit(store) == [(1, "retry"), (2, "retry"), (3, "delivered")]
    assert "HTTP 503" in store.deliveries()[0].error


def test_a_lost_response_is_retried_and_the_receiver_dedupes_by_key(store: Store) -> None:
    """The receiver processes the first request but answers after the sender gave up: the retry carries the same
    idempotency key, so the receiver keeps one copy."""
    # The retry must be answered within the timeout: 0.2 s was too little on a loaded machine (a third request).
    d = Dispatcher(store, [WebhookChannel(SECRET, timeout_s=1.5)], FAST)
    d.start()
    try:
        with Receiver(stall_first_s=3.0) as receiver:
            d.submit(message(receiver.url))
            wait_for(d.idle, "the delivery to settle")
    finally:
        d.stop()
    assert len(receiver.requests) == 2 and len(receiver.accepted) == 1
    assert audit(store) == [(1, "retry"), (2, "delivered")] and "timed out" in store.deliveries()[0].error


def test_webhook_client_errors_are_not_retried(store: Store, dispatcher: Dispatcher) -> None:
    with Receiver(failures=5, status=400) as receiver:
        dispatcher.submit(message(receiver.url))
        wait_for(dispatcher.idle, "the delivery to settle")
    assert len(receiver.requests) == 1 and audit(store) == [(1, "failed")]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_webhook_redirects_are_not_followed_and_fail(store: Store, dispatcher: Dispatcher, status: int) -> None:
    """urllib would repeat a 301/302/303 POST as a GET without its body and count the 200 as delivered."""
    with Receiver(failures=5, status=status, location="/moved") as receiver:
        dispatcher.submit(message(receiver.url))
        wait_for(dispatcher.idle, "the delivery to settle")
    assert len(receiver.requests) == 1 and receiver.gets == [] and receiver.accepted == {}
    assert audit(store) == [(1, "failed")]
    assert f"HTTP {status}" in store.deliveries()[0].error and "'/moved'" in store.deliveries()[0].error


def test_webhook_rate_limits_are_retried_then_dead_lettered(store: Store, dispatcher: Dispatcher) -> None:
    with Receiver(failures=100, status=429) as receiver:
        dispatcher.submit(message(receiver.url))
        wait_for(dispatcher.idle, "the delivery to settle")
    assert len(receiver.requests) == FAST.max_attempts
    assert audit(store) == [(1, "retry"), (2, "retry"), (3, "retry"), (4, "dead")]


def test_unreachable_and_malformed_receivers_are_classified() -> None:
    channel = WebhookChannel(SECRET, timeout_s=2.0)
    with pytest.raises(TransientDeliveryError):
        channel.send(message(f"http://127.0.0.1:{free_port()}/nobody"))
    with pytest.raises(PermanentDeliveryError):
        channel.send(message("file:///etc/passwd"))
    with pytest.raises(ValueError, match="secret"):
        WebhookChannel(b"")


def test_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(max_attempts=10, first_s=5, cap_s=60)
    assert [policy.delay(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


def test_a_stalled_channel_never_blocks_the_caller_and_its_lane_is_bounded(store: Store) -> None:
    entered, release = threading.Event(), threading.Event()

    class Stalled:
        name = "email"

        def send(self, message: Message) -> None:
            entered.set()
            release.wait(WAIT_S)

    d = Dispatcher(store, [Stalled()], FAST, queue_size=2)
    d.start()
    try:
        started = time.monotonic()
        d.submit(message("a@example.org", "email", "k0"))
        assert entered.wait(WAIT_S)  # k0 is being sent (and hangs); with k1 the lane holds its 2 ...
        for i in range(1, 5):
            d.submit(message("a@example.org", "email", f"k{i}"))
        assert time.monotonic() - started < 1.0  # submit returned at once although the receiver hangs
        release.set()
        wait_for(d.idle, "the lane to drain")
    finally:
        release.set()
        d.stop()
    statuses = sorted((x.idempotency_key, x.status) for x in store.deliveries())
    assert statuses == [
        ("k0", "delivered"),
        ("k1", "delivered"),
        ("k2", "dropped"),
        ("k3", "dropped"),
        ("k4", "dropped"),
    ]


def test_an_unconfigured_channel_is_audited_as_failed(store: Store) -> None:
    d = Dispatcher(store, [], FAST)
    d.submit(message("carewatch/v1/notify/fam1", "mqtt"))
    assert [(x.status, x.error) for x in store.deliveries()] == [("failed", "channel 'mqtt' is not configured")]


# E-mail -------------------------------------------------------------------------------------------------------


class Inbox:
    """Keeps every mail; refuses the recipient of the first attempts with ``refusals`` (SMTP replies), in order."""

    def __init__(self, *refusals: str) -> None:
        self.mails: list[tuple[str, list[str], EmailMessage]] = []
        self.refusals = list(refusals)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refusals:
            return self.refusals.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@contextmanager
def smtp_server(inbox: Inbox) -> Iterator[int]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with smtp_server(inbox) as port:
        yield inbox, port


def deliver_mail(store: Store, inbox: Inbox) -> list[tuple[int, str]]:
    """One e-mail through the dispatcher to ``inbox``; the audit of its attempts."""
    with smtp_server(inbox) as port:
        d = Dispatcher(store, [EmailChannel("127.0.0.1", port, "carewatch@station.example")], FAST)
        d.start()
        try:
            d.submit(message("min@example.org", "email"))
            wait_for(d.idle, "the e-mail to settle")
        finally:
            d.stop()
    return audit(store)


def test_email_reaches_a_real_smtp_server_with_the_bundle_attached(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    channel = EmailChannel("127.0.0.1", port, "carewatch@station.example")
    bundle = alert_bundle(sample_alert(), None)
    channel.send(
        Message("s1", 7, "doc1", "email", "chen@clinic.example", "escalation:3", "alert-7-escalation:3-doc1-email",
                "Not acknowledged: SpO2 low", "Nobody has acknowledged this alert yet.", bundle, FHIR_JSON)
    )  # fmt: skip
    [(sender, recipients, mail)] = inbox.mails
    assert sender == "carewatch@station.example" and recipients == ["chen@clinic.example"]
    assert mail["Subject"] == "Not acknowledged: SpO2 low"
    assert mail["Message-ID"] == "<alert-7-escalation.3-doc1-email@carewatch>"
    assert mail["X-Carewatch-Idempotency-Key"] == "alert-7-escalation:3-doc1-email"
    parts = {part.get_content_type(): part for part in mail.walk()}
    assert "Nobody has acknowledged" in parts["text/plain"].get_payload(decode=True).decode()
    attached = json.loads(parts["application/fhir+json"].get_payload(decode=True))
    assert Bundle.model_validate(attached).type == "collection"


@pytest.mark.parametrize("refusal", ["451 4.7.1 Greylisted, try again later", "452 4.2.2 Mailbox full"])
def test_a_recipient_refused_for_now_is_retried_then_delivered(store: Store, refusal: str) -> None:
    inbox = Inbox(refusal)
    assert deliver_mail(store, inbox) == [(1, "retry"), (2, "delivered")]
    assert refusal[:3] in store.deliveries()[0].error and len(inbox.mails) == 1


def test_a_recipient_refused_for_good_is_not_retried(store: Store) -> None:
    inbox = Inbox("550 5.1.1 No such user", "550 5.1.1 No such user")
    assert deliver_mail(store, inbox) == [(1, "failed")]
    assert "550" in store.deliveries()[0].error and inbox.mails == []


def test_email_to_a_server_that_is_down_is_transient() -> None:
    channel = EmailChannel("127.0.0.1", free_port(), "carewatch@station.example", timeout_s=2.0)
    with pytest.raises(TransientDeliveryError):
        channel.send(message("min@example.org", "email"))
    with pytest.raises(PermanentDeliveryError):
        channel.send(message("not-an-address", "email"))


# MQTT ---------------------------------------------------------------------------------------------------------


@pytest.mark.services
def test_mqtt_publishes_to_the_contacts_topic(mosquitto: Any) -> None:
    received: list[dict[str, Any]] = []
    subscribed = threading.Event()
    app = paho.Client(CallbackAPIVersion.VERSION2, client_id="family-app")
    app.on_connect = lambda c, *a: c.subscribe(contact_topic("fam1"), qos=1)
    app.on_subscribe = lambda *a: subscribed.set()
    app.on_message = lambda c, u, m: received.append(json.loads(m.payload))
    app.connect("127.0.0.1", mosquitto.port)
    app.loop_start()
    channel = MqttChannel("127.0.0.1", mosquitto.port)
    try:
        assert subscribed.wait(WAIT_S)
        channel.send(message(contact_topic("fam1"), "mqtt", "alert-7-raised-fam1-mqtt"))
        wait_for(lambda: received, "the family app to receive the alert")
        channel.close()  # closed, it connects again for the next message
        channel.send(message(contact_topic("fam1"), "mqtt", "alert-7-acknowledged-fam1-mqtt"))
        wait_for(lambda: len(received) == 2, "the family app to receive the second message")
    finally:
        channel.close()
        app.disconnect()
        app.loop_stop()
    assert [r["idempotency_key"] for r in received] == ["alert-7-raised-fam1-mqtt", "alert-7-acknowledged-fam1-mqtt"]
    assert received[0]["payload"]["alert"] == {"alert_id": 7}


def test_mqtt_with_no_broker_is_transient() -> None:
    channel = MqttChannel("127.0.0.1", free_port(), connect_timeout_s=0.5)
    try:
        with pytest.raises(TransientDeliveryError):
            channel.send(message(contact_topic("fam1"), "mqtt"))
    finally:
        channel.close()


# FHIR ---------------------------------------------------------------------------------------------------------


def sample_alert(metric: str = "spo2", state: AlertState = AlertState.OPEN) -> Alert:
    t = 1_764_403_200.0
    readings = [[t - 60 + 5 * i, 88.0 - i * 0.5] for i in range(13)]
    return Alert(
        7, "r1", "s1", "spo2_low" if metric == "spo2" else f"{metric}_high", Severity.URGENT, state, t, t, t + 30,
        "SpO2 low", "SpO2 below 90 % for 60 s", {"metric": metric, "window": [t - 60, t], "readings": readings},
        resolved_at=t + 30 if state is AlertState.RESOLVED else None,
    )  # fmt: skip


def test_the_clinic_bundle_is_valid_fhir_r4_with_loinc_observations() -> None:
    bundle = Bundle.model_validate(alert_bundle(sample_alert(), Resident("r1", "s1", "Wang Fang", "101", 1938)))
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds == ["Patient", "Flag", "Communication", *["Observation"] * 13]
    patient_url = bundle.entry[0].fullUrl
    flag, communication, observation = bundle.entry[1].resource, bundle.entry[2].resource, bundle.entry[3].resource
    assert flag.subject.reference == patient_url and flag.status == "active"
    assert communication.priority == "asap" and len(communication.reasonReference) == 13
    assert observation.code.coding[0].system == "http://loinc.org" and observation.code.coding[0].code == "59408-5"
    assert observation.valueQuantity.code == "%" and observation.subject.reference == patient_url
    assert alert_bundle(sample_alert(), None) == alert_bundle(sample_alert(), None)  # resends are identical


def empty_arrays(value: Any, path: str = "$") -> list[str]:
    """Where a JSON value has an empty array (FHIR JSON has none)."""
    if isinstance(value, list):
        return [path] if not value else [p for i, v in enumerate(value) for p in empty_arrays(v, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [p for key, v in value.items() for p in empty_arrays(v, f"{path}.{key}")]
    return []


T = 1_764_403_200.0
SPO2 = [[T - 5.0, 86.0], [T, 85.0]]
NEWS2_FACTS = {
    "total": 5, "floor": False, "missing": [], "spo2_scale": 1,
    "inputs": {"rr": {"points": 3, "value": 26.0, "time": T, "unit": "/min", "scored_from": "newest"},
               "spo2": {"points": 0, "value": 97.0, "time": T, "unit": "%", "scored_from": "newest"},
               "o2": {"points": 2, "value": 1.0, "time": T}, "avpu": {"points": 0}},
}  # fmt: skip
KINDS = [  # rule, its evidence as the engine writes it, the Flag's category, how many Observations
    ("spo2_low", {"metric": "spo2", "window": [T - 60, T], "readings": SPO2}, "clinical", 2),
    ("news2_emergency", {"metric": None, "readings": [], "series": {"spo2": SPO2}, "facts": {"score": 7}},
     "clinical", 0),  # evidence without the inputs (as saved before they were kept): no Observation
    ("news2_urgent", {"metric": None, "readings": [], "facts": NEWS2_FACTS}, "clinical", 3),
    ("spo2_falling", {"metric": "spo2", "window": [T - 600, T], "readings": []}, "clinical", 0),
    ("sos", {"metric": None, "readings": [], "events": [[T, "sos", 1.0]]}, "safety", 0),
    ("fall", {"metric": None, "readings": [], "events": [[T, "fall", 1.0]]}, "safety", 0),
    ("no_activity", {"metric": None, "readings": [], "facts": {"silent_s": 7200}}, "safety", 0),
    ("device_offline", {"metric": None, "readings": [], "facts": {"device": "w1"}}, "safety", 0),
]  # fmt: skip


def rule_alert(rule: str, evidence: dict[str, Any]) -> Alert:
    return Alert(7, "r1", "s1", rule, Severity.CRITICAL, AlertState.OPEN, T, T, T, rule, "explained", evidence)


@pytest.mark.parametrize(("rule", "evidence", "category", "observations"), KINDS, ids=[k[0] for k in KINDS])
def test_every_kind_of_alert_is_valid_fhir_without_empty_arrays(
    rule: str, evidence: dict[str, Any], category: str, observations: int
) -> None:
    for resident in (None, Resident("r1", "s1", "Wang Fang")):
        raw = alert_bundle(rule_alert(rule, evidence), resident)
        assert empty_arrays(raw) == []
        bundle = Bundle.model_validate(raw)
        flag, communication = bundle.entry[1].resource, bundle.entry[2].resource
        [coding] = flag.category[0].coding
        assert (coding.system, coding.code) == ("http://terminology.hl7.org/CodeSystem/flag-category", category)
        assert len(communication.reasonReference or []) == observations == len(bundle.entry) - 3


def test_blood_pressure_travels_as_the_loinc_panel() -> None:
    bundle = Bundle.model_validate(alert_bundle(sample_alert("sbp", AlertState.RESOLVED), None))
    observation = bundle.entry[3].resource
    assert observation.code.coding[0].code == "85354-9"
    assert observation.component[0].code.coding[0].code == "8480-6"
    assert observation.component[0].valueQuantity.unit == "mm[Hg]"
    assert bundle.entry[1].resource.status == "inactive"


def test_the_clinic_receives_the_bundle_over_a_signed_webhook(harness: Any) -> None:
    """Routing -> dispatcher -> webhook -> a real receiver: the clinic's copy of a clinical alert is FHIR."""
    harness.dispatcher.stop()  # its recording lanes would compete for the outbox's messages
    with Receiver() as receiver:
        harness.store.upsert_contact_channels([ContactChannel("clinic", "webhook", receiver.url)])
        dispatcher = Dispatcher(harness.store, [WebhookChannel(SECRET)], FAST, harness.clock)
        dispatcher.start()
        try:
            harness.store.raise_alert(harness.draft(harness.T0))
            [alert] = harness.store.alerts()
            Router(harness.store, dispatcher, harness.clock).raised(alert)
            clinic = f"alert-{alert.alert_id}-raised-clinic-webhook"
            wait_for(lambda: clinic in receiver.accepted, "the clinic's copy")  # op1's address is unreachable
        finally:
            dispatcher.stop()
    [(headers, body)] = [(h, b) for h, b in receiver.requests if h["Idempotency-Key"].endswith("-clinic-webhook")]
    assert headers["Content-Type"] == FHIR_JSON
    bundle = Bundle.model_validate_json(body)
    assert bundle.entry[0].resource.name[0].text == "Wang Fang"
    assert {e.resource.get_resource_type() for e in bundle.entry} == {"Patient", "Flag", "Communication", "Observation"}
