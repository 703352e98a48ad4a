"""What every long-lived paho client of carewatch does when it is done with it."""

from __future__ import annotations

import paho.mqtt.client as paho


def release(client: paho.Client) -> None:
    """Drop a stopped client's callbacks. Bound to its owner, they make a reference cycle (owner -> client -> owner)
    that only the cyclic collector frees, and it may finalise paho's sockets before the client's ``__del__`` closes
    them: they then warn that they were never closed (ResourceWarning, an error in the tests). Without the cycle the
    client goes as soon as its owner does, its sockets closed by paho."""
    client.on_connect = None
    client.on_disconnect = None
    client.on_message = None
    client.on_publish = None
    client.on_subscribe = None
