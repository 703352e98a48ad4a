"""The embedded MQTT broker (amqtt, MQTT 3.1.1) for running with nothing installed. Loopback only.

amqtt is fine for a demo or one small home (~4,500 QoS 1 messages/s here, shared/MQTT.md); production uses
Mosquitto or a clustered MQTT 5 broker. It has been seen to exit silently at start, so start() checks that it
really listens and fails loudly otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from amqtt.broker import Broker

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0


class EmbeddedBroker:
    def __init__(self, port: int = 0) -> None:
        self.port = port or _free_port()
        self._broker: Broker | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    async def start(self) -> None:
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{HOST}:{self.port}", "max_connections": 1000}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._broker = Broker(config)
        await self._broker.start()
        await asyncio.wait_for(_until_listening(self.port), START_TIMEOUT_S)
        log.info("embedded MQTT broker on %s", self.url)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()


# An MQTT 3.1.1 CONNECT (client id "probe", clean session), its CONNACK (accepted), and DISCONNECT.
PROBE_CONNECT = bytes([0x10, 17, 0, 4, *b"MQTT", 4, 2, 0, 10, 0, 5, *b"probe"])
CONNACK_ACCEPTED = bytes([0x20, 2, 0, 0])
DISCONNECT = bytes([0xE0, 0])


async def _until_listening(port: int) -> None:
    """Until the broker accepts a real MQTT connection (a listening socket alone is not a working broker)."""
    while True:
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        try:
            writer.write(PROBE_CONNECT)
            await writer.drain()
            if await reader.readexactly(4) == CONNACK_ACCEPTED:
                writer.write(DISCONNECT)
                await writer.drain()
                return
        finally:
            writer.close()
            await writer.wait_closed()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])
