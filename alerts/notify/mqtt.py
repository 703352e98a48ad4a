"""The MQTT channel: one topic per contact (a family app subscribes to its own), JSON at QoS 1.

One paho client, connected on first use and kept; paho reconnects it. A publish not acknowledged by the broker
within the timeout is a transient failure (retried with the same idempotency key inside the payload).
"""

from __future__ import annotations

import json
import threading
import uuid

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from alerts.notify.base import Message, TransientDeliveryError

PUBLISH_TIMEOUT_S = 10.0  # the broker's PUBACK within this long, or the attempt is retried
CONNECT_TIMEOUT_S = 10.0
TOPIC_PREFIX = "carewatch/v1/notify/"  # the default topic of a contact: TOPIC_PREFIX + contact_id


def contact_topic(contact_id: str) -> str:
    return TOPIC_PREFIX + contact_id


class MqttChannel:
    name = "mqtt"

    def __init__(
        self, host: str, port: int, username: str | None = None, password: str | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:  # fmt: skip
        self._host = host
        self._connect_timeout_s = connect_timeout_s
        self._port = port
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"carewatch-notify-{uuid.uuid4().hex[:8]}")
        if username:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._connected = threading.Event()
        self._started = False
        self._lock = threading.Lock()

    def _on_connect(self, client: paho.Client, userdata: object, *args: object) -> None:
        self._connected.set()

    def _on_disconnect(self, client: paho.Client, userdata: object, *args: object) -> None:
        self._connected.clear()

    def _ensure_connected(self) -> None:
        with self._lock:
            if not self._started:
                self._client.connect_async(self._host, self._port)
                self._client.loop_start()
                self._started = True
        if not self._connected.wait(self._connect_timeout_s):
            raise TransientDeliveryError(f"no connection to the MQTT broker {self._host}:{self._port}")

    def send(self, message: Message) -> None:
        self._ensure_connected()
        body = {"idempotency_key": message.idempotency_key, "kind": message.kind, "subject": message.subject,
                "text": message.text, "payload": message.payload}  # fmt: skip
        info = self._client.publish(message.address, json.dumps(body), qos=1)
        try:
            info.wait_for_publish(PUBLISH_TIMEOUT_S)
        except (RuntimeError, ValueError) as exc:  # not connected, queue full
            raise TransientDeliveryError(f"publish failed: {exc}") from None
        if not info.is_published():
            raise TransientDeliveryError("the broker did not acknowledge the publish in time")

    def close(self) -> None:
        with self._lock:
            if self._started:
                self._client.disconnect()
                self._client.loop_stop()
                self._started = False
