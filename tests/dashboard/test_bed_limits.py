"""Limits for the time in bed through the API and on the resident page: a threshold per metric and context (always,
in bed) set, read, removed and audited with its context; the settling-in review of a fit sleeper with a bed sensor
suggests hr_low for the time in bed, and accepting it sets an in-bed threshold. Against the real app and a real
SQLite store (this module's own), the page in headless Chromium."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from dashboard_support import TIMEOUT_MS, Served, logged_in, newest_change
from support import ARTIFACTS

from carewatch.model import Batch, Device, DeviceKind, EventRow, ReadingRow
from carewatch.storage.base import Store

URL = "/api/residents/{}/thresholds"
DAY_S, STEP_S = 86_400.0, 300.0


def fit_sleepers_week(store: Store, end: float) -> None:
    """r2 with a bed sensor of their own: in bed from 00:00 to 06:00 UTC, pulse 38-40 asleep and 55-58 awake, other
    vitals ordinary, at rest (no steps), a reading of each every 5 minutes for the 7 days up to ``end``."""
    store.upsert_devices([Device("bed-r2", "s1", DeviceKind.BED, "r2")])
    start = (end // DAY_S - 7) * DAY_S
    readings, events = [], []
    for i in range(int((end - start) / STEP_S)):
        t = start + i * STEP_S
        asleep = t % DAY_S < 6 * 3600
        pulse = 38.0 + i % 3 if asleep else 55.0 + i % 4
        for metric, value in (("hr", pulse), ("spo2", 96.0), ("rr", 15.0), ("sbp", 125.0), ("temp", 36.7)):
            readings.append(ReadingRow(t, "s1", "w-r2", "r2", metric, value, 20_000 + i, False))
    for day in range(8):
        for hours, value in ((0.0, 1.0), (6.0, 0.0)):
            t = start + day * DAY_S + hours * 3600
            if t < end:
                events.append(EventRow(t, "s1", "bed-r2", "r2", "bed", value, 2 * day + int(hours > 0)))
    store.write_batch(Batch(readings=readings, events=events))


@pytest.fixture(scope="module")
def week(served: Served) -> None:
    fit_sleepers_week(served.store, time.time() - 3600)


def test_a_metric_has_a_limit_for_always_and_one_for_the_time_in_bed(served: Served) -> None:
    with served.client("clinician") as clinician, served.client("operator") as operator:
        url = URL.format("r1") + "/hr"
        always = clinician.put(url, json={"low": 38, "reason": "on a beta-blocker"})
        in_bed = clinician.put(url, params={"context": "in_bed"}, json={"low": 35, "reason": "pulse 38 asleep"})
        assert always.status_code == in_bed.status_code == 200, in_bed.text
        assert in_bed.json()["context"] == "in_bed" and always.json()["context"] == "always"
        listed = operator.get(URL.format("r1")).json()
        assert [(t["metric"], t["context"], t["low"]) for t in listed] == [("hr", "always", 38), ("hr", "in_bed", 35)]
        assert clinician.delete(url, params={"context": "in_bed"}).status_code == 204
        assert clinician.delete(url, params={"context": "in_bed"}).status_code == 404
        assert [t["context"] for t in operator.get(URL.format("r1")).json()] == ["always"]
        changes = operator.get(URL.format("r1") + "/changes").json()
        assert [(c["context"], c["threshold"] and c["threshold"]["low"]) for c in changes] == [
            ("always", 38), ("in_bed", 35), ("in_bed", None),
        ]  # fmt: skip
        refused = clinician.put(url, params={"context": "asleep"}, json={"low": 35, "reason": "pulse 38 asleep"})
        assert refused.status_code == 422 and "always" in refused.text and "in_bed" in refused.text
        assert clinician.delete(url, params={"context": "asleep"}).status_code == 422
        assert clinician.delete(url).status_code == 204


def test_the_review_suggests_a_limit_for_the_time_in_bed_and_applying_sets_it(served: Served, week: None) -> None:
    with served.client("clinician") as clinician:
        shown = clinician.get("/api/residents/r2/limit-review").json()
        assert shown["windows_in_bed"] >= 288 and shown["notes"] == []
        assert [(s["rule"], s["context"], s["suggested"]) for s in shown["thresholds"]] == [("hr_low", "in_bed", 35)]
        assert "in bed" in shown["thresholds"][0]["reason"]
        period = {"start": shown["start"], "end": shown["end"]}
        wrong = clinician.post("/api/residents/r2/limit-review/apply",
                               json={**period, "thresholds": [{"rule": "hr_low", "suggested": 35}]})  # fmt: skip
        assert wrong.status_code == 422 and "no limit for 'hr_low' (always)" in wrong.text
        applied = clinician.post("/api/residents/r2/limit-review/apply", json={
            **period, "thresholds": [{"rule": "hr_low", "context": "in_bed", "suggested": 35}]})  # fmt: skip
        assert applied.status_code == 200, applied.text
        [set_] = applied.json()["thresholds"]
        assert (set_["metric"], set_["context"], set_["low"]) == ("hr", "in_bed", 35)
        assert [(t["context"], t["low"]) for t in clinician.get(URL.format("r2")).json()] == [("in_bed", 35)]
        assert clinician.delete(URL.format("r2") + "/hr", params={"context": "in_bed"}).status_code == 204


@pytest.mark.browser
def test_the_resident_page_shows_sets_and_applies_limits_for_the_time_in_bed(
    browser: Any, served: Served, week: None
) -> None:
    page = logged_in(browser, served, "clinician")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.goto(served.url + "/residents/r2")
    page.wait_for_selector("body[data-loaded=true]", timeout=TIMEOUT_MS)
    assert page.locator("#thresholds-in-bed").is_hidden()
    form = "#threshold-form"
    page.select_option(f"{form} [name=metric]", "spo2")
    page.select_option(f"{form} [name=context]", "in_bed")
    page.fill(f"{form} [name=low]", "86")
    page.fill(f"{form} [name=reason]", "SpO2 lower asleep")
    page.click(f"{form} button[type=submit]")
    row = page.locator("#thresholds tr[data-metric=spo2][data-context=in_bed]")
    row.wait_for(timeout=TIMEOUT_MS)
    assert "In bed" in row.inner_text()
    note = page.inner_text("#thresholds-in-bed")
    assert note.startswith("While the resident is in bed (their own bed sensor says so): SpO2 Low 86.")

    page.get_by_role("button", name="Compute the review").click()
    page.wait_for_selector("#review-limits tr[data-rule=hr_low][data-context=in_bed]", timeout=TIMEOUT_MS)
    assert "in bed" in page.inner_text("#review-status")
    assert "In bed" in page.inner_text("#review-limits tr[data-rule=hr_low]")
    page.get_by_role("checkbox", name=re.compile("hr_low")).check()
    page.screenshot(path=str(ARTIFACTS / "resident-review-in-bed.png"), full_page=True)
    page.get_by_role("button", name="Apply the ticked suggestions").click()
    page.wait_for_selector("#thresholds tr[data-metric=hr][data-context=in_bed]", timeout=TIMEOUT_MS)
    assert "HR Low 35; SpO2 Low 86." in page.inner_text("#thresholds-in-bed")
    page.screenshot(path=str(ARTIFACTS / "resident-thresholds-in-bed.png"), full_page=True)

    row.get_by_role("button", name="Remove").click()
    page.wait_for_selector("#thresholds tr[data-metric=spo2]", state="detached", timeout=TIMEOUT_MS)
    assert "SpO2 (In bed): removed" in newest_change(page, "threshold-changes", "SpO2 (In bed): removed")
    assert page.errors == []
    page.context.close()
