"""What every device reports at one tick, and how often (`Streams`).

- Wearables: vitals every ``vitals_s``, an accelerometer block every tick when ``motion_hz`` is set (only those of
  ``motion_devices`` when that is set: not every wearable streams its accelerometer), status
  (battery, worn, rssi) every ``status_s``; only while worn and online, except status, which an online wearable
  sends off the body too (worn = 0). A wearable's own events (a detected fall, an SOS key) whenever they happen.
- Room sensors: an event on every change of state; environment sensors' room temperature and humidity every
  ``climate_s``; every sensor's battery and rssi every ``heartbeat_s`` (so silence means offline). Zigbee-bridged
  sensors publish their whole state instead, on a change and on each periodic report.

Periodic reports are spread over their period by each device's phase (devices are not synchronised).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carewatch.catalog import METRICS, Stream
from simulators.accel import Accelerometer
from simulators.artefacts import garble, motion_artefacts
from simulators.climate import Climate
from simulators.devices import Fleet
from simulators.emit import Outbox
from simulators.physiology import READINGS, Body
from simulators.scenarios.base import Incident
from simulators.sensors import EVENT_KIND, HomeSensors
from simulators.state import BoolArray, IntArray, Posture
from simulators.tick import Tick
from simulators.world import DEVICE_KINDS, World
from simulators.zigbee import SOS_ACTION

VITALS_METRICS = tuple(m.name for m in METRICS if m.stream is Stream.VITALS)
STATUS_METRICS = ("battery", "worn", "rssi", "room_temp", "humidity")
BATTERY, WORN, RSSI, ROOM_TEMP, HUMIDITY = range(len(STATUS_METRICS))
O2, AVPU = VITALS_METRICS.index("o2"), VITALS_METRICS.index("avpu")
assert VITALS_METRICS[: len(READINGS)] == READINGS, "physiology's readings lead the catalogue's vitals metrics"
ENVIRONMENT = DEVICE_KINDS.index("environment")


@dataclass(frozen=True, slots=True)
class Streams:
    """How often devices report (seconds) and what is on. The defaults are the platform's standard load model."""

    vitals_s: float = 5.0
    status_s: float = 60.0
    climate_s: float = 60.0
    heartbeat_s: float = 300.0  # room sensors' battery report: often enough for an offline rule to act in minutes
    motion_hz: float | None = None  # accelerometer blocks at 25 or 50 Hz; off by default (the heaviest stream)
    motion_devices: frozenset[str] | None = None  # the wearables that stream them (None: all); the others do not
    tick_s: float = 1.0  # simulation step; an accelerometer block spans one tick
    drop_p: float = 0.002  # wearable messages lost on the radio link
    artefacts: bool = True  # background motion artefacts in wearable vitals

    def __post_init__(self) -> None:
        periods = (self.vitals_s, self.status_s, self.climate_s, self.heartbeat_s)
        if self.tick_s <= 0 or min(periods) < self.tick_s:
            raise ValueError("tick_s must be positive and no longer than any report period")
        if self.motion_hz is not None and not 1 <= self.motion_hz * self.tick_s <= 1000:
            raise ValueError("an accelerometer block holds 1 to 1000 samples (docs/protocol.md)")

    @property
    def longest_s(self) -> float:
        return max(self.vitals_s, self.status_s, self.climate_s, self.heartbeat_s)

    def ticks(self, period_s: float) -> int:
        return max(1, round(period_s / self.tick_s))


