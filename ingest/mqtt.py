"""The MQTT subscriber: paho's network thread, a persistent session, manual acknowledgements.

`_on_message` runs on paho's thread: it decodes (pure) and hands the result to the batcher, nothing else. It never
touches the database or the alert core. Subscriptions are made in `_on_connect`, so a reconnect resubscribes;
`subscribed` is set once the broker has granted them (a message published before a new session's first subscription
reaches no one). Acknowledgements are sent by the writer after the batch is committed (`acknowledge`).

Retained messages are the broker's stored copies of old ones (a Zigbee2MQTT bridge may retain every device's last
state), sent again at each subscription: never readings of now. An MQTT 5 subscription asks not to be sent them;
one that arrives anyway (MQTT 3.1.1, the embedded broker) is a dead letter (`retained`), not a new reading.
A broker that refuses the credentials will not accept them by being asked again: the reader stops and says so
(``on_refused``; the process then stops, carewatch.cli), rather than run on ingesting nothing. Any other refusal (the
broker busy or restarting) is retried, as a lost connection is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from carewatch.model import DeadLetter
from carewatch.mqtt_clients import release
from ingest.batcher import AckToken, Batcher
from ingest.metrics import IngestMetrics
from ingest.validate import Accepted, dead_letter

log = logging.getLogger(__name__)

QOS = 1
KEEPALIVE_S = 30
SESSION_EXPIRY_S = 7 * 24 * 3600  # the broker keeps our subscription and backlog this long while we are away
RECEIVE_MAXIMUM = 65_535  # MQTT 5: unacknowledged messages in flight to us; the batcher bounds what we hold
RECONNECT_MAX_DELAY_S = 10

# Refusals that asking again will not mend (MQTT 3.1.1 return codes 4 and 5, MQTT 5 reason codes 0x86, 0x87, 0x8C)
BAD_CREDENTIALS = frozenset({"Bad user name or password", "Not authorized", "Bad authentication method"})
RETAINED = "a retained message: the broker's stored copy of an old message, sent on subscribing, not a new reading"

Decode = Callable[[str, bytes, float], Accepted | DeadLetter]


class MqttReader:
    def __init__(
        self, host: str, port: int, client_id: str, decode: Decode, batcher: Batcher, metrics: IngestMetrics,
        username: str | None = None, password: str | None = None, mqtt5: bool = True,
        on_refused: Callable[[str], object] = lambda why: None,
    ) -> None:  # fmt: skip
        self._host, self._port = host, port
        self._decode = decode
        self._batcher = batcher
        self._metrics = metrics
        self._mqtt5 = mqtt5
        self._topics: list[str] = []  # the topic filters to hold (set with `subscribe`, renewed on every connect)
        self._generation = 0
        self._stopping = threading.Event()
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # connected, and the broker granted the topic filters held at connect
        self.refused: str | None = None  # why the broker refused our credentials (then the reader has stopped)
        self._on_refused = on_refused  # called on paho's thread
        self._last_refusal: str | None = None
        self._connect_subscription: int | None = None  # the mid of the SUBSCRIBE sent on connecting
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, manual_ack=True,
            protocol=MQTTProtocolVersion.MQTTv5 if mqtt5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if mqtt5 else False,
        )  # fmt: skip
        if username:
            self._client.username_pw_set(username, password)
        self._client.reconnect_delay_set(1, RECONNECT_MAX_DELAY_S)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    def start(self) -> None:
        if self._mqtt5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            props.ReceiveMaximum = RECEIVE_MAXIMUM
            self._client.connect_async(self._host, self._port, KEEPALIVE_S, clean_start=False, properties=props)
        else:
            self._client.connect_async(self._host, self._port, KEEPALIVE_S)
        self._client.loop_start()

    def stop(self) -> None:
        self._stopping.set()
        self._client.disconnect()
        self._client.loop_stop()
        release(self._client)

    def subscribe(self, topics: list[str]) -> None:
        """Hold these topic filters from now on (any thread): new ones are subscribed at once if connected."""
        new = [t for t in topics if t not in self._topics]
        self._topics = self._topics + new
        if new and self.connected.is_set():
            self._client.subscribe(self._subscriptions(new))

    def _subscriptions(self, topics: list[str]) -> list[tuple[str, SubscribeOptions]] | list[tuple[str, int]]:
        if not self._mqtt5:  # MQTT 3.1.1 has no subscription options
            return [(topic, QOS) for topic in topics]
        return [
            (topic, SubscribeOptions(qos=QOS, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)) for topic in topics
        ]

    def acknowledge(self, tokens: list[AckToken]) -> None:
        """Acknowledge committed messages (any thread). Tokens of an earlier connection are skipped: the broker
        redelivers those messages on the new connection, and the store drops them as duplicates."""
        generation = self._generation
        for token in tokens:
            if token.generation == generation:
                self._client.ack(token.mid, QOS)

    # paho's thread --------------------------------------------------------------------------------------------
    def _on_connect(
        self, client: paho.Client, userdata: object, flags: paho.ConnectFlags, reason: ReasonCode,
        properties: Properties | None,
    ) -> None:  # fmt: skip
        if reason.is_failure:
            self._refused(client, str(reason))
            return
        self._last_refusal = None
        self._generation += 1
        if self._topics:
            _, self._connect_subscription = client.subscribe(self._subscriptions(self._topics))
        else:
            self.subscribed.set()  # nothing to hold yet
        self._metrics.connected.set(1)
        self.connected.set()
        log.info("connected to mqtt://%s:%d (session present: %s)", self._host, self._port, flags.session_present)

    def _on_disconnect(
        self, client: paho.Client, userdata: object, flags: paho.DisconnectFlags, reason: ReasonCode,
        properties: Properties | None,
    ) -> None:  # fmt: skip
        self._metrics.connected.set(0)
        self.connected.clear()
        self.subscribed.clear()
        if not self._stopping.is_set() and self._last_refusal is None:  # a refusal is logged by _on_connect
            log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _refused(self, client: paho.Client, reason: str) -> None:
        where = f"mqtt://{self._host}:{self._port}"
        if reason in BAD_CREDENTIALS:
            log.error("the broker at %s refused carewatch's credentials (%s): ingest stops", where, reason)
            self.refused = reason
            self._metrics.refused.set(1)
            self._stopping.set()
            client.disconnect()
            self._on_refused(f"the broker at {where} refused carewatch's credentials ({reason})")
        elif reason != self._last_refusal:  # once, not at every retry
            log.error("the broker at %s refused the connection (%s); asking again", where, reason)
        self._last_refusal = reason

    def _on_subscribe(
        self, client: paho.Client, userdata: object, mid: int, reasons: list[ReasonCode], properties: Properties | None,
    ) -> None:  # fmt: skip
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            log.error("the broker refused %d of %d topic filters: %s", len(refused), len(reasons), ", ".join(refused))
        elif mid == self._connect_subscription:
            self.subscribed.set()

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        self._metrics.received.inc()
        token = AckToken(self._generation, message.mid)
        payload = bytes(message.payload)
        item: Accepted | DeadLetter
        try:
            if message.retain:
                item = dead_letter(message.topic, payload, time.time(), "retained", RETAINED)
            else:
                item = self._decode(message.topic, payload, time.time())
        except Exception as exc:  # a decoder bug must not lose the message or kill paho's loop
            self._metrics.callback_errors.inc()
            log.exception("decoding failed on %s: %r", message.topic, payload[:200])
            item = dead_letter(message.topic, payload, time.time(), "decoder_error", repr(exc))
        while not self._batcher.add(item, token):
            if self._stopping.is_set():
                return  # not acknowledged: the broker redelivers it to the next session
