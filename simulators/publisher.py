"""paho MQTT publishers with backpressure: at most `max_in_flight` unacknowledged QoS 1 publishes at a time.

paho queues publishes without limit (or refuses them with MQTT_ERR_QUEUE_SIZE when capped): a tight loop loses
messages either way (shared/MQTT.md). Here `publish` waits for room, and every result is checked.

- `Publisher`: paho's network thread does the I/O; safe to call from any thread, reconnects by itself.
- `InlinePublisher`: no network thread; the calling thread writes each publish to the socket and reads the
  acknowledgements itself. paho's threaded mode hands every publish to its thread (a socket-pair wake-up and a GIL
  hand-off per message); without it one connection carried about 3x the messages per second on this machine
  (bench/sim_scale.py). For bulk simulation: one thread only, and a lost connection is an error (no reconnect).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from carewatch.mqtt_clients import release

MAX_IN_FLIGHT = 1_000
PUBLISH_WAIT_S = 30.0  # longer than this without an acknowledgement: the broker is gone, stop with an error
QOS = 1
CONNECT_TIMEOUT_S = 10.0
POLL_EVERY = 64  # InlinePublisher reads acknowledgements after this many publishes (1,000 may be in flight)...
POLL_EVERY_S = 1.0  # ...or this long after its last read, so keep-alives and a slow trickle are served too


class PublishError(RuntimeError):
    pass


class Publisher:
    def __init__(self, host: str, port: int, client_id: str, username: str | None = None, password: str | None = None,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:  # fmt: skip
        self._max_in_flight = max_in_flight
        self._room = threading.BoundedSemaphore(max_in_flight)
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        # The semaphore is the cap. paho's own cap (max_inflight_messages) rescans every outstanding message on each
        # acknowledgement: with thousands in flight that is quadratic, and cut this publisher to a fifth of its rate
        # whenever the broker was slow to acknowledge (bench/ingest.py).
        self._client.max_inflight_messages_set(0)
        if username:
            self._client.username_pw_set(username, password)
        self._client.on_publish = self._on_publish
        self._connected = threading.Event()
        self._refusal: str | None = None  # the broker's reason when it refused the connection
        self._client.on_connect = self._on_connect
        _connect(self._client, host, port)
        self._client.loop_start()
        answered = self._connected.wait(CONNECT_TIMEOUT_S)
        if not answered or self._refusal is not None:
            self._client.disconnect()
            self._client.loop_stop()
            release(self._client)
            raise PublishError(_not_connected(host, port, self._refusal))
        self.published = 0

    def publish(self, topic: str, payload: bytes) -> None:
        if not self._room.acquire(timeout=PUBLISH_WAIT_S):
            state = "connected" if self._client.is_connected() else "disconnected"
            raise PublishError(f"no acknowledgement from the broker for {PUBLISH_WAIT_S} s ({state})")
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
        try:
            self.flush()
        finally:
            self._client.disconnect()
            self._client.loop_stop()
            release(self._client)

    def _on_publish(self, client: paho.Client, userdata: object, mid: int, reason: object, properties: object) -> None:
        self._room.release()

    def _on_connect(self, client: paho.Client, userdata: object, flags: object, reason: ReasonCode,
                    properties: object) -> None:  # fmt: skip
        if reason.is_failure:  # refused (bad credentials, not authorised): paho would retry it for ever, in vain
            self._refusal = str(reason)
        self._connected.set()


class InlinePublisher:
    """One MQTT connection driven by the calling thread (see the module's docstring); `Publisher`'s interface."""

    def __init__(self, host: str, port: int, client_id: str, username: str | None = None, password: str | None = None,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:  # fmt: skip
        self._max_in_flight = max_in_flight
        self._acked = 0
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self._client.max_inflight_messages_set(max_in_flight)
        if username:
            self._client.username_pw_set(username, password)
        self._client.on_publish = self._on_publish
        self._refusal: str | None = None
        self._client.on_connect = self._on_connect
        _connect(self._client, host, port)
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not self._client.is_connected() and self._refusal is None and time.monotonic() < deadline:
            rc = self._client.loop(0.05)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS and self._refusal is None:
                release(self._client)
                raise PublishError(f"could not connect to mqtt://{host}:{port}: {paho.error_string(rc)}")
        if not self._client.is_connected():
            release(self._client)
            raise PublishError(_not_connected(host, port, self._refusal))
        self._served = time.monotonic()
        self.published = 0

    def publish(self, topic: str, payload: bytes) -> None:
        if self.published - self._acked >= self._max_in_flight:
            self._wait(lambda: self.published - self._acked < self._max_in_flight, PUBLISH_WAIT_S)
        info = self._client.publish(topic, payload, qos=QOS)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise PublishError(f"publish to {topic} failed: {paho.error_string(info.rc)}")
        self.published += 1
        if self.published % POLL_EVERY == 0 or time.monotonic() - self._served > POLL_EVERY_S:
            self._serve(0.0)

    def flush(self, timeout_s: float = PUBLISH_WAIT_S) -> None:
        """Wait until every publish so far is acknowledged."""
        self._wait(lambda: self._acked >= self.published, timeout_s)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._client.disconnect()
            self._client.loop(0.0)
            release(self._client)

    def _wait(self, done: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                raise PublishError(f"{self.published - self._acked} publishes unacknowledged after {timeout_s} s")
            self._serve(0.01)

    def _serve(self, timeout_s: float) -> None:
        """Send what is pending, read what arrived (acknowledgements), keep the connection alive."""
        rc = self._client.loop(timeout_s)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise PublishError(f"MQTT connection lost: {paho.error_string(rc)}")
        self._served = time.monotonic()

    def _on_publish(self, client: paho.Client, userdata: object, mid: int, reason: object, properties: object) -> None:
        self._acked += 1

    def _on_connect(self, client: paho.Client, userdata: object, flags: object, reason: ReasonCode,
                    properties: object) -> None:  # fmt: skip
        if reason.is_failure:
            self._refusal = str(reason)


def _connect(client: paho.Client, host: str, port: int) -> None:
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:  # refused, unknown host, unreachable: say where it tried
        raise PublishError(f"could not connect to mqtt://{host}:{port}: {exc.strerror or exc}") from exc


def _not_connected(host: str, port: int, refusal: str | None) -> str:
    if refusal is not None:
        return f"the broker at mqtt://{host}:{port} refused the connection ({refusal}): check the user and password"
    return f"no answer from the broker at mqtt://{host}:{port} within {CONNECT_TIMEOUT_S} s"
