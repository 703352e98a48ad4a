"""The devices as hardware: batteries that drain (and die), radios with a signal strength, message counters, and
the phase of each device's periodic reports (devices are not synchronised: their reports spread over the period).
"""

from __future__ import annotations

import numpy as np

from simulators.state import NO_DEVICE, BoolArray, FloatArray, IntArray
from simulators.world import DEVICE_KINDS, World

# Battery drain in % per hour. A wearable with its optical sensor on lasts about a week; coin-cell Zigbee sensors a
# year or two; a smoke detector's lithium cell ten years. A wearable on its charger gains CHARGE_PER_H.
DRAIN_PER_H = {"wearable": (0.45, 0.75), "smoke": (0.0008, 0.0015)}
SENSOR_DRAIN_PER_H = (0.004, 0.012)
OFF_BODY_DRAIN_SHARE = 0.3  # a wearable off the body stops its optical sensor
CHARGE_PER_H = 90.0
START_BATTERY = {"wearable": (20.0, 100.0)}  # anywhere in the charge cycle (charged below 25 %)
SENSOR_START_BATTERY = (30.0, 100.0)
LOW_BATTERY_PCT = 15.0  # carewatch's battery_low limit (docs/rules.md): a battery crossing it is logged
RSSI_DB = (-88.0, -48.0)  # typical indoor links, BLE or Zigbee
RSSI_JITTER_DB = 3.0
WEARABLE = DEVICE_KINDS.index("wearable")


class Fleet:
    """Per-device ``(D,)`` state. ``kind`` holds indices into `simulators.world.DEVICE_KINDS`."""

    def __init__(self, world: World, rng: np.random.Generator, phase_ticks: int = 1) -> None:
        d = len(world.devices)
        self._rng = rng
        self.kind = np.array([DEVICE_KINDS.index(x.kind) for x in world.devices], dtype=np.int64)
        self.resident = np.array([x.resident for x in world.devices], dtype=np.int64)
        self.place = np.array([x.place for x in world.devices], dtype=np.int64)
        self.zigbee = np.array([x.friendly_name is not None for x in world.devices], dtype=bool)
        self.wearable = self.kind == WEARABLE
        lo, hi = np.array([DRAIN_PER_H.get(x.kind, SENSOR_DRAIN_PER_H) for x in world.devices]).reshape(d, 2).T
        self._drain_per_h = rng.uniform(lo, hi)
        lo, hi = np.array([START_BATTERY.get(x.kind, SENSOR_START_BATTERY) for x in world.devices]).reshape(d, 2).T
        self.battery = rng.uniform(lo, hi)
        self._low = self._reported_low()
        self._rssi = rng.uniform(*RSSI_DB, d)
        self.seq = np.zeros(d, dtype=np.int64)
        # Each device's reports are offset by up to ``phase_ticks`` (the longest report period): reports of every
        # period spread evenly, and a device's shorter-period reports coincide with its longer-period ones (a
        # climate sensor's battery report rides on one of its climate reports).
        self._offset = np.floor(rng.random(d) * phase_ticks).astype(np.int64)
        self.wearable_of = np.full(len(world.residents), NO_DEVICE, dtype=np.int64)
        self.wearable_of[self.resident[self.wearable]] = np.flatnonzero(self.wearable)

    def drain(self, dt: float, on_body: BoolArray, charging: BoolArray) -> None:
        """Battery use over ``dt`` seconds, in place; ``on_body`` and ``charging`` ``(D,)`` matter for wearables."""
        rate = np.where(self.wearable & ~on_body, OFF_BODY_DRAIN_SHARE, 1.0) * self._drain_per_h
        rate = np.where(charging, -CHARGE_PER_H, rate)
        np.clip(self.battery - rate * dt / 3600.0, 0.0, 100.0, out=self.battery)

    def ran_low(self) -> IntArray:
        """Devices whose battery fell under ``LOW_BATTERY_PCT`` since the last call (one that is charged or replaced
        above it can run low again)."""
        low = self._reported_low()
        crossed = np.flatnonzero(low & ~self._low)
        self._low = low
        return crossed

    def _reported_low(self) -> BoolArray:
        low: BoolArray = np.round(self.battery) < LOW_BATTERY_PCT  # batteries report whole per cent
        return low

    @property
    def alive(self) -> BoolArray:
        return self.battery > 0.0

    def rssi(self, rows: IntArray) -> FloatArray:
        return np.round(self._rssi[rows] + self._rng.normal(0.0, RSSI_JITTER_DB, rows.shape[0]))

    def due(self, k: int, period_ticks: int) -> BoolArray:
        """Mask ``(D,)`` of devices whose report with a period of ``period_ticks`` falls on tick number ``k``."""
        due: BoolArray = (k - self._offset) % period_ticks == 0
        return due

    def next_seq(self, rows: IntArray) -> IntArray:
        """Claim one message number for each of ``rows`` (distinct devices); the first message is 1."""
        self.seq[rows] += 1
        return self.seq[rows]
