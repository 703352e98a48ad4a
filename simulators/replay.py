"""Replay recorded data through the wire protocol, paced like live data (or faster), so that real recordings take
exactly the path of live devices.

Replay CSV format (also in docs/protocol.md, "Replay CSV format")
-----------------------------------------------------------------

UTF-8 text (a leading byte order mark is skipped) with a header row naming the columns, in any order::

    ts,device,metric,value,site,unit
    1764412800,home-7-wearable,hr,72,home-7,
    1764412800,home-7-wearable,spo2,96,home-7,
    2025-11-29T00:00:05Z,home-7-bedroom-bed,bed,1,home-7,
    2025-11-29T00:00:05Z,home-7-wearable,temp,98.4,home-7,[degF]

- ``ts`` (required): epoch seconds (fractions allowed) or ISO 8601; an ISO time without an offset is UTC.
- ``device`` (required): the registry's device id.
- ``metric`` (required): a metric of the catalogue (``hr``, ``spo2``, ... ``battery``, ``room_temp``), sent as a
  reading on its stream (``vitals`` or ``status``), or an event kind (``sos``, ``fall``, ``motion``, ``door``,
  ``bed``, ``chair``, ``bathroom``, ``smoke``, ``gas``, ``water_leak``), sent as an event.
- ``value`` (required): a number (events: 1 or 0, as in the protocol).
- ``site`` (optional): the device's site; without the column (or with it empty), the ``sites`` mapping (device ->
  site, e.g. from a manifest with `sites_of`) or ``default_site`` must name it.
- ``unit`` (optional): empty for the metric's canonical unit; ``[degF]`` is accepted for ``temp`` and ``room_temp``.

Rows must be in time order. Rows of one device and stream with the same ``ts`` become one message (as a device
sends its vitals together). Each device's messages are numbered from ``first_seq``. Accelerometer streams are not
carried by the CSV: replay them from SisFall trial files (`replay_sisfall`). A malformed row stops the replay with a
``ValueError`` naming its line; rows of earlier times have been published.

Times: ``start`` places the first row at that instant (every row shifted alike); None keeps the recorded times.
Ingest rejects readings more than 7 days old, so older recordings need a ``start`` (`simulators.clock.placed_start`
gives one that never runs ahead of the clock).
"""

from __future__ import annotations

import csv
import itertools
import math
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from carewatch.catalog import EVENT_KINDS, FAHRENHEIT, FAHRENHEIT_CONVERTIBLE, METRIC_BY_NAME, Stream
from carewatch.model import DeviceKind
from simulators import protocol
from simulators.clock import placed_start
from simulators.playback import Message, Progress, Publish, play
from simulators.sisfall import load_trial, resample
from simulators.zigbee import BASE_TOPIC

REQUIRED = ("ts", "device", "metric", "value")
OPTIONAL = ("site", "unit")
BLOCK_S = 1.0  # SisFall replay: one accelerometer message per second, as the simulated wearables send
DEFAULT_RATE_HZ = 50.0
ZIGBEE_BRIDGE = "bridge"  # zigbee2mqtt/bridge/...: the bridge's own state and logs, no device's
# The event an occupancy report is, by device kind (as ingest.zigbee reads it): others report motion.
BRIDGE_OCCUPANCY = {"bed": "bed", "chair": "chair", "bathroom": "bathroom"}


@dataclass(frozen=True, slots=True)
class Row:
    ts: float
    device: str
    metric: str  # a catalogue metric or an event kind
    value: float
    site: str | None = None
    unit: str | None = None
    line: int = 0  # in the file, for error messages

    @property
    def stream(self) -> Stream:
        return Stream.EVENT if self.metric in EVENT_KINDS else METRIC_BY_NAME[self.metric].stream


def read_csv(path: Path | str) -> Iterator[Row]:
    """The rows of a replay CSV, validated; ``ValueError`` with the line number on the first bad one."""
    with Path(path).open(newline="", encoding="utf-8-sig") as fh:  # -sig: a byte order mark (Excel's) is skipped
        reader = csv.DictReader(fh)
        missing = set(REQUIRED) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)} (need {REQUIRED}, may have {OPTIONAL})")
        last = -math.inf
        for record in reader:
            row = _row(record, reader.line_num)
            if row.ts < last:
                raise ValueError(f"{path}:{row.line}: rows must be in time order ({row.ts} after {last})")
            last = row.ts
            yield row


def csv_span(path: Path | str) -> tuple[float, float]:
    """First and last ``ts`` of a replay CSV (to place a replay in time)."""
    first = last = math.nan
    for row in read_csv(path):
        first = row.ts if math.isnan(first) else first
        last = row.ts
    if math.isnan(first):
        raise ValueError(f"{path}: no rows")
    return first, last


