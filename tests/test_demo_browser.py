"""The README's demo, as a user meets it: `carewatch demo` starts on embedded defaults, and headless Chromium shows
the resident tiles and the scripted alert. The screenshot is kept in test-artifacts/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import ARTIFACTS, free_port

RESIDENTS = 20
START_TIMEOUT_S = 60.0


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = {**os.environ, "CAREWATCH_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "carewatch", "demo", "--residents", str(RESIDENTS), "--port", str(free_port())]
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        url = None
        logins: dict[str, str] = {}
        output = []
        while (url is None or "family" not in logins) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            found = re.search(r"dashboard at (http://\S+)", line)
            url = found.group(1) if found else url
            login = re.search(r"login (\S+) / (\S+)", line)
            if login:
                logins[login.group(1)] = login.group(2)
        assert url is not None, "the demo did not print its URL:\n" + "".join(output)
        assert "operator" in logins, "the demo did not print its logins:\n" + "".join(output)
        try:
            yield url, logins
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert proc.returncode == 0, "the demo did not stop cleanly on SIGTERM"


@pytest.mark.browser
def test_demo_board_shows_tiles_and_the_scripted_alert(demo: tuple[str, dict[str, str]], browser: Any) -> None:
    url, logins = demo
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(url)  # not logged in: the login page first
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", logins["operator"])
    page.click("button[type=submit]")
    page.wait_for_function(f"document.querySelectorAll('.tile').length === {RESIDENTS}", timeout=30_000)
    page.wait_for_selector("#alerts .alert", timeout=60_000)
    page.wait_for_function("document.querySelector('.tile .v-hr').textContent !== '\u2013'", timeout=30_000)
    alert_text = page.inner_text("#alerts .alert")
    assert "SpO2" in alert_text
    assert page.locator(".tile[data-status='urgent']").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "demo-board.png"), full_page=True)

    page.click("#alerts .alert button:has-text('Acknowledge')")
    page.wait_for_selector("#alerts .alert[data-state='acknowledged']", timeout=10_000)
    page.context.close()
