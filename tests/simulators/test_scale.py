"""The publishing path at scale, against a real Mosquitto: a world through a pool of MQTT connections, every message
received exactly as simulated. (Throughput is measured by bench/sim_scale.py, not here.)"""

from __future__ import annotations

import gc
import math
import threading
import time
import weakref
from collections import Counter
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support import GUARDED_USER, Mosquitto

from carewatch.mqtt_clients import release
from simulators.capture import Capture
from simulators.floorplans import build_world
from simulators.pool import PublisherPool
from simulators.publisher import InlinePublisher, Publisher, PublishError
from simulators.reports import Streams
from simulators.runner import Simulation
from simulators.scenarios.library import plan_incidents
from simulators.world import World

T0 = 1_764_374_400.0  # 2025-11-29 00:00:00 UTC
DELIVERY_TIMEOUT_S = 30.0


class Subscriber:
    """A QoS 1 subscriber counting every message under the simulator's topics."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"count-{time.monotonic_ns()}")
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_: self._ready.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        assert self._ready.wait(10), "subscription not acknowledged"

    def _on_connect(self, client: paho.Client, *_: Any) -> None:
        client.subscribe([("carewatch/v1/#", 1), ("zigbee2mqtt/#", 1)])

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.received.append((message.topic, bytes(message.payload)))

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        release(self._client)


@pytest.fixture
def subscriber(mosquitto: Any) -> Any:
    sub = Subscriber(mosquitto.port)
    yield sub
    sub.close()


def world_and_incidents() -> tuple[World, list[Any]]:
    world = World.merge([build_world("home", 12, 1, 1), build_world("home", 6, 2, 2, zigbee=True, prefix="zb"),
                         build_world("care_institution", 1, 30, 3, prefix="ci")])  # fmt: skip
    return world, plan_incidents(world, T0 + 9 * 3600, 120.0, seed=1, names=("sos", "smoke", "artefact_burst"))


@pytest.mark.services
@pytest.mark.parametrize("inline", [False, True])
def test_every_simulated_message_arrives_through_a_pool(mosquitto: Any, subscriber: Subscriber, inline: bool) -> None:
    world, incidents = world_and_incidents()
    pool = PublisherPool("127.0.0.1", mosquitto.port, f"sim-scale-{inline}", 3, max_in_flight=100, inline=inline)
    try:
        sent = Simulation(world, incidents, pool.publish, 5, streams=Streams(motion_hz=25)).run(
            T0 + 9 * 3600, 120.0, speed=math.inf
        )
        pool.flush()
    finally:
        pool.close()
    assert sent == pool.published and sent > 5000
    expected = Capture()
    Simulation(world, incidents, expected, 5, streams=Streams(motion_hz=25)).run(T0 + 9 * 3600, 120.0, math.inf)
    subscriber.wait_for(sent)
    assert len(subscriber.received) == sent
    assert Counter(subscriber.received) == Counter(expected.messages)  # the same bytes, none lost or doubled
    assert len({p.published for p in pool.publishers} - {0}) == 3  # every connection carried a share


@pytest.mark.services
def test_one_site_keeps_one_connection_and_its_order(mosquitto: Any, subscriber: Subscriber) -> None:
    pool = PublisherPool("127.0.0.1", mosquitto.port, "sim-order-test", connections=4)
    try:
        for k in range(200):
            pool.publish(f"carewatch/v1/site-{k % 5}/dev/event", str(k).encode())
            pool.publish(f"zigbee2mqtt/site-{k % 5}/hall_door", str(k).encode())
    finally:
        pool.close()
    subscriber.wait_for(400)
    for site in range(5):
        order = [int(p) for t, p in subscriber.received if f"/site-{site}/" in t and t.startswith("carewatch")]
        assert order == sorted(order) and len(order) == 40


def test_a_pool_needs_a_connection() -> None:
    with pytest.raises(ValueError):
        PublisherPool("127.0.0.1", 1, "x", connections=0)


@pytest.mark.parametrize("kind", [Publisher, InlinePublisher])
def test_publishers_report_an_unreachable_broker(kind: Any) -> None:
    with pytest.raises(PublishError, match=r"could not connect to mqtt://127\.0\.0\.1:1: Connection refused"):
        kind("127.0.0.1", 1, "nobody-listens")


@pytest.mark.services
@pytest.mark.parametrize("kind", [Publisher, InlinePublisher])
def test_publishers_say_at_connect_time_that_the_broker_refused_the_credentials(
    guarded_mosquitto: Mosquitto, kind: Any
) -> None:
    """Not after publishing for PUBLISH_WAIT_S with nothing acknowledged: paho retries a refused connection for ever."""
    started = time.monotonic()
    with pytest.raises(PublishError, match=r"refused the connection \(Not authorized\)"):
        kind("127.0.0.1", guarded_mosquitto.port, f"refused-{kind.__name__}", GUARDED_USER, "wrong-password")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("kind", [Publisher, InlinePublisher])
def test_a_closed_publisher_frees_its_client_at_once(mosquitto: Any, kind: Any) -> None:
    """Closed and dropped, a publisher's paho client goes with it (its sockets closed by paho), not later with the
    cyclic collector: that could finalise the sockets first, and they warn that they were never closed."""
    publisher = kind("127.0.0.1", mosquitto.port, f"close-{kind.__name__}")
    publisher.publish("carewatch/v1/s/d/status", b"{}")
    publisher.close()
    client = weakref.ref(publisher._client)
    gc.disable()
    try:
        del publisher
        assert client() is None
    finally:
        gc.enable()