class Reporter:
    """Turns each tick's state into the devices' messages, through the `Outbox`."""

    def __init__(self, world: World, streams: Streams, fleet: Fleet, outbox: Outbox, body: Body,
                 accel: Accelerometer, climate: Climate, sensors: HomeSensors,
                 rng: np.random.Generator) -> None:  # fmt: skip
        self.streams = streams
        self._fleet, self._outbox, self._body, self._accel = fleet, outbox, body, accel
        self._climate, self._sensors, self._rng = climate, sensors, rng
        self._on_oxygen = np.array([r.on_oxygen for r in world.residents], dtype=bool)
        self._not_alert = np.zeros(len(world.residents), dtype=bool)  # their last consciousness report: not alert
        self._env = fleet.kind == ENVIRONMENT
        chosen = streams.motion_devices
        self._streams_motion = np.array([chosen is None or d.device_id in chosen for d in world.devices], dtype=bool)
        self.motion_artefacts: list[tuple[int, float]] = []  # (resident, ts) of this tick's, for the ground truth

    def report(self, tick: Tick, k: int, online: BoolArray, incidents: list[Incident]) -> None:
        """Publish everything due at tick number ``k``; ``online`` ``(D,)``."""
        self.motion_artefacts = []
        fleet, streams = self._fleet, self.streams
        streaming = fleet.wearable & online & tick.worn[fleet.resident]
        self._vitals(tick, np.flatnonzero(streaming & fleet.due(k, streams.ticks(streams.vitals_s))), incidents)
        if streams.motion_hz:
            self._motion(tick, np.flatnonzero(streaming & self._streams_motion), incidents)
        self._events_and_status(tick, k, online)

    def _vitals(self, tick: Tick, devices: IntArray, incidents: list[Incident]) -> None:
        if not devices.size:
            return
        rows = self._fleet.resident[devices]
        values = np.zeros((rows.shape[0], len(VITALS_METRICS)))
        present = np.zeros(values.shape, dtype=bool)
        values[:, : len(READINGS)], present[:, : len(READINGS)] = self._body.vitals(tick.t, rows), True
        values[:, O2], present[:, O2] = 1.0, self._on_oxygen[rows]
        _apply_vitals(tick, rows, values, present, incidents)
        self._report_alert_again(rows, values, present)
        if self.streams.artefacts:
            walking = tick.behaviour.posture[rows] == Posture.WALKING
            hit = motion_artefacts(values, walking, self._body.cadence_hz[rows], self._rng)
            self.motion_artefacts = [(int(r), tick.t) for r in rows[hit]]
        garble(values, np.flatnonzero(tick.artefact[rows] == 1), self._rng)
        self._outbox.readings(tick.t, Stream.VITALS, devices, VITALS_METRICS, values, present)

    def _report_alert_again(self, rows: IntArray, values: np.ndarray, present: np.ndarray) -> None:
        """Consciousness is reported only while an incident changes it (``avpu`` = 1: confused or not alert); the
        first reading after one carries ``avpu`` = 0, as the carer or the resident's check-in records them alert
        again. Without it the last "not alert" would stay the resident's newest consciousness report."""
        recovered = self._not_alert[rows] & ~present[:, AVPU]
        values[recovered, AVPU], present[recovered, AVPU] = 0.0, True
        self._not_alert[rows] = present[:, AVPU] & (values[:, AVPU] >= 0.5)

    def _motion(self, tick: Tick, devices: IntArray, incidents: list[Incident]) -> None:
        if not devices.size:
            return
        rate = float(self.streams.motion_hz or 0.0)
        offsets = np.arange(round(rate * tick.dt)) / rate
        rows = self._fleet.resident[devices]
        b = tick.behaviour
        block = self._accel.block(rows, offsets, b.posture[rows], b.lying_side[rows], b.moving[rows])
        position = {r: i for i, r in enumerate(rows.tolist())}
        for incident in incidents:
            i = position.get(tick.index.residents.get(incident.truth.resident_id, -1))
            if i is not None:
                block[i] = incident.motion(tick.t, offsets, block[i], rate)
        self._outbox.motion(tick.t, devices, rate, self._accel.mount(rows, block))

    def _events_and_status(self, tick: Tick, k: int, online: BoolArray) -> None:
        fleet, streams = self._fleet, self.streams
        changed = np.zeros(online.shape[0], dtype=bool)
        changed[self._sensors.changes(online)] = True
        pressed: dict[int, str] = {}
        for e in tick.emitted:
            if online[e.device] and fleet.zigbee[e.device]:
                pressed[e.device] = SOS_ACTION
            elif online[e.device]:
                self._outbox.event(e.device, tick.t, e.kind, e.value, e.ts)
        for d in np.flatnonzero(changed & ~fleet.zigbee).tolist():
            self._outbox.event(d, tick.t, EVENT_KIND[DEVICE_KINDS[fleet.kind[d]]], float(self._sensors.state[d]))
        heartbeat = ~fleet.wearable & online & fleet.due(k, streams.ticks(streams.heartbeat_s))
        climate = self._env & online & fleet.due(k, streams.ticks(streams.climate_s))
        wearables = fleet.wearable & online & fleet.due(k, streams.ticks(streams.status_s))
        zigbee = changed | heartbeat | climate
        zigbee[list(pressed)] = True
        self._zigbee(tick, np.flatnonzero(zigbee & fleet.zigbee), pressed)
        self._status(tick, np.flatnonzero((heartbeat | climate | wearables) & ~fleet.zigbee), heartbeat, climate)

    def _status(self, tick: Tick, devices: IntArray, heartbeat: BoolArray, climate: BoolArray) -> None:
        """Status messages of ``devices`` ``(m,)``: battery and rssi of wearables and of sensors whose
        ``heartbeat`` ``(D,)`` is due, worn of wearables, room climate where ``climate`` ``(D,)`` is due."""
        if not devices.size:
            return
        fleet = self._fleet
        values = np.zeros((devices.shape[0], len(STATUS_METRICS)))
        present = np.zeros(values.shape, dtype=bool)
        wearable, in_climate = fleet.wearable[devices], climate[devices]
        values[:, BATTERY], values[:, RSSI] = np.round(fleet.battery[devices]), fleet.rssi(devices)
        present[:, BATTERY] = present[:, RSSI] = wearable | heartbeat[devices]
        values[wearable, WORN] = tick.worn[fleet.resident[devices[wearable]]]
        present[:, WORN] = wearable
        values[in_climate, ROOM_TEMP], values[in_climate, HUMIDITY] = self._climate.readings(
            fleet.place[devices[in_climate]]
        )
        present[:, ROOM_TEMP] = present[:, HUMIDITY] = in_climate
        self._outbox.readings(tick.t, Stream.STATUS, devices, STATUS_METRICS, values, present)

    def _zigbee(self, tick: Tick, devices: IntArray, action: dict[int, str]) -> None:
        reporting, env = self._sensors.reporting, self._env
        for d in devices.tolist():
            climate = None
            if env[d]:
                temp, humidity = self._climate.readings(np.array([self._fleet.place[d]]))
                climate = (float(temp[0]), float(humidity[0]))
            state = int(self._sensors.state[d]) if reporting[d] else None
            self._outbox.zigbee_state(d, tick.t, state, climate, action.get(d))


def _apply_vitals(tick: Tick, rows: IntArray, values: np.ndarray, present: np.ndarray,
                  incidents: list[Incident]) -> None:  # fmt: skip
    """Let each active incident change its resident's readings (row of ``values``/``present``), in place."""
    position = {r: i for i, r in enumerate(rows.tolist())} if incidents else {}
    for incident in incidents:
        i = position.get(tick.index.residents.get(incident.truth.resident_id, -1))
        if i is None:
            continue
        before = {m: v for m, v, p in zip(VITALS_METRICS, values[i].tolist(), present[i].tolist(), strict=True) if p}
        after = incident.vitals(tick.t, before)
        unknown = set(after) - set(VITALS_METRICS)
        if unknown:
            raise ValueError(f"{incident.truth.scenario} returned metrics outside the vitals stream: {unknown}")
        present[i] = [m in after for m in VITALS_METRICS]
        values[i] = [after.get(m, 0.0) for m in VITALS_METRICS]
