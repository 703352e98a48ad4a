"""The `carewatch` command: every subcommand explains itself, `db init` is idempotent on both stores."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support import GUARDED_USER, Mosquitto
from typer.testing import CliRunner, Result

from carewatch.cli import EXIT_USER_ERROR, _settings, app
from carewatch.config import redacted

runner = CliRunner()


@pytest.mark.parametrize(
    ("command", "phrase"),
    [
        (["demo"], "simulated residents"),
        (["serve"], "CAREWATCH_MQTT_URL"),
        (["simulate"], "real wearables"),
        (["replay"], "recorded data"),
        (["db", "init"], "idempotent"),
        (["registry", "load"], "manifest"),
    ],
)
def test_every_command_has_help(command: list[str], phrase: str) -> None:
    result = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert phrase in " ".join(result.output.split())


def test_routine_library_chatter_stays_out_of_the_log_and_its_warnings_do_not(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # the root at INFO, as `serve` and `demo` log
    _settings()
    for library in ("apscheduler.executors.default", "apscheduler.scheduler", "amqtt.broker"):
        log = logging.getLogger(library)
        assert not log.isEnabledFor(logging.INFO) and log.isEnabledFor(logging.WARNING), library
    assert logging.getLogger("carewatch.cli").isEnabledFor(logging.INFO)


def test_db_init_and_registry_load_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREWATCH_DATA_DIR", str(tmp_path))
    for _ in range(2):  # twice: idempotent
        result = runner.invoke(app, ["db", "init"])
        assert result.exit_code == 0 and "schema ready (SQLite" in result.output
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({
        "sites": [{"site_id": "h1", "name": "Home", "kind": "home"}],
        "residents": [{"resident_id": "r1", "site_id": "h1", "name": "Li Wei"}],
        "devices": [{"device_id": "w1", "site_id": "h1", "kind": "wearable", "resident_id": "r1"}],
    }))  # fmt: skip
    result = runner.invoke(app, ["registry", "load", str(manifest)])
    assert result.exit_code == 0 and "registered 1 residents, 1 devices" in result.output
    manifest.write_text(json.dumps({"site_contacts": [{"site_id": "h1", "contact_id": "nobody"}]}))
    result = runner.invoke(app, ["registry", "load", str(manifest)])
    assert result.exit_code == 2 and "site_contacts[0]: no contact 'nobody'" in result.output


@pytest.mark.services
def test_db_init_on_timescaledb(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", pg_url)
    monkeypatch.setenv("CAREWATCH_SECRET_KEY", "cli-test-secret-0123456789")
    for _ in range(2):
        result = runner.invoke(app, ["db", "init"])
        assert result.exit_code == 0 and "schema ready (TimescaleDB)" in result.output, result.output


def test_production_refuses_the_demo_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = runner.invoke(app, ["db", "init"])
    assert result.exit_code == EXIT_USER_ERROR
    assert said(result) == "carewatch db init: CAREWATCH_SECRET_KEY must be set to a secret of your own when a " \
                           "database is configured"  # fmt: skip


def said(result: Result) -> str:
    """The one line a user error ends with, checked to be all there is to it: no traceback."""
    assert result.exit_code == EXIT_USER_ERROR, (result.exception, result.output)
    assert "Traceback" not in result.output and "╭" not in result.output
    return result.output.strip().splitlines()[-1]


NOWHERE = "mqtt://127.0.0.1:1"  # nobody listens


@pytest.mark.parametrize(("command", "env", "line"), [
    (["simulate", "--mqtt-url", NOWHERE, "--kind", "castle"], {},
     "carewatch simulate: kind must be one of ('home', 'community_station', 'care_institution'), got 'castle'"),
    (["simulate", "--mqtt-url", NOWHERE, "--speed", "0", "--duration", "10"], {},
     "carewatch simulate: could not connect to mqtt://127.0.0.1:1: Connection refused"),
    (["simulate", "--mqtt-url", NOWHERE, "--residents-per-site", "5"], {},
     "carewatch simulate: a home has 1 or 2 residents (a couple), not 5"),
    (["serve"], {"CAREWATCH_MQTT_URL": "http://broker.example"},
     "carewatch serve: CAREWATCH_MQTT_URL: unsupported MQTT URL scheme 'http': use mqtt://host:port"),
    (["db", "init"], {"CAREWATCH_MQTT_URL": "mqtts://broker.example"},
     "carewatch db init: CAREWATCH_MQTT_URL: unsupported MQTT URL scheme 'mqtts': use mqtt://host:port"),
    (["db", "init"], {"CAREWATCH_DATABASE_URL": "mysql://db.example/carewatch", "CAREWATCH_SECRET_KEY": "k" * 20},
     "carewatch db init: unsupported database URL mysql://..."),
    (["db", "init"], {"CAREWATCH_PARTITION": "3", "CAREWATCH_PARTITIONS": "2"},
     "carewatch db init: CAREWATCH_PARTITION must be below CAREWATCH_PARTITIONS (2)"),
    (["db", "init"], {"CAREWATCH_PARTITIONS": "99999999999999999999"},
     "carewatch db init: CAREWATCH_PARTITIONS: Input should be less than or equal to 1024"),
    (["db", "init"], {"CAREWATCH_PARTITIONS": "two"},
     "carewatch db init: CAREWATCH_PARTITIONS: Input should be a valid integer, unable to parse string as an integer"),
    (["serve"], {"CAREWATCH_RETENTION_ALERTS_DAYS": "inf"},
     "carewatch serve: CAREWATCH_RETENTION_ALERTS_DAYS: Input should be a finite number"),
    (["serve"], {"CAREWATCH_RETENTION_ALERTS_DAYS": "1e300"},
     "carewatch serve: CAREWATCH_RETENTION_ALERTS_DAYS: Input should be less than or equal to 36525"),
    (["serve"], {"CAREWATCH_RETENTION_READINGS_DAYS": "1e6"},
     "carewatch serve: CAREWATCH_RETENTION_READINGS_DAYS: Input should be less than or equal to 36525"),
    (["serve"], {"CAREWATCH_ROLLUP_INTERVAL_SECONDS": "inf", "CAREWATCH_ALERT_HOLD_SECONDS": "1e300"},
     "carewatch serve: CAREWATCH_ALERT_HOLD_SECONDS: Input should be less than or equal to 31622400; "
     "CAREWATCH_ROLLUP_INTERVAL_SECONDS: Input should be a finite number"),
    (["serve"], {"CAREWATCH_ESCALATION_FAMILY_MINUTES": "nan", "CAREWATCH_HTTP_PORT": "70000"},
     "carewatch serve: CAREWATCH_HTTP_PORT: Input should be less than or equal to 65535; "
     "CAREWATCH_ESCALATION_FAMILY_MINUTES: Input should be a finite number"),
])  # fmt: skip
def test_user_errors_end_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str],
                                     env: dict[str, str], line: str) -> None:  # fmt: skip
    monkeypatch.setenv("CAREWATCH_DATA_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert said(runner.invoke(app, command)) == line


def test_a_data_dir_under_a_file_is_a_user_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "file").touch()
    monkeypatch.setenv("CAREWATCH_DATA_DIR", str(tmp_path / "file" / "data"))
    assert said(runner.invoke(app, ["db", "init"])) == f"carewatch db init: {tmp_path}/file/data: Not a directory"


def test_an_unreachable_database_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("CAREWATCH_SECRET_KEY", "cli-test-secret-0123456789")
    line = said(runner.invoke(app, ["db", "init"]))
    assert line.startswith("carewatch db init: could not connect to the database at 127.0.0.1:1 (")


@pytest.mark.parametrize(("text", "line"), [
    ("sites: []", "is not JSON: Expecting value: line 1 column 1 (char 0)"),
    ("[]", "holds a JSON list, not an object with sites, residents, ..."),
    (json.dumps({"sites": [{"site_id": "h1", "name": "Home"}]}), "sites[0]: give kind"),
    (json.dumps({"devices": [{"device_id": "w1", "site_id": "nowhere", "kind": "wearable"}]}),
     "devices[0]: no site 'nowhere' (register it under sites)"),
])  # fmt: skip
def test_registry_load_refuses_a_bad_manifest_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          text: str, line: str) -> None:  # fmt: skip
    monkeypatch.setenv("CAREWATCH_DATA_DIR", str(tmp_path))
    manifest = tmp_path / "m.json"
    manifest.write_text(text)
    said_line = said(runner.invoke(app, ["registry", "load", str(manifest)]))
    assert said_line.startswith("carewatch registry load: ") and line in said_line


def test_a_bug_still_shows_its_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(settings: object) -> None:
        raise AttributeError("a bug, not the user's doing")

    monkeypatch.setenv("CAREWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("carewatch.storage.open_store", broken)
    result = runner.invoke(app, ["db", "init"])
    assert result.exit_code == 1 and isinstance(result.exception, AttributeError)


def test_replay_names_the_bad_line_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(f"ts,device,metric,value,site\n{time.time()},w1,pulse,60,h1\n")
    line = said(runner.invoke(app, ["replay", "--mqtt-url", NOWHERE, "--csv", str(path)]))
    assert line == "carewatch replay: line 2: unknown metric or event kind 'pulse'"


@pytest.mark.parametrize(("option", "value", "phrase"), [
    ("--incidents", "-5", "--incidents"),
    ("--duration", "-100", "--duration: must be more than 0"),
    ("--accelerometer-hz", "33", "--accelerometer-hz: 25 or 50, not 33"),
    ("--speed", "-2", "--speed"),
    ("--start", str(time.time() - 30 * 86_400), "the run would start 30.0 days ago"),
    ("--scenario", "meteor", "unknown ['meteor']; the library has fall, fall_long_lie, syncope"),
])  # fmt: skip
def test_simulate_refuses_bad_values_before_connecting(option: str, value: str, phrase: str) -> None:
    result = runner.invoke(app, ["simulate", "--mqtt-url", NOWHERE, "--speed", "0", option, value])
    assert result.exit_code == 2 and phrase in " ".join(result.output.replace("│", " ").split()), result.output


def test_simulate_checks_the_ground_truth_path_before_publishing(tmp_path: Path) -> None:
    truth = tmp_path / "no-such-dir" / "gt.jsonl"
    line = said(runner.invoke(app, ["simulate", "--mqtt-url", NOWHERE, "--ground-truth", str(truth)]))
    assert line == f"carewatch simulate: {truth}: No such file or directory"  # not the broker: before connecting


def test_replay_refuses_a_recording_too_old_to_ingest_unless_placed(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    eight_days_ago = time.time() - 8 * 86_400
    path.write_text(f"ts,device,metric,value,site\n{eight_days_ago},w1,hr,60,h1\n{eight_days_ago + 5},w1,hr,61,h1\n")
    result = runner.invoke(app, ["replay", "--mqtt-url", NOWHERE, "--csv", str(path), "--speed", "0"])
    said_ = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2 and "--now or --start" in said_ and "8.0 days ago" in said_
    placed = runner.invoke(app, ["replay", "--mqtt-url", NOWHERE, "--csv", str(path), "--speed", "0", "--now"])
    assert said(placed) == "carewatch replay: could not connect to mqtt://127.0.0.1:1: Connection refused"


@pytest.mark.services
def test_simulate_publishes_a_registered_world_with_ground_truth(mosquitto: Any, tmp_path: Path) -> None:
    received: list[str] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="cli-test-counter")
    client.on_connect = lambda c, *_: c.subscribe([("carewatch/v1/#", 1), ("zigbee2mqtt/#", 1)])
    client.on_message = lambda _c, _u, m: received.append(m.topic)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    yesterday_noon = (time.time() // 86_400 - 1) * 86_400 + 12 * 3600
    try:
        args = [
            "simulate",
            "--mqtt-url",
            mosquitto.url,
            "--sites",
            "2",
            "--duration",
            "120",
            "--speed",
            "0",
            "--start",
            str(yesterday_noon),  # the falls, faints and SOS that fit 120 s happen by day
            "--manifest",
            str(tmp_path / "m.json"),
            "--ground-truth",
            str(tmp_path / "gt.jsonl"),
            "--zigbee",
        ]
        result = runner.invoke(app, args)  # fmt: skip
        assert result.exit_code == 0, result.output
        sent = int(result.output.split("published ")[1].split()[0])
        deadline = time.monotonic() + 20
        while len(received) < sent and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    assert sent > 0 and len(received) == sent
    world = json.loads((tmp_path / "m.json").read_text())
    assert len(world["sites"]) == 2 and any(d.get("friendly_name") for d in world["devices"])
    assert any(t.startswith("zigbee2mqtt/") for t in received)
    truth = [json.loads(line) for line in (tmp_path / "gt.jsonl").read_text().splitlines()]
    assert truth and all({"resident_id", "scenario", "start", "end", "expected_rule"} <= t.keys() for t in truth)
    incidents = [t for t in truth if not t["background"]]
    background = len(truth) - len(incidents)
    assert f"{len(incidents)} incidents (" in result.output and f", {background} background episodes" in result.output
    assert all(t["start"] < yesterday_noon + 120 for t in truth)  # no visitor listed after the run's end
    faints = [t for t in incidents if t["scenario"] == "syncope"]
    assert faints and all("accelerometer" in t["unobservable"] for t in faints)  # no accelerometer stream: no alert
    assert "syncope: no accelerometer stream" in result.output


@pytest.mark.services
def test_simulate_injects_the_scenarios_asked_for(mosquitto: Any, tmp_path: Path) -> None:
    yesterday_noon = (time.time() // 86_400 - 1) * 86_400 + 12 * 3600
    args = ["simulate", "--mqtt-url", mosquitto.url, "--sites", "8", "--duration", "300", "--speed", "0", "--start",
            str(yesterday_noon), "--scenario", "sos", "--scenario", "syncope", "--incidents", "4",
            "--accelerometer-hz", "50", "--ground-truth", str(tmp_path / "gt.jsonl")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    truth = [json.loads(line) for line in (tmp_path / "gt.jsonl").read_text().splitlines()]
    incidents = [t for t in truth if not t["background"]]
    assert sorted(t["scenario"] for t in incidents) == ["sos", "sos", "syncope", "syncope"]
    assert all(t["unobservable"] is None for t in incidents)  # an accelerometer stream shows the faints
    assert "4 incidents, " in result.output


@pytest.mark.services
def test_simulate_says_at_once_that_the_broker_refused_the_credentials(guarded_mosquitto: Mosquitto) -> None:
    started = time.monotonic()
    url = f"mqtt://{GUARDED_USER}:wrong-password@127.0.0.1:{guarded_mosquitto.port}"
    result = runner.invoke(app, ["simulate", "--mqtt-url", url, "--speed", "0", "--duration", "60"])
    broker = f"mqtt://127.0.0.1:{guarded_mosquitto.port}"
    assert said(result) == f"carewatch simulate: the broker at {broker} refused the connection (Not authorized): " \
                           "check the user and password"  # fmt: skip
    assert time.monotonic() - started < 10 and "wrong-password" not in result.output


@pytest.mark.services
def test_replay_places_an_old_recording_at_the_present(mosquitto: Any, tmp_path: Path) -> None:
    received: list[float] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="cli-test-replay")
    client.on_connect = lambda c, *_: c.subscribe("carewatch/v1/#", 1)
    client.on_message = lambda _c, _u, m: received.append(json.loads(m.payload)["ts"])
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    eight_days_ago = time.time() - 8 * 86_400
    path = tmp_path / "old.csv"
    path.write_text("ts,device,metric,value,site\n" + "".join(f"{eight_days_ago + 5 * k},w1,hr,{60 + k},h1\n"
                                                              for k in range(20)))  # fmt: skip
    try:
        time.sleep(0.2)  # subscribed
        result = runner.invoke(app, ["replay", "--mqtt-url", mosquitto.url, "--csv", str(path), "--speed", "0",
                                     "--now"])  # fmt: skip
        assert result.exit_code == 0, result.output
        deadline = time.monotonic() + 10
        while len(received) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    assert len(received) == 20 and time.time() - 120 < received[0] and received[-1] <= time.time()
    assert received[-1] - received[0] == pytest.approx(95.0)


def test_simulate_refuses_a_start_that_would_run_ahead_of_the_clock() -> None:
    url = "mqtt://127.0.0.1:1"  # never reached: the start is refused first
    for start, speed in ((time.time() + 3600, "1"), (time.time() - 60, "0")):  # the future; ends in the future
        result = runner.invoke(app, ["simulate", "--mqtt-url", url, "--duration", "600", "--speed", speed,
                                     "--start", str(start)])  # fmt: skip
        said = " ".join(result.output.replace("│", " ").split())  # the message, unwrapped from its box
        assert result.exit_code == 2 and "--start" in said and "ahead of the clock" in said


def test_printed_broker_urls_hide_the_password() -> None:
    assert redacted("mqtt://ingest:s3cret@broker.example:1883") == "mqtt://ingest:***@broker.example:1883"
    assert redacted("mqtt://127.0.0.1:1883") == "mqtt://127.0.0.1:1883"


def test_a_user_errors_traceback_is_logged_at_debug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = tmp_path / "m.json"
    manifest.write_text("[]")
    monkeypatch.setenv("CAREWATCH_DATA_DIR", str(tmp_path))
    for level, traceback in (("INFO", False), ("DEBUG", True)):
        monkeypatch.setenv("CAREWATCH_LOG_LEVEL", level)
        done = subprocess.run(
            [sys.executable, "-m", "carewatch", "registry", "load", str(manifest)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2 and "carewatch registry load:" in done.stderr
        assert ("Traceback (most recent call last)" in done.stderr) is traceback, level


@pytest.mark.parametrize("command", [["serve"], ["demo", "--duration", "5"]])
@pytest.mark.parametrize("setting", ["CAREWATCH_HTTP_PORT", "CAREWATCH_EMBEDDED_MQTT_PORT"])
def test_a_port_in_use_is_one_line(tmp_path: Path, command: list[str], setting: str) -> None:
    """The dashboard's or the embedded broker's port taken by another process: one line and status 2, before
    anything starts (it was 147-200 lines of traceback and status 1 or 3)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "CAREWATCH_DATA_DIR": str(tmp_path), "CAREWATCH_HTTP_PORT": "0", setting: str(port)}
        done = subprocess.run(
            [sys.executable, "-m", "carewatch", *command], capture_output=True, text=True, timeout=60, env=env
        )
    name = command[0]
    assert (done.returncode, done.stderr) == (
        EXIT_USER_ERROR,
        f"carewatch {name}: cannot listen on 127.0.0.1:{port}: address already in use\n",
    )
