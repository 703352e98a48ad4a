"""Zigbee2MQTT home sensors: `zigbee2mqtt/<friendly_name>` state JSON -> event and reading rows.

Decisions (docs/protocol.md, "Zigbee2MQTT", is the contract):

- Topics. The device is found by its friendly name (which may contain `/`) in `registry.by_friendly_name`; friendly
  names are unique across the registry, so a multi-site deployment prefixes them (`home-12/kitchen door`). The
  bridge's own topics (`zigbee2mqtt/bridge/...`) and the `/set`, `/get` (commands *to* devices) and `/availability`
  subtopics are not device state: they are acknowledged and ignored, never dead-lettered (the bridge publishes
  large retained documents there on every reconnect). Availability is ignored rather than mapped: the catalogue has
  no metric for it, and an offline device shows as silence, which the device-offline rule already watches.
  A subtopic of a known device (`<name>/temperature`) is Zigbee2MQTT's per-attribute output: `bad_topic`, since
  only `output: json` (the default) carries the state we map.
- Time. Zigbee2MQTT sends no timestamp or counter. `last_seen` is used when the bridge adds it (`advanced.last_seen`
  set to `epoch` (ms) or `ISO_8601`/`ISO_8601_local`); otherwise the receive time. Rows carry seq 0 ("none"): a
  per-device counter would need state, and would restart at 0 with the process. Duplicates are removed on
  (device, metric or kind, time): with `last_seen` a redelivered message is dropped as a duplicate; with the
  receive time a redelivery after a crash gets a new time and is stored twice, so enabling `last_seen` is advised.
- Events are states, not edges. Zigbee2MQTT republishes the device's whole state on every change (a battery
  report repeats `contact`), and this decoder is stateless, so every message emits the event rows it carries: a
  door that stays open yields `door` = 1 again at each report. Readers of events treat them as level samples.
- Mapping. `occupancy` (or `presence`, from mmWave radars) becomes the event of the device's kind (`bed`, `chair`,
  `bathroom`, else `motion`); `contact` is `door` (false = open = 1); `water_leak`, `smoke`, `gas` map one to one;
  `action` on an `sos_button` is `sos` (any press, not `release` or an empty action); `temperature`, `humidity`,
  `battery` become `room_temp` (Cel), `humidity` (%), `battery` (%). `linkquality` is a 0-255 LQI without a unit,
  not the dB of `rssi`: it is not stored. Other keys are ignored.
- Validation: a JSON object, each known key of its type (booleans for binary sensors, numbers for measurements,
  null allowed: Zigbee2MQTT sends null for a value it has not seen yet), finite numbers, plausible ranges from the
  catalogue (outside -> stored flagged as an artefact).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from carewatch.model import Device, DeviceKind, EventRow, ReadingRow
from carewatch.registry import Registry
from ingest.validate import Accepted, Rejected, Source, check_size, check_time, decode_json, event_row, reading_row

TOPIC_PREFIX = "zigbee2mqtt/"  # Zigbee2MQTT's default `mqtt.base_topic`
BRIDGE = "bridge"
IGNORED_SUFFIXES = ("/set", "/get", "/availability")
IGNORED_INFIXES = ("/set/", "/get/")  # `<name>/set/<attribute>`
NO_SEQ = 0

OCCUPANCY_EVENT = {DeviceKind.BED: "bed", DeviceKind.CHAIR: "chair", DeviceKind.BATHROOM: "bathroom"}
DEFAULT_OCCUPANCY_EVENT = "motion"
RELEASE_ACTION = "release"  # the end of a press (`release`, `hold_release`): the press itself was the SOS


class ZigbeeState(msgspec.Struct):
    """The keys we map; any other key of the payload is skipped unparsed."""

    occupancy: bool | None = None
    presence: bool | None = None
    contact: bool | None = None
    water_leak: bool | None = None
    smoke: bool | None = None
    gas: bool | None = None
    action: str | None = None
    temperature: float | None = None
    humidity: float | None = None
    battery: float | None = None
    last_seen: float | Annotated[datetime, msgspec.Meta(tz=True)] | None = None


DECODER = msgspec.json.Decoder(ZigbeeState)


def decode_state(topic: str, payload: bytes, received_at: float, registry: Registry) -> Accepted:
    """One message under `zigbee2mqtt/`: rows, nothing (a topic that is not device state), or `Rejected`."""
    name = friendly_name(topic)
    if name is None:
        return Accepted([], [], [])
    check_size(payload)
    device = registry.by_friendly_name.get(name)
    if device is None:
        parent = name.rpartition("/")[0]
        if parent in registry.by_friendly_name:
            raise Rejected("bad_topic", f"per-attribute topic {topic[:200]!r}: set Zigbee2MQTT `output: json`")
        raise Rejected("unknown_device", f"no device has the Zigbee2MQTT friendly name {name[:100]!r}")
    state = decode_json(DECODER, payload)
    ts = check_time(_timestamp(state, received_at), received_at)
    source = Source(device.site_id, device.device_id, device.resident_id)
    return Accepted(_readings(state, source, ts), _events(state, device, source, ts), [])


def friendly_name(topic: str) -> str | None:
    """The friendly name a state topic names; None for the bridge's topics and the command/availability ones."""
    name = topic[len(TOPIC_PREFIX) :]
    if name == BRIDGE or name.startswith(BRIDGE + "/"):
        return None
    if name.endswith(IGNORED_SUFFIXES) or any(infix in name for infix in IGNORED_INFIXES):
        return None
    return name


def _timestamp(state: ZigbeeState, received_at: float) -> float:
    seen = state.last_seen
    if seen is None:
        return received_at
    if isinstance(seen, datetime):
        return seen.timestamp()
    return seen / 1000.0  # `epoch` is JavaScript's Date.now(): milliseconds


def _readings(state: ZigbeeState, source: Source, ts: float) -> list[ReadingRow]:
    rows = []
    if state.temperature is not None:
        rows.append(reading_row(source, "room_temp", state.temperature, "Cel", ts, NO_SEQ))
    if state.humidity is not None:
        rows.append(reading_row(source, "humidity", state.humidity, "%", ts, NO_SEQ))
    if state.battery is not None:
        rows.append(reading_row(source, "battery", state.battery, "%", ts, NO_SEQ))
    return rows


def _events(state: ZigbeeState, device: Device, source: Source, ts: float) -> list[EventRow]:
    levels: list[tuple[str, bool]] = []
    occupied = state.occupancy if state.occupancy is not None else state.presence
    if occupied is not None:
        levels.append((OCCUPANCY_EVENT.get(device.kind, DEFAULT_OCCUPANCY_EVENT), occupied))
    if state.contact is not None:
        levels.append(("door", not state.contact))  # contact made = closed
    if state.water_leak is not None:
        levels.append(("water_leak", state.water_leak))
    if state.smoke is not None:
        levels.append(("smoke", state.smoke))
    if state.gas is not None:
        levels.append(("gas", state.gas))
    if device.kind == DeviceKind.SOS_BUTTON and state.action and not state.action.endswith(RELEASE_ACTION):
        levels.append(("sos", True))
    return [event_row(source, kind, float(on), ts, NO_SEQ) for kind, on in levels]
