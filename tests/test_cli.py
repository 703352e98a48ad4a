"""The `carewatch` command: every subcommand explains itself, `db init` is idempotent on both stores."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from carewatch.cli import _settings, app
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
    assert result.exit_code != 0
    assert "CAREWATCH_SECRET_KEY" in str(result.exception)


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
