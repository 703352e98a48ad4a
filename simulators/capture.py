"""A publish sink that keeps every message in memory, with readers for what was sent: for tests, for measuring the
simulator without a broker, and for recording a run (`simulators.replay.csv_rows` turns it into CSV rows)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from simulators.protocol import PREFIX
from simulators.zigbee import BASE_TOPIC


@dataclass
class Capture:
    """``capture(topic, payload)`` records; ``messages`` holds (topic, payload) in publish order."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    _by_device: dict[str, list[tuple[int, str, dict[str, Any]]]] = field(default_factory=dict, repr=False)
    _indexed: int = field(default=0, repr=False)

    def __call__(self, topic: str, payload: bytes) -> None:
        self.messages.append((topic, payload))

    def decoded(self, stream: str | None = None, device: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(topic, JSON body) of the carewatch-protocol messages, optionally of one stream and device."""
        self._index()
        chosen = self._by_device.get(device, []) if device else sorted(m for ms in self._by_device.values() for m in ms)
        return [(t, body) for _, t, body in chosen if not stream or t.rsplit("/", 1)[1] == stream]

    def _index(self) -> None:
        """Decode the messages recorded since the last query, once, by device."""
        for order in range(self._indexed, len(self.messages)):
            topic, payload = self.messages[order]
            parts = topic.split("/")
            if "/".join(parts[:2]) == PREFIX:
                self._by_device.setdefault(parts[3], []).append((order, topic, json.loads(payload)))
        self._indexed = len(self.messages)

    def readings(self, device: str, metric: str) -> list[tuple[float, float]]:
        """(ts, value) of one device's readings of ``metric``."""
        return [(r.get("ts", body["ts"]), r["value"]) for _, body in self.decoded(device=device)
                for r in body.get("readings", []) if r["metric"] == metric]  # fmt: skip

    def events(self, device: str, kind: str | None = None) -> list[tuple[float, float]]:
        """(ts, value) of one device's events, optionally of one kind."""
        return [(e.get("ts", body["ts"]), e["value"]) for _, body in self.decoded("event", device)
                for e in body["events"] if kind is None or e["kind"] == kind]  # fmt: skip

    def zigbee(self, friendly_name: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(topic, JSON body) of the Zigbee2MQTT messages, optionally of one device."""
        return [(t, json.loads(p)) for t, p in self.messages if t.startswith(f"{BASE_TOPIC}/")
                and (friendly_name is None or t == f"{BASE_TOPIC}/{friendly_name}")]  # fmt: skip
