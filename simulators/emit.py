"""The devices' radios: messages numbered per device, encoded in the wire protocol (or as a Zigbee2MQTT bridge
publishes them) and handed to ``publish``; a few wearable messages are lost on the way, as on a real radio link
(the message number still advances, so the gap shows the loss).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from carewatch.catalog import Stream
from simulators import protocol, zigbee
from simulators.devices import Fleet
from simulators.state import FloatArray, IntArray
from simulators.world import World

Publish = Callable[[str, bytes], None]


class Outbox:
    def __init__(self, world: World, fleet: Fleet, publish: Publish, rng: np.random.Generator,
                 drop_p: float) -> None:  # fmt: skip
        self._fleet = fleet
        self._publish = publish
        self._rng = rng
        self._drop_p = drop_p
        self._site = [d.site_id for d in world.devices]
        self._device = [d.device_id for d in world.devices]
        self._kind = [d.kind for d in world.devices]
        self._friendly = [d.friendly_name or "" for d in world.devices]
        self.published = 0
        self.dropped = 0

    def readings(self, ts: float, stream: Stream, devices: IntArray, metrics: Sequence[str],
                 values: FloatArray, present: npt.NDArray[np.bool_] | None = None) -> None:  # fmt: skip
        """A vitals or status message from each of ``devices`` ``(m,)``: row ``i`` of ``values`` ``(m, k)`` holds
        device ``i``'s readings of ``metrics``, those where ``present`` ``(m, k)`` is False left out."""
        seqs = self._fleet.next_seq(devices)
        keep = self._survivors(devices)
        payloads = protocol.readings_payloads(ts, seqs[keep].tolist(), metrics, values[keep],
                                              None if present is None else present[keep])  # fmt: skip
        self._send(devices[keep], stream, payloads)

    def motion(self, ts: float, devices: IntArray, rate_hz: float, blocks: FloatArray) -> None:
        """An accelerometer block ``(n, 3)`` from each of ``devices`` ``(m,)``; ``blocks`` ``(m, n, 3)``."""
        seqs = self._fleet.next_seq(devices)
        keep = self._survivors(devices)
        self._send(devices[keep], Stream.MOTION, protocol.motion_payloads(ts, seqs[keep].tolist(), rate_hz,
                                                                          blocks[keep]))  # fmt: skip

    def event(self, device: int, ts: float, kind: str, value: float, event_ts: float | None = None) -> None:
        seq = int(self._fleet.next_seq(np.array([device]))[0])
        payload = protocol.events_payload(ts, seq, [(kind, value, event_ts)])
        self._send(np.array([device]), Stream.EVENT, [payload])

    def zigbee_state(self, device: int, ts: float, state: int | None = None,
                     climate: tuple[float, float] | None = None, action: str | None = None) -> None:  # fmt: skip
        """The whole state of a Zigbee2MQTT-bridged device, as the bridge publishes it."""
        rssi = float(self._fleet.rssi(np.array([device]))[0])
        payload = zigbee.state_payload(self._kind[device], ts, float(self._fleet.battery[device]), rssi, state,
                                       climate, action)  # fmt: skip
        self._publish(zigbee.topic(self._friendly[device]), payload)
        self.published += 1

    def _survivors(self, devices: IntArray) -> npt.NDArray[np.bool_]:
        """Mask ``(m,)`` of messages that get through (only wearables' radio links lose any)."""
        lost: npt.NDArray[np.bool_] = self._fleet.wearable[devices] & (
            self._rng.random(devices.shape[0]) < self._drop_p
        )
        self.dropped += int(lost.sum())
        return ~lost

    def _send(self, devices: IntArray, stream: Stream, payloads: list[bytes]) -> None:
        for device, payload in zip(devices.tolist(), payloads, strict=True):
            self._publish(protocol.topic(self._site[device], self._device[device], stream), payload)
        self.published += len(payloads)
