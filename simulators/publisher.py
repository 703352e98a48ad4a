"""A paho MQTT publisher with backpressure: at most `max_in_flight` unacknowledged QoS 1 publishes at a time.

paho queues publishes without limit (or refuses them with MQTT_ERR_QUEUE_SIZE when capped): a tight loop loses
messages either way (shared/MQTT.md). Here `publish` waits for room, and every result is checked.
"""

from __future__ import annotations

import threading

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

MAX_IN_FLIGHT = 1_000
PUBLISH_WAIT_S = 30.0  # longer than this without an acknowledgement: the broker is gone, stop with an error
QOS = 1


class PublishError(RuntimeError):
    pass


class Publisher:
    def __init__(self, host: str, port: int, client_id: str, username: str | None = None, password: str | None = None,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:  # fmt: skip
        self._max_in_flight = max_in_flight
        self._room = threading.BoundedSemaphore(max_in_flight)
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self._client.max_inflight_messages_set(max_in_flight)
        if username:
            self._client.username_pw_set(username, password)
        self._client.on_publish = self._on_publish
        self._connected = threading.Event()
        self._client.on_connect = lambda *_: self._connected.set()
        self._client.connect(host, port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(10):
            self._client.loop_stop()
            raise PublishError(f"could not connect to mqtt://{host}:{port}")
        self.published = 0

    def publish(self, topic: str, payload: bytes) -> None:
        if not self._room.acquire(timeout=PUBLISH_WAIT_S):
            raise PublishError(f"no acknowledgement from the broker for {PUBLISH_WAIT_S} s")
        info = self._client.publish(topic, payload, qos=QOS)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS and info.rc != MQTTErrorCode.MQTT_ERR_NO_CONN:
            self._room.release()
            raise PublishError(f"publish to {topic} failed: {paho.error_string(info.rc)}")
        self.published += 1  # NO_CONN: paho keeps it queued and sends it after reconnecting

    def flush(self, timeout_s: float = PUBLISH_WAIT_S) -> None:
        """Wait until every publish so far is acknowledged."""
        taken = 0
        try:
            while taken < self._max_in_flight and self._room.acquire(timeout=timeout_s):
                taken += 1
        finally:
            for _ in range(taken):
                self._room.release()
        if taken < self._max_in_flight:
            raise PublishError(f"{self._max_in_flight - taken} publishes unacknowledged after {timeout_s} s")

    def close(self) -> None:
        self.flush()
        self._client.disconnect()
        self._client.loop_stop()

    def _on_publish(self, client: paho.Client, userdata: object, mid: int, reason: object, properties: object) -> None:
        self._room.release()


class PublisherPool:
    """Several MQTT connections, as several home gateways hold them: each site's messages always take the same
    connection (so a device's messages stay in order), sites are dealt round-robin as they first publish.

    ``publish(topic, payload)`` like a `Publisher`; the site is the topic's ``<site>`` (carewatch protocol) or the
    first part of the friendly name (``zigbee2mqtt/<site>/...``, as `simulators.floorplans` names them).
    """

    def __init__(self, host: str, port: int, client_id: str, connections: int = 4, username: str | None = None,
                 password: str | None = None, max_in_flight: int = MAX_IN_FLIGHT) -> None:  # fmt: skip
        if connections < 1:
            raise ValueError("a pool needs at least one connection")
        self.publishers: list[Publisher] = []
        try:
            for i in range(connections):
                self.publishers.append(Publisher(host, port, f"{client_id}-{i}", username, password, max_in_flight))
        except PublishError:
            self.close()
            raise
        self._route: dict[str, Publisher] = {}

    @property
    def published(self) -> int:
        return sum(p.published for p in self.publishers)

    def publish(self, topic: str, payload: bytes) -> None:
        site = _site_of(topic)
        publisher = self._route.get(site)
        if publisher is None:
            publisher = self._route[site] = self.publishers[len(self._route) % len(self.publishers)]
        publisher.publish(topic, payload)

    def flush(self, timeout_s: float = PUBLISH_WAIT_S) -> None:
        for publisher in self.publishers:
            publisher.flush(timeout_s)

    def close(self) -> None:
        for publisher in self.publishers:
            publisher.close()


def _site_of(topic: str) -> str:
    """The site a topic belongs to: ``carewatch/v1/<site>/...`` or ``zigbee2mqtt/<site>/...``."""
    parts = topic.split("/", 3)
    return parts[1] if parts[0] == "zigbee2mqtt" else parts[2] if len(parts) > 2 else topic
