"""The `carewatch` command: every subcommand explains itself, `db init` is idempotent on both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carewatch.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("command", "phrase"),
    [
        (["demo"], "simulated residents"),
        (["serve"], "CAREWATCH_MQTT_URL"),
        (["simulate"], "real wearables"),
        (["db", "init"], "idempotent"),
        (["registry", "load"], "manifest"),
    ],
)
def test_every_command_has_help(command: list[str], phrase: str) -> None:
    result = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert phrase in " ".join(result.output.split())


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
