"""Tests of simulators.replay: the CSV format (round trip, validation, time placement, pacing) and SisFall trials."""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest

from simulators.capture import Capture
from simulators.floorplans import build_world
from simulators.playback import Message, play
from simulators.replay import (
    Row,
    bridged_devices_of,
    csv_messages,
    csv_rows,
    csv_span,
    read_csv,
    replay_csv,
    replay_sisfall,
    sisfall_messages,
    sites_of,
    write_csv,
)
from simulators.runner import Simulation

T0 = 1_764_374_400.0  # 2025-11-29 00:00:00 UTC
SISFALL = Path(os.environ.get("CAREWATCH_SISFALL", Path(__file__).resolve().parents[3] / "shared/data/sisfall-dev"))
CSV = """ts,device,metric,value,site,unit
1764412800,w1,hr,72,home-7,
1764412800,w1,spo2,96,home-7,
1764412800,bed1,bed,1,home-7,
2025-11-29T10:40:05Z,w1,temp,98.6,home-7,[degF]
2025-11-29T10:40:05+00:00,w1,battery,80,home-7,
"""


def test_csv_rows_become_protocol_messages(tmp_path: Path) -> None:
    path = tmp_path / "rec.csv"
    path.write_text(CSV)
    capture = Capture()
    assert replay_csv(path, capture, speed=math.inf) == 4
    (t1, vitals), (t2, event), (t3, temp), (t4, status) = ((t, json.loads(p)) for t, p in capture.messages)
    assert t1 == "carewatch/v1/home-7/w1/vitals" and vitals == {"ts": 1764412800.0, "seq": 1, "readings": [
        {"metric": "hr", "value": 72, "unit": "bpm"}, {"metric": "spo2", "value": 96, "unit": "%"}]}  # fmt: skip
    assert t2 == "carewatch/v1/home-7/bed1/event" and event["events"] == [{"kind": "bed", "value": 1}]
    assert t3.endswith("/w1/vitals") and temp["readings"] == [{"metric": "temp", "value": 98.6, "unit": "[degF]"}]
    assert t4.endswith("/w1/status") and temp["ts"] == status["ts"] == 1764412805.0 and status["seq"] == 3


def test_round_trip_of_a_simulated_recording(tmp_path: Path) -> None:
    world = build_world("home", 2, 1, seed=3)
    recorded = Capture()
    Simulation(world, [], recorded, 1).run(T0 + 9 * 3600, 120.0, speed=math.inf)
    rows = [row for topic, payload in recorded.messages for row in csv_rows(topic, payload)]
    assert write_csv(tmp_path / "sim.csv", rows) == len(rows)
    assert list(read_csv(tmp_path / "sim.csv")) == [
        Row(r.ts, r.device, r.metric, r.value, r.site, r.unit, line=i + 2) for i, r in enumerate(rows)
    ]
    replayed = Capture()
    replay_csv(tmp_path / "sim.csv", replayed, speed=math.inf)

    def content(capture: Capture) -> list[tuple[str, float, str]]:
        return sorted((t, body["ts"], json.dumps(body.get("readings") or body.get("events"), sort_keys=True))
                      for t, body in capture.decoded() if not t.endswith("/motion"))  # fmt: skip

    assert content(replayed) == content(recorded)


def test_a_capture_out_of_time_order_is_written_in_order(tmp_path: Path) -> None:
    """Several connections (a `PublisherPool`) deliver their sites' messages interleaved out of time order: the
    recording is sorted, stably (rows of one time keep their order), so that it replays."""
    world = build_world("home", 3, 1, seed=3)
    recorded = Capture()
    Simulation(world, [], recorded, 1).run(T0 + 9 * 3600, 60.0, speed=math.inf)
    rows = [row for topic, payload in recorded.messages for row in csv_rows(topic, payload)]
    by_connection = sorted(rows, key=lambda row: row.site or "")  # one site's whole run after another's
    assert any(b.ts < a.ts for a, b in itertools.pairwise(by_connection))
    write_csv(tmp_path / "pool.csv", by_connection)
    written = [(r.ts, r.device, r.metric, r.value) for r in read_csv(tmp_path / "pool.csv")]
    assert written == [(r.ts, r.device, r.metric, r.value) for r in sorted(by_connection, key=lambda r: r.ts)]


def test_a_byte_order_mark_before_the_header_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text("\ufeff" + CSV, encoding="utf-8")
    assert replay_csv(path, Capture(), speed=math.inf) == 4


def test_zigbee_room_sensors_are_recorded_by_their_friendly_names(tmp_path: Path) -> None:
    world = build_world("home", 2, 1, seed=3, zigbee=True)
    recorded = Capture()
    Simulation(world, [], recorded, 1).run(T0 + 9 * 3600, 600.0, speed=math.inf)
    bridged = bridged_devices_of(world.manifest())
    zigbee = [(t, p) for t, p in recorded.messages if t.startswith("zigbee2mqtt/")]
    assert zigbee and bridged
    rows = [row for topic, payload in recorded.messages for row in csv_rows(topic, payload, bridged)]
    from_zigbee = [row for row in rows if row.device in {d.device_id for d in bridged.values()}]
    assert {"battery", "room_temp", "humidity"} <= {r.metric for r in from_zigbee}
    assert {"motion", "bed", "door"} & {r.metric for r in from_zigbee}
    assert all(r.site == bridged[t.split("/", 1)[1]].site_id for t, p in zigbee for r in csv_rows(t, p, bridged))
    write_csv(tmp_path / "zigbee.csv", rows)
    replayed = Capture()
    replay_csv(tmp_path / "zigbee.csv", replayed, speed=math.inf)
    device = next(iter(bridged.values()))
    assert replayed.decoded(device=device.device_id) and not replayed.zigbee()
    with pytest.raises(ValueError, match="friendly names"):
        csv_rows(*zigbee[0])  # without the names, not dropped unsaid
    assert csv_rows("zigbee2mqtt/bridge/state", b'{"state": "online"}', bridged) == []


