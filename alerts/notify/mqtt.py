"""The MQTT channel: one topic per contact (a family app subscribes to its own), JSON at QoS 1.

One paho client, connected on first use and kept; paho reconnects it. A publish not acknowledged by the broker
within the timeout is a transient failure (retried with the same idempotency key inside the payload). Closed, the
channel lets its client go; a later message starts a new one (paho's network loop, started twice on one client,
would leave the sockets of the first unclosed).
"""

from __future__ import annotations

import json
import threading
import uuid

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from alerts.notify.base import Message, TransientDeliveryError
from carewatch.mqtt_clients import release

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
        self._port = port
        self._username, self._password = username, password
        self._connect_timeout_s = connect_timeout_s
        self._client: paho.Client | None = None  # while started
        self._connected = threading.Event()
        self._lock = threading.Lock()

    def _on_connect(self, client: paho.Client, userdata: object, *args: object) -> None:
        self._connected.set()

    def _on_disconnect(self, client: paho.Client, userdata: object, *args: object) -> None:
        self._connected.clear()

    def _connected_client(self) -> paho.Client:
        with self._lock:
            if self._client is None:
                client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"carewatch-notify-{uuid.uuid4().hex[:8]}")
                if self._username:
                    client.username_pw_set(self._username, self._password)
                client.on_connect = self._on_connect
                client.on_disconnect = self._on_disconnect
                client.connect_async(self._host, self._port)
                client.loop_start()
                self._client = client
            client = self._client
        if not self._connected.wait(self._connect_timeout_s):
            raise TransientDeliveryError(f"no connection to the MQTT broker {self._host}:{self._port}")
        return client

    def send(self, message: Message) -> None:
        client = self._connected_client()
        body = {"idempotency_key": message.idempotency_key, "kind": message.kind, "subject": message.subject,
                "text": message.text, "payload": message.payload}  # fmt: skip
        info = client.publish(message.address, json.dumps(body), qos=1)
        try:
            info.wait_for_publish(PUBLISH_TIMEOUT_S)
        except (RuntimeError, ValueError) as exc:  # not connected, queue full
            raise TransientDeliveryError(f"publish failed: {exc}") from None
        if not info.is_published():
            raise TransientDeliveryError("the broker did not acknowledge the publish in time")

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.disconnect()
                self._client.loop_stop()
                release(self._client)
                self._client = None
                self._connected.clear()
