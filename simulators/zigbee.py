"""Home sensors as a Zigbee2MQTT bridge publishes them: ``zigbee2mqtt/<friendly_name>`` with the device's whole
state as JSON, on every change and on every periodic report (a battery or climate report repeats the state).

Keys are Zigbee2MQTT's usual ones: ``occupancy`` (PIR, bed, chair, bathroom presence), ``contact`` (a door; true =
closed), ``water_leak``, ``smoke``, ``gas``, ``temperature`` and ``humidity``, ``action`` (``emergency``, the press
of an SOS button), plus ``battery`` (%), ``voltage`` (mV), ``linkquality`` (0-255 LQI) and ``last_seen`` (epoch
milliseconds, as with the bridge's ``advanced.last_seen: epoch``: it times readings in accelerated runs).
"""

from __future__ import annotations

from typing import Any

import msgspec

BASE_TOPIC = "zigbee2mqtt"  # the bridge's default mqtt.base_topic
STATE_KEY = {"motion": "occupancy", "bed": "occupancy", "chair": "occupancy", "bathroom": "occupancy",
             "door": "contact", "smoke": "smoke", "gas": "gas", "water": "water_leak"}  # fmt: skip
SOS_ACTION = "emergency"  # what Zigbee2MQTT reports for an SOS button's press (e.g. Tuya TS0215A_sos)
CELL_MV = (2500.0, 3100.0)  # a CR2032 from empty to full, for `voltage`
LQI_PER_DB = 255.0 / 60.0  # LQI from RSSI: -100 dBm -> 0, -40 dBm -> 255

_encode = msgspec.json.Encoder().encode


def topic(friendly_name: str) -> str:
    return f"{BASE_TOPIC}/{friendly_name}"


def linkquality(rssi_db: float) -> int:
    return int(min(255.0, max(0.0, (rssi_db + 100.0) * LQI_PER_DB)))


def state_payload(kind: str, ts: float, battery: float, rssi_db: float, state: int | None = None,
                  climate: tuple[float, float] | None = None, action: str | None = None) -> bytes:  # fmt: skip
    """The JSON a bridge publishes for a device of carewatch ``kind`` (motion, door, bed, ... environment,
    sos_button). ``state`` is the carewatch event value (1 = occupied, open, alarm) of an event sensor, ``climate``
    an environment sensor's (temperature C, humidity %), ``action`` a button's press."""
    body: dict[str, Any] = {"battery": round(battery), "linkquality": linkquality(rssi_db)}
    key = STATE_KEY.get(kind)
    if key is not None and state is not None:
        body[key] = not state if key == "contact" else bool(state)
    if climate is not None:
        body["temperature"], body["humidity"] = climate
    if action is not None:
        body["action"] = action
    body["voltage"] = round(CELL_MV[0] + (CELL_MV[1] - CELL_MV[0]) * battery / 100.0)
    body["last_seen"] = round(ts * 1000.0)
    return _encode(body)