def test_start_shifts_every_row_alike(tmp_path: Path) -> None:
    path = tmp_path / "rec.csv"
    path.write_text(CSV)
    assert csv_span(path) == (1764412800.0, 1764412805.0)
    messages = list(csv_messages(read_csv(path), start=T0))
    assert [m.ts for m in messages] == [T0, T0, T0 + 5, T0 + 5]
    assert json.loads(messages[3].payload)["ts"] == T0 + 5


def test_sites_from_a_manifest_or_a_default(tmp_path: Path) -> None:
    path = tmp_path / "nosite.csv"
    path.write_text("ts,device,metric,value\n10,w1,hr,70\n11,other,hr,71\n")
    world = build_world("home", 1, 1, seed=1)
    wearable = world.residents[0].wearable_id
    assert sites_of(world.manifest())[wearable] == world.sites[0].site_id
    topics = [m.topic for m in csv_messages(read_csv(path), sites={"w1": "s1"}, default_site="s0")]
    assert topics == ["carewatch/v1/s1/w1/vitals", "carewatch/v1/s0/other/vitals"]
    with pytest.raises(ValueError, match="no site for device 'w1'"):
        list(csv_messages(read_csv(path)))


@pytest.mark.parametrize(("text", "error"), [
    ("ts,device,value\n", "missing columns"),
    ("ts,device,metric,value\n1,w,pulse,60\n", "line 2: unknown metric"),
    ("ts,device,metric,value\n1,w,hr,sixty\n", "line 2"),
    ("ts,device,metric,value\n1,w,hr,nan\n", "finite"),
    ("ts,device,metric,value\n2,w,hr,60\n1,w,hr,61\n", ":3: rows must be in time order"),
    ("ts,device,metric,value,unit\n1,w,hr,60,bps\n", "hr is in 'bpm'"),
    ("ts,device,metric,value\nyesterday,w,hr,60\n", "line 2"),
])  # fmt: skip
def test_bad_rows_are_refused_with_their_line(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=error):
        list(read_csv(path))


def test_play_paces_by_timestamps() -> None:
    sent: list[tuple[float, str]] = []
    messages = [Message(100.0 + 0.1 * k, f"t{k}", b"{}") for k in range(4)]
    began = time.monotonic()
    assert play(messages, lambda t, p: sent.append((time.monotonic() - began, t)), speed=1.0) == 4
    assert [t for _, t in sent] == ["t0", "t1", "t2", "t3"]
    assert sent[-1][0] >= 0.28  # 0.3 s of recording at real time
    fast: list[str] = []
    began = time.monotonic()
    play(messages, lambda t, p: fast.append(t), speed=math.inf)
    assert time.monotonic() - began < 0.1 and len(fast) == 4


def write_trial(path: Path, seconds: float) -> None:
    """A SisFall-format trial: 200 Hz, 9 columns, ADXL345 in the first three (256 LSB per g)."""
    n = round(seconds * 200)
    lines = [f"{int(10 * np.sin(k / 20))},{-256},{5},0,0,0,0,0,0;" for k in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")


def test_sisfall_trial_becomes_motion_blocks(tmp_path: Path) -> None:
    trial = tmp_path / "D01_SE01_R01.txt"
    write_trial(trial, 2.5)
    messages = list(sisfall_messages(trial, "home-7", "w1", rate_hz=50.0, start=T0))
    assert [m.ts for m in messages] == [T0, T0 + 1.0, T0 + 2.0]
    bodies = [json.loads(m.payload) for m in messages]
    assert [len(b["x"]) for b in bodies] == [50, 50, 25] and [b["seq"] for b in bodies] == [1, 2, 3]
    assert all(b["rate_hz"] == 50 and b["unit"] == "g" for b in bodies)
    assert np.allclose(bodies[0]["y"], -1.0) and messages[0].topic == "carewatch/v1/home-7/w1/motion"
    capture = Capture()
    assert replay_sisfall(trial, capture, "home-7", "w1", rate_hz=25.0, speed=math.inf, start=T0) == 3


def test_an_accelerated_sisfall_replay_ends_by_now(tmp_path: Path) -> None:
    trial = tmp_path / "F01_SA01_R01.txt"
    write_trial(trial, 20.0)
    capture = Capture()
    before = time.time()
    assert replay_sisfall(trial, capture, "home-7", "w1", speed=math.inf) == 20
    stamps = [body["ts"] for _, body in capture.decoded("motion")]
    assert before - 21.0 <= stamps[0] and stamps[-1] <= time.time()  # no sample ahead of the clock


@pytest.mark.skipif(not (SISFALL / "MANIFEST.csv").exists(), reason="SisFall development subset not present")
def test_a_real_sisfall_fall_replays_as_a_detectable_fall() -> None:
    from alerts.falls import FallDetector
    from simulators.sisfall import iter_manifest

    row = next(r for r in iter_manifest(SISFALL) if r.activity_code == "F01")
    detector = FallDetector(1)
    found = 0
    for message in sisfall_messages(row.path, "home-7", "w1", rate_hz=50.0, start=T0):
        body = json.loads(message.payload)
        block = np.array([body["x"], body["y"], body["z"]]).T
        found += len(detector.process_blocks(np.array([0]), np.array([body["ts"]]), np.array([50.0]), [block]))
    assert found == 1
