"""What ingest's subscription lets in, on a real Mosquitto (MQTT 5 and 3.1.1) and on the embedded broker (amqtt,
3.1.1): a broker's retained copy of an old message is never taken for a reading of now (an MQTT 5 subscription is
not sent it; one that arrives is a `retained` dead letter), while a message published with the retain flag to the
running subscription is an ordinary one; a topic with levels beyond the stream is a `bad_topic` dead letter, not
lost; the notifications' own topics are not read back."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from alerts.notify.mqtt import contact_topic
from carewatch.model import DeadLetter
from carewatch.registry import Registry
from ingest.batcher import Batcher
from ingest.broker import EmbeddedBroker
from ingest.decode import decode
from ingest.metrics import IngestMetrics
from ingest.mqtt import MqttReader
from ingest.partition import partition_of, topic_filters
from ingest.validate import Accepted

WAIT_S = 15.0
OLD = b'{"ts": 1, "seq": 1, "readings": []}'  # retained before ingest subscribed: a state of long ago


@dataclass
class Received:
    """What reached the decoder, and the dead letters the reader made itself."""

    decoded: list[str] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


@pytest.fixture
def embedded() -> Iterator[str]:
    """The embedded broker on a loop of its own; its URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    broker = EmbeddedBroker()
    asyncio.run_coroutine_threadsafe(broker.start(), loop).result(WAIT_S)
    yield broker.url
    asyncio.run_coroutine_threadsafe(broker.stop(), loop).result(WAIT_S)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(WAIT_S)
    loop.close()


def broker_of(request: pytest.FixtureRequest, kind: str) -> tuple[str, int]:
    url = request.getfixturevalue("mosquitto").url if kind.startswith("mosquitto") else None
    url = url or request.getfixturevalue("embedded")
    host, port = url.removeprefix("mqtt://").split(":")
    return host, int(port)


def publish(host: str, port: int, messages: list[tuple[str, bytes, bool]]) -> None:
    """(topic, payload, retain) at QoS 1, each acknowledged by the broker."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"publisher-{time.monotonic_ns()}")
    client.connect(host, port)
    client.loop_start()
    try:
        for topic, payload, retain in messages:
            client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(timeout=WAIT_S)
    finally:
        client.disconnect()
        client.loop_stop()


def reading(
    host: str, port: int, mqtt5: bool, filters: list[str], decoder: Callable[[str, bytes, float], Accepted | DeadLetter]
) -> tuple[MqttReader, Batcher]:
    batcher = Batcher(max_rows=1, max_delay_s=0.01, max_pending=1000)
    metrics = IngestMetrics(CollectorRegistry())
    reader = MqttReader(host, port, f"ingest-{time.monotonic_ns()}", decoder, batcher, metrics, mqtt5=mqtt5)
    reader.subscribe(filters)
    reader.start()
    assert reader.subscribed.wait(WAIT_S)
    return reader, batcher


def drained(batcher: Batcher, done: Callable[[int, list[DeadLetter]], bool]) -> list[DeadLetter]:
    """The dead letters of the batches taken until ``done(messages taken, dead letters)``, or WAIT_S passed."""
    taken, dead = 0, []
    deadline = time.monotonic() + WAIT_S
    while not done(taken, dead) and time.monotonic() < deadline:
        pending = batcher.take(0.1)
        if pending is not None:
            taken += len(pending.tokens)
            dead += pending.batch.dead_letters
    return dead


SERVICE = pytest.mark.services  # the Mosquitto cases; the embedded broker needs nothing installed
BROKERS = [
    pytest.param("mosquitto MQTT 5", marks=SERVICE),
    pytest.param("mosquitto MQTT 3.1.1", marks=SERVICE),
    "embedded",
]


@pytest.mark.parametrize("kind", BROKERS)
def test_a_retained_copy_is_never_a_reading(request: pytest.FixtureRequest, kind: str) -> None:
    host, port = broker_of(request, kind)
    topic = f"carewatch/v1/retained-{time.monotonic_ns()}/w1/vitals"
    publish(host, port, [(topic, OLD, True)])
    seen: list[bytes] = []

    def decoder(topic: str, payload: bytes, received_at: float) -> Accepted:
        seen.append(payload)
        return Accepted([], [], [])

    reader, batcher = reading(host, port, kind == "mosquitto MQTT 5", [topic], decoder)
    try:
        publish(host, port, [(topic, b"live, retained", True), (topic, b"live", False)])
        # A retained copy comes at subscribing, before the live two: once as many are taken as expected, a copy sent
        # against the subscription's options would be among them.
        expected = 2 if kind == "mosquitto MQTT 5" else 3
        dead = drained(batcher, lambda taken, _: taken >= expected)
        assert seen == [b"live, retained", b"live"]  # the running subscription's messages, retained or not
        if kind == "mosquitto MQTT 5":
            assert dead == []  # not sent at all
        else:
            assert [(d.reason, d.payload) for d in dead] == [("retained", OLD)]
    finally:
        reader.stop()
        publish(host, port, [(topic, b"", True)])  # the broker forgets the retained copy


@pytest.mark.parametrize(
    ("kind", "partitions"),
    [pytest.param("mosquitto MQTT 5", 1, marks=SERVICE), pytest.param("mosquitto MQTT 5", 2, marks=SERVICE),
     ("embedded", 1)],
)  # fmt: skip
def test_a_topic_beyond_the_stream_is_a_dead_letter_and_notifications_are_not_read(
    request: pytest.FixtureRequest, kind: str, partitions: int
) -> None:
    host, port = broker_of(request, kind)
    site = f"deep-{time.monotonic_ns()}"
    filters = topic_filters([site], partition_of(site, partitions), partitions, None)  # the worker owning the site
    reader, batcher = reading(host, port, kind == "mosquitto MQTT 5", filters, partial(decode, registry=Registry()))
    try:
        publish(host, port, [
            (contact_topic("c1"), b'{"alert": 1}', False),
            (f"carewatch/v1/{site}/w1/vitals/extra", b"{}", False),
            (f"carewatch/v1/{site}/w1/vitals", b"{}", False),
        ])  # fmt: skip
        last = f"carewatch/v1/{site}/w1/vitals"  # published last: what came before it has arrived by then
        dead = drained(batcher, lambda _, d: any(letter.topic == last for letter in d))
        got = sorted((d.topic, d.reason) for d in dead)
        assert got == [
            (f"carewatch/v1/{site}/w1/vitals", "unknown_device"),
            (f"carewatch/v1/{site}/w1/vitals/extra", "bad_topic"),
        ]
    finally:
        reader.stop()
