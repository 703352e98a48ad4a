"""Several MQTT connections for one simulation, as a district's home gateways would hold them."""

from __future__ import annotations

from typing import Protocol

from simulators.publisher import MAX_IN_FLIGHT, PUBLISH_WAIT_S, InlinePublisher, Publisher, PublishError


class Connection(Protocol):
    published: int

    def publish(self, topic: str, payload: bytes) -> None: ...

    def flush(self, timeout_s: float = PUBLISH_WAIT_S) -> None: ...

    def close(self) -> None: ...


class PublisherPool:
    """Several MQTT connections, as several home gateways hold them: each site's messages always take the same
    connection (so a device's messages stay in order), sites are dealt round-robin as they first publish.

    ``publish(topic, payload)`` like a `Publisher`; the site is the topic's ``<site>`` (carewatch protocol) or the
    first part of the friendly name (``zigbee2mqtt/<site>/...``, as `simulators.floorplans` names them). With
    ``inline`` the connections are `InlinePublisher`s, driven by the publishing thread (faster; one thread only).
    """

    def __init__(self, host: str, port: int, client_id: str, connections: int = 4, username: str | None = None,
                 password: str | None = None, max_in_flight: int = MAX_IN_FLIGHT,
                 inline: bool = False) -> None:  # fmt: skip
        if connections < 1:
            raise ValueError("a pool needs at least one connection")
        kind: type[Publisher] | type[InlinePublisher] = InlinePublisher if inline else Publisher
        self.publishers: list[Connection] = []
        try:
            for i in range(connections):
                self.publishers.append(kind(host, port, f"{client_id}-{i}", username, password, max_in_flight))
        except (PublishError, OSError):
            self.close()
            raise
        self._route: dict[str, Connection] = {}

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
        errors = []
        for publisher in self.publishers:
            try:
                publisher.close()
            except PublishError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


def _site_of(topic: str) -> str:
    """The site a topic belongs to: ``carewatch/v1/<site>/...`` or ``zigbee2mqtt/<site>/...``."""
    parts = topic.split("/", 3)
    return parts[1] if parts[0] == "zigbee2mqtt" else parts[2] if len(parts) > 2 else topic