def csv_messages(rows: Iterable[Row], sites: Mapping[str, str] | None = None, default_site: str | None = None,
                 start: float | None = None, first_seq: int = 1) -> Iterator[Message]:  # fmt: skip
    """Wire messages of the rows, in order: one per device, stream and ``ts``."""
    sites = sites or {}
    seq: dict[str, int] = {}
    shift = 0.0  # added to every recorded time: start - the first row's ts, when a start is given
    group: dict[tuple[str, Stream], list[Row]] = {}  # the rows of the current ts, by device and stream
    for row in itertools.chain(rows, [None]):
        if row is not None and start is not None and not seq and not group:
            shift = start - row.ts
        if group and (row is None or row.ts != next(iter(group.values()))[0].ts):
            for (device, stream), members in group.items():
                seq[device] = seq.get(device, first_seq - 1) + 1
                yield _message(members, stream, _site(members[0], sites, default_site), seq[device], shift)
            group = {}
        if row is not None:
            group.setdefault((row.device, row.stream), []).append(row)


def replay_csv(path: Path | str, publish: Publish, speed: float = 1.0, *, start: float | None = None,
               sites: Mapping[str, str] | None = None, default_site: str | None = None,
               stop: threading.Event | None = None, progress: Progress | None = None) -> int:  # fmt: skip
    """Publish a replay CSV paced at ``speed`` (1 = as recorded, ``math.inf`` = at once). Returns messages sent."""
    return play(csv_messages(read_csv(path), sites, default_site, start), publish, speed, stop, progress)


def sites_of(manifest: Mapping[str, Any]) -> dict[str, str]:
    """device -> site of a registry manifest (``World.manifest()`` or a file for ``carewatch registry load``)."""
    return {d["device_id"]: d["site_id"] for d in manifest.get("devices", [])}


def sisfall_messages(path: Path | str, site_id: str, device_id: str, rate_hz: float = DEFAULT_RATE_HZ,
                     start: float = 0.0, first_seq: int = 1) -> Iterator[Message]:  # fmt: skip
    """A SisFall trial as ``motion`` messages of ``device_id``: resampled from 200 Hz to ``rate_hz`` (as a slower
    wearable would sample it) and cut into blocks of ``BLOCK_S``, the first sample at ``start``."""
    source_hz, xyz = load_trial(path)
    samples = resample(xyz, source_hz, rate_hz).astype(np.float64)
    per_block = max(1, round(rate_hz * BLOCK_S))
    topic = protocol.topic(site_id, device_id, Stream.MOTION)
    for k, first in enumerate(range(0, samples.shape[0], per_block)):
        ts = start + first / rate_hz
        yield Message(
            ts, topic, protocol.motion_payload(ts, first_seq + k, rate_hz, samples[first : first + per_block])
        )


def sisfall_span(path: Path | str) -> float:
    """How long a SisFall trial lasts (seconds)."""
    source_hz, xyz = load_trial(path)
    return float(xyz.shape[0] / source_hz)


def replay_sisfall(path: Path | str, publish: Publish, site_id: str, device_id: str, *,
                   rate_hz: float = DEFAULT_RATE_HZ, speed: float = 1.0, start: float | None = None,
                   stop: threading.Event | None = None, progress: Progress | None = None) -> int:  # fmt: skip
    """Publish a SisFall trial as a wearable's accelerometer stream, the first sample at ``start`` (default: placed
    so that no sample runs ahead of the clock, `placed_start`: now in real time, ending now when accelerated)."""
    if start is None:
        start = placed_start(sisfall_span(path), speed, time.time())
    messages = sisfall_messages(path, site_id, device_id, rate_hz, start)
    return play(messages, publish, speed, stop, progress)


@dataclass(frozen=True, slots=True)
class BridgedDevice:
    """A home sensor behind a Zigbee2MQTT bridge, as the registry knows it: what its friendly name stands for."""

    device_id: str
    site_id: str
    kind: str  # carewatch.model.DeviceKind's value: motion, door, bed, ...


def bridged_devices_of(manifest: Mapping[str, Any]) -> dict[str, BridgedDevice]:
    """friendly name -> device, of a registry manifest's devices that have one (``World.manifest()`` with zigbee)."""
    return {d["friendly_name"]: BridgedDevice(d["device_id"], d["site_id"], d["kind"])
            for d in manifest.get("devices", []) if d.get("friendly_name")}  # fmt: skip


def csv_rows(topic: str, payload: bytes, bridged: Mapping[str, BridgedDevice] | None = None) -> list[Row]:
    """The rows of one message: the recorder's half of a round trip. A carewatch ``vitals``, ``status`` or ``event``
    message gives its readings or events (``motion`` gives none: the CSV carries no accelerometer); a Zigbee2MQTT
    device state (``zigbee2mqtt/<friendly name>``) gives the rows ingest would store of it, found by the friendly
    name in ``bridged`` (`bridged_devices_of`; without it such a message is a ``ValueError``, so that a recording
    never loses them unsaid); the bridge's own topics and other messages give none."""
    if topic.startswith(f"{BASE_TOPIC}/"):
        return _bridged_rows(topic.removeprefix(f"{BASE_TOPIC}/"), payload, bridged)
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != protocol.PREFIX or parts[4] == Stream.MOTION.value:
        return []
    body = msgspec.json.decode(payload)
    site, device = parts[2], parts[3]
    items = body.get("readings") or body.get("events") or []
    return [Row(float(i.get("ts", body["ts"])), device, i.get("metric") or i["kind"], float(i["value"]), site,
                i.get("unit")) for i in items]  # fmt: skip


def write_csv(path: Path | str, rows: Iterable[Row]) -> int:
    """Write rows in the replay CSV format (all columns), in time order (stable: rows of one time keep their order,
    so a capture of several connections, whose messages interleave out of time order, replays). Returns rows
    written."""
    ordered = sorted(rows, key=lambda row: row.ts)
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow((*REQUIRED, *OPTIONAL))
        for row in ordered:
            writer.writerow((repr(row.ts), row.device, row.metric, repr(row.value), row.site or "", row.unit or ""))
    return len(ordered)


def _bridged_rows(name: str, payload: bytes, bridged: Mapping[str, BridgedDevice] | None) -> list[Row]:
    if name == ZIGBEE_BRIDGE or name.startswith(f"{ZIGBEE_BRIDGE}/"):
        return []
    if bridged is None or name not in bridged:
        raise ValueError(f"{BASE_TOPIC}/{name}: a Zigbee2MQTT device not in the friendly names given "
                         "(csv_rows(..., bridged=bridged_devices_of(manifest)))")  # fmt: skip
    device, state = bridged[name], msgspec.json.decode(payload)
    if "last_seen" not in state:
        raise ValueError(f"{BASE_TOPIC}/{name}: no last_seen, so no time to record it at")
    contact = state.get("contact")
    levels = {BRIDGE_OCCUPANCY.get(device.kind, "motion"): state.get("occupancy"), "smoke": state.get("smoke"),
              "door": None if contact is None else not contact, "water_leak": state.get("water_leak"),
              "gas": state.get("gas")}  # fmt: skip
    action = state.get("action")
    if device.kind == DeviceKind.SOS_BUTTON and action and not action.endswith("release"):
        levels["sos"] = True
    readings = {
        "room_temp": state.get("temperature"),
        "humidity": state.get("humidity"),
        "battery": state.get("battery"),
    }
    ts = state["last_seen"] / 1000.0  # epoch milliseconds (simulators.zigbee)
    return [Row(ts, device.device_id, metric, float(value), device.site_id)
            for metric, value in (*readings.items(), *levels.items()) if value is not None]  # fmt: skip


def _row(record: Mapping[str, str | None], line: int) -> Row:
    try:
        ts = _time(record["ts"] or "")
        value = float(record["value"] or "")
    except ValueError as exc:
        raise ValueError(f"line {line}: {exc}") from None
    metric, unit = (record["metric"] or "").strip(), (record.get("unit") or "").strip() or None
    if metric not in METRIC_BY_NAME and metric not in EVENT_KINDS:
        raise ValueError(f"line {line}: unknown metric or event kind {metric!r}")
    if not (math.isfinite(ts) and math.isfinite(value)):
        raise ValueError(f"line {line}: ts and value must be finite")
    if unit is not None and unit != _unit(metric) and not (unit == FAHRENHEIT and metric in FAHRENHEIT_CONVERTIBLE):
        raise ValueError(f"line {line}: {metric} is in {_unit(metric)!r}, not {unit!r}")
    device = (record["device"] or "").strip()
    if not device:
        raise ValueError(f"line {line}: empty device")
    return Row(ts, device, metric, value, (record.get("site") or "").strip() or None, unit, line)


def _time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        moment = datetime.fromisoformat(text.strip())
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _unit(metric: str) -> str | None:
    return METRIC_BY_NAME[metric].unit if metric in METRIC_BY_NAME else None


def _site(row: Row, sites: Mapping[str, str], default_site: str | None) -> str:
    site = row.site or sites.get(row.device) or default_site
    if site is None:
        raise ValueError(f"line {row.line}: no site for device {row.device!r} (add a site column, sites or default)")
    return site


def _message(rows: list[Row], stream: Stream, site: str, seq: int, shift: float) -> Message:
    ts = rows[0].ts + shift
    if stream is Stream.EVENT:
        payload = protocol.events_payload(ts, seq, [(r.metric, r.value, None) for r in rows])
    else:
        payload = protocol.units_payload(ts, seq, [(r.metric, r.value, r.unit) for r in rows])
    return Message(ts, protocol.topic(site, rows[0].device, stream), payload)
