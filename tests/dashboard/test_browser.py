"""The pages in a real browser (Debian's Chromium, headless, through Playwright) against a served dashboard: an
operator logs in and sees a tile update live, acknowledges an alert and a second operator's page shows it; a family
member sees their relative only; the resident page draws uPlot charts; the language switches to zh-CN; a clinician
documents a NEWS2 escalation and applies a settling-in review; a board whose session ends (logged out in another tab,
the user deactivated) goes to the login page, and one whose session holds keeps reconnecting; the escalated marker
survives a reload; an operator resolves with a note (kept in the alert's audit trail, shown in its history) and
snoozes for an hour (the card says until when); a clinician acknowledges with a note and is offered no resolve or
snooze. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from dashboard_support import (
    PASSWORD,
    TIMEOUT_MS,
    Served,
    escalated_alert,
    late_low_spo2,
    live_alert,
    logged_in,
    newest_change,
    settling_in_week,
)
from support import ARTIFACTS

from alerts.metrics import AlertCoreMetrics, EngineStart
from carewatch.model import AlertDraft, Batch, ReadingRow, Severity
from dashboard.deps import context_of
from dashboard.routes import live

pytestmark = pytest.mark.browser

LIVE = "#connection[data-state=open]"
PHONE = {"width": 390, "height": 844}
DIALOG = "#alert-dialog"


def refused_without_a_reason(page: Any, form: str, error: str) -> None:
    """Submit ``form`` without a reason (the browser does not send it), then with a blank one: the API refuses it
    and the page says why."""
    page.click(f"{form} button[type=submit]")
    page.fill(f"{form} [name=reason]", "   ")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{error}:not([hidden])", timeout=TIMEOUT_MS)
    assert "clinical reason" in page.inner_text(error)


def test_operator_sees_live_tiles_and_acknowledgements_reach_a_second_operator(browser: Any, served: Served) -> None:
    first = logged_in(browser, served, "operator")
    first.wait_for_function("document.querySelectorAll('.tile').length === 2", timeout=TIMEOUT_MS)
    assert first.locator("#tile-r3").count() == 0  # another site's resident
    first.wait_for_selector("#connection[data-state=open]", timeout=TIMEOUT_MS)
    served.hub.vitals_threadsafe({"r1": {"hr": [time.time(), 123.0], "spo2": [time.time(), 91.0]}})
    first.wait_for_function(
        "document.querySelector('#tile-r1 .v-hr').textContent === '123 bpm'", timeout=TIMEOUT_MS
    )  # the vitals flush reaches the tile within a second
    assert first.locator("#tile-r1[data-status=urgent]").count() == 1
    first.screenshot(path=str(ARTIFACTS / "board-operator.png"), full_page=True)

    second = logged_in(browser, served, "operator2")
    alert = f"#alert-{served.alerts['r1']}"
    second.wait_for_selector(f"{alert}[data-state=open]", timeout=TIMEOUT_MS)
    first.click(f"{alert} button:has-text('Acknowledge')")
    second.wait_for_selector(f"{alert}[data-state=acknowledged]", timeout=TIMEOUT_MS)
    assert "operator" in second.inner_text(alert)
    second.screenshot(path=str(ARTIFACTS / "board-second-operator-sees-ack.png"), full_page=True)
    assert first.errors == [] and second.errors == []
    first.context.close()
    second.context.close()


def test_family_sees_only_their_relative(browser: Any, served: Served) -> None:
    page = logged_in(browser, served, "family")
    page.wait_for_url("**/family")
    page.wait_for_selector("#relative-r1", timeout=TIMEOUT_MS)
    assert page.locator(".relative").count() == 1
    assert "Wang Fang" in page.inner_text("#relatives")
    for other in ("Zhao Lei", "Li Wei"):
        assert other not in page.content()
    page.screenshot(path=str(ARTIFACTS / "family.png"), full_page=True)
    assert page.locator("nav a[href='/reports']").count() == 0  # reports are the care team's
    page.goto(served.url + "/residents/r3")  # another resident's page: the API answers 404, the page says so
    page.wait_for_selector("#not-found", timeout=TIMEOUT_MS)
    assert page.inner_text("#not-found").startswith("Resident not found")
    assert "Li Wei" not in page.content()
    assert page.errors == []
    page.context.close()


def test_resident_page_charts_and_chinese(browser: Any, served: Served) -> None:
    page = logged_in(browser, served, "clinician", lang="zh-CN")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    assert "实时看板" in page.inner_text("header")
    page.screenshot(path=str(ARTIFACTS / "board-zh-CN.png"), full_page=True)
    page.goto(served.url + "/residents/r1")
    page.wait_for_selector("body[data-loaded=true]", timeout=TIMEOUT_MS)
    assert page.locator(".chart .uplot").count() == 5  # HR, SpO2, RR, BP, temperature
    assert page.locator("#threshold-form").is_visible()  # a clinician sets thresholds
    page.select_option("#lang", "en")
    page.wait_for_selector("body[data-loaded=true]", timeout=TIMEOUT_MS)
    assert "Alert history" in page.inner_text("main")
    page.click("button[data-view='24h']")
    page.wait_for_selector("button[data-view='24h'].here", timeout=TIMEOUT_MS)
    page.screenshot(path=str(ARTIFACTS / "resident.png"), full_page=True)
    assert page.errors == []
    page.context.close()


def test_a_lone_bucket_of_readings_is_drawn(browser: Any, served: Served) -> None:
    """One respiratory rate three days ago is one bucket of the 30-day view, with no neighbour to draw a line to: it
    is drawn as a point, in the mean's colour (the chart has nothing else of that colour)."""
    rr = ReadingRow(time.time() - 3 * 86_400, "s1", "w-r1", "r1", "rr", 16.0, 99_999, False)
    served.store.write_batch(Batch(readings=[rr]))
    page = logged_in(browser, served, "operator")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.goto(served.url + "/residents/r1")
    page.wait_for_selector("body[data-loaded=true]", timeout=TIMEOUT_MS)
    before = page.wait_for_selector("#chart-rr canvas", timeout=TIMEOUT_MS)  # the 24-hour chart: empty
    page.click("button[data-view='30d']")
    page.wait_for_function("old => !old.isConnected", arg=before, timeout=TIMEOUT_MS)  # replaced by the 30-day one
    mean_pixels = """() => {
        const canvas = document.querySelector('#chart-rr canvas');
        const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        let n = 0;
        for (let i = 0; i < data.length; i += 4) {
            if (Math.abs(data[i] - 0x12) + Math.abs(data[i + 1] - 0x32) + Math.abs(data[i + 2] - 0x4a) < 12) n++;
        }
        return n;
    }"""
    assert page.evaluate(mean_pixels) > 4
    assert page.errors == []
    page.context.close()


def test_admin_site_filter_admin_and_system_pages(browser: Any, served: Served) -> None:
    page = logged_in(browser, served, "admin")
    page.wait_for_function("document.querySelectorAll('.tile').length === 3", timeout=TIMEOUT_MS)
    page.select_option("#site", "s2")  # an admin sees both sites and may narrow the board to one
    page.wait_for_function("document.querySelectorAll('.tile').length === 1", timeout=TIMEOUT_MS)
    assert page.locator("#tile-r3").count() == 1
    assert page.locator("#alerts .alert").count() == 1
    assert page.inner_text("#counts") == "1 resident · 1 live alert"  # the site's, as the feed and the tiles
    page.goto(served.url + "/admin")
    page.wait_for_function("document.querySelectorAll('#users tbody tr').length >= 4", timeout=TIMEOUT_MS)
    page.wait_for_selector("#policy-form [name=site_id] option[value=s1]", state="attached", timeout=TIMEOUT_MS)
    page.select_option("#policy-form [name=site_id]", "s1")
    page.wait_for_selector("#policy-form[data-loaded='s1/urgent']", state="attached", timeout=TIMEOUT_MS)
    page.fill("#policy-form [name=steps]", "5:on_call, 15:family")
    page.click("#policy-form button[type=submit]")
    page.wait_for_function("document.querySelector('#policy-form [name=steps]').value === '5:on_call, 15:family'")
    with served.client("operator") as client:  # what the admin set is what the care team reads
        policy = client.get("/api/sites/s1/escalation-policies/urgent").json()
    assert policy["configured"] and [(s["after_minutes"], s["target"]) for s in policy["steps"]] == [
        (5, "on_call"), (15, "family"),
    ]  # fmt: skip
    page.select_option("#shift-form [name=site_id]", "s1")  # the rota: add a shift, see it listed, remove it
    page.wait_for_selector("#shifts[data-loaded=s1]", state="attached", timeout=TIMEOUT_MS)
    page.fill("#shift-form [name=contact_id]", "c1")
    page.fill("#shift-form [name=starts_at]", "2096-01-01T08:00")
    page.fill("#shift-form [name=ends_at]", "2096-01-01T20:00")
    page.click("#shift-form button[type=submit]")
    c1_rows = "[...document.querySelectorAll('#shifts tbody tr')].filter((r) => r.cells[0].textContent === 'c1')"
    page.wait_for_function(f"{c1_rows}.length === 1", timeout=TIMEOUT_MS)
    with served.client("operator") as client:
        [shift] = [s for s in client.get("/api/sites/s1/on-call/shifts").json() if s["contact_id"] == "c1"]
    assert shift["ends_at"] - shift["starts_at"] == 12 * 3600
    page.screenshot(path=str(ARTIFACTS / "admin.png"), full_page=True)
    page.click("#shifts tbody tr:has(td:text-is('c1')) button")
    page.wait_for_function(f"{c1_rows}.length === 0", timeout=TIMEOUT_MS)
    with served.client("operator") as client:
        assert [s for s in client.get("/api/sites/s1/on-call/shifts").json() if s["contact_id"] == "c1"] == []
    page.goto(served.url + "/system")
    page.wait_for_selector("#fig-storage", timeout=TIMEOUT_MS)
    assert page.inner_text("#fig-storage") == "sqlite"
    assert page.inner_text("#fig-sensor_off_total") == "0"
    assert page.inner_text("#fig-alert_start") == "\u2013"  # (an en dash) no alert core in this process
    alert_core = AlertCoreMetrics(context_of(served.app).metrics_registry)
    starts: tuple[tuple[EngineStart, float, str], ...] = (
        ("rebuilt", 31.84, "rebuilt its state from stored data, in 31.8 s"),
        ("resumed", 0.04, "took up the state saved at the last stop, in 0.04 s"),
        ("recovered", 2.31, "took up the state saved last while running and replayed what came since, in 2.3 s"),
    )
    for how, seconds, shown in starts:
        alert_core.started(how)
        alert_core.start_seconds.set(seconds)
        page.wait_for_function(f"document.querySelector('#fig-alert_start').textContent === {shown!r}",
                               timeout=TIMEOUT_MS)  # fmt: skip
    page.screenshot(path=str(ARTIFACTS / "system.png"), full_page=True)
    assert page.errors == []
    page.context.close()


def test_a_clinician_documents_a_news2_escalation_on_the_resident_page(browser: Any, served: Served) -> None:
    with served.client("clinician") as client:
        client.delete("/api/residents/r2/news2-escalation")  # whatever an earlier test left
    page = logged_in(browser, served, "clinician")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.goto(served.url + "/residents/r2")
    page.wait_for_selector("#news2-section[data-specific=false]", timeout=TIMEOUT_MS)
    assert "Urgent from 5, emergency from 7; a single 3 alerts." in page.inner_text("#news2-levels")
    form = "#news2-form"
    page.fill(f"{form} [name=urgent_from]", "7")
    page.fill(f"{form} [name=emergency_from]", "9")
    page.uncheck(f"{form} [name=red_score]")
    refused_without_a_reason(page, form, "#news2-error")
    with served.client("operator") as client:
        assert client.get("/api/residents/r2/news2-escalation").json()["resident_specific"] is False
    page.fill(f"{form} [name=reason]", "COPD on home oxygen, baseline 5")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#news2-section[data-specific=true]", timeout=TIMEOUT_MS)
    assert page.locator("#news2-error").is_hidden()
    assert "Urgent from 7, emergency from 9; a single 3 does not alert by itself." in page.inner_text("#news2-levels")
    assert "Set by clinician" in page.inner_text("#news2-documented")
    assert "COPD on home oxygen, baseline 5" in page.inner_text("#news2-documented")
    last = newest_change(page, "news2-changes", "COPD on home oxygen, baseline 5")  # the audit trail, newest last
    assert "clinician" in last and "COPD on home oxygen, baseline 5" in last
    page.screenshot(path=str(ARTIFACTS / "resident-news2-escalation.png"), full_page=True)
    with served.client("operator") as client:  # what the clinician set is what the care team reads
        got = client.get("/api/residents/r2/news2-escalation").json()
    assert (got["urgent_from"], got["emergency_from"], got["red_score"], got["set_by"]) == (7, 9, False, "clinician")

    operator = logged_in(browser, served, "operator")  # reads it, cannot change it
    operator.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    operator.goto(served.url + "/residents/r2")
    operator.wait_for_selector("#news2-section[data-specific=true]", timeout=TIMEOUT_MS)
    assert operator.locator("#news2-form").is_hidden()
    assert "COPD on home oxygen" in operator.inner_text("#news2-documented")

    page.click(f"{form} button[name=revert]")  # back to the RCP's levels
    page.wait_for_selector("#news2-section[data-specific=false]", timeout=TIMEOUT_MS)
    assert "Urgent from 5, emergency from 7" in page.inner_text("#news2-levels")
    assert page.errors == [] and operator.errors == []
    page.context.close()
    operator.context.close()


def test_a_clinician_sets_a_threshold_with_its_reason_and_sees_its_changes(browser: Any, served: Served) -> None:
    with served.client("clinician") as client:
        for metric in ("spo2", "hr", "rr", "sbp", "temp"):  # whatever an earlier test left
            client.delete(f"/api/residents/r1/thresholds/{metric}")
        before = len(client.get("/api/residents/r1/thresholds/changes").json())
    page = logged_in(browser, served, "clinician")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.goto(served.url + "/residents/r1")
    page.wait_for_selector("body[data-loaded=true]", timeout=TIMEOUT_MS)
    assert page.inner_text("#threshold-changes summary") == f"Changes ({before})"
    form = "#threshold-form"
    page.select_option(f"{form} [name=metric]", "spo2")
    page.fill(f"{form} [name=low]", "88")
    refused_without_a_reason(page, form, "#threshold-error")
    with served.client("operator") as client:
        assert client.get("/api/residents/r1/thresholds").json() == []
    assert page.input_value(f"{form} [name=low]") == "88"  # what the clinician typed stays for them to fix
    page.fill(f"{form} [name=reason]", "COPD, usual SpO2 88-92 % at rest")
    page.click(f"{form} button[type=submit]")
    row = page.locator("#thresholds tr[data-metric=spo2]")
    row.wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#threshold-error").is_hidden()
    why = page.inner_text("#thresholds tr[data-reason-of=spo2]")  # the reason, who and when, under the limits
    assert why.startswith("COPD, usual SpO2 88-92 % at rest (clinician · ")
    page.wait_for_function(
        f"document.querySelector('#threshold-changes summary').textContent === 'Changes ({before + 1})'",
        timeout=TIMEOUT_MS,
    )
    page.click("#threshold-changes summary")
    last = page.locator("#threshold-changes li").last
    assert "clinician" in last.inner_text()
    assert "SpO2: low 88, high \N{EN DASH}: COPD, usual SpO2 88-92 % at rest" in last.inner_text()
    page.screenshot(path=str(ARTIFACTS / "resident-threshold-reason.png"), full_page=True)

    operator = logged_in(browser, served, "operator")  # reads the reason and the trail, cannot set
    operator.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    operator.goto(served.url + "/residents/r1")
    operator.wait_for_selector("#thresholds tr[data-metric=spo2]", timeout=TIMEOUT_MS)
    assert "COPD, usual SpO2 88-92 % at rest" in operator.inner_text("#thresholds")
    assert operator.locator(form).is_hidden() and operator.locator("#threshold-changes").is_visible()

    row.get_by_role("button", name="Remove").click()
    page.wait_for_selector("#thresholds tr[data-metric=spo2]", state="detached", timeout=TIMEOUT_MS)
    page.wait_for_function(
        f"document.querySelector('#threshold-changes summary').textContent === 'Changes ({before + 2})'",
        timeout=TIMEOUT_MS,
    )
    assert "SpO2: removed (back to the default)" in page.locator("#threshold-changes li").last.inner_text()
    assert page.errors == [] and operator.errors == []
    page.context.close()
    operator.context.close()


def test_a_clinician_applies_the_settling_in_review_on_the_resident_page(browser: Any, served: Served) -> None:
    end = time.time() - 3600
    settling_in_week(served.store, "r2", "s1", end)  # a COPD resident's first week
    with served.client("clinician") as client:  # whatever an earlier test left
        for metric in ("spo2", "rr"):
            client.delete(f"/api/residents/r2/thresholds/{metric}")
        client.delete("/api/residents/r2/news2-escalation")
    page = logged_in(browser, served, "clinician")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.goto(served.url + "/residents/r2")
    page.wait_for_selector("#news2-section[data-specific=false]", timeout=TIMEOUT_MS)
    assert page.locator("#thresholds tbody tr[data-metric]").count() == 0
    page.get_by_role("button", name="Compute the review").click()
    page.wait_for_selector("#review-limits tr[data-rule=spo2_low]", timeout=TIMEOUT_MS)
    assert "5-minute windows of readings at rest" in page.inner_text("#review-status")
    spo2 = page.inner_text("#review-limits tr[data-rule=spo2_low]")
    assert "90 %" in spo2 and "86 %" in spo2  # the default, the resident's usual
    assert "a single 3 does not alert by itself" in page.inner_text("#review-news2")
    apply = page.get_by_role("button", name="Apply the ticked suggestions")
    assert apply.is_disabled()  # nothing ticked yet

    def tick() -> None:
        page.get_by_role("checkbox", name=re.compile("spo2_low")).check()  # each box is named by its rule
        page.get_by_role("checkbox", name=re.compile("rr_high")).check()
        page.check("#review-news2 [name=news2]")

    tick()
    page.screenshot(path=str(ARTIFACTS / "resident-settling-in-review.png"), full_page=True)
    late_low_spo2(served.store, "r2", "s1", end)  # readings arrive late for the period shown
    apply.click()  # the review changed: refused, the page says so, nothing is set
    page.wait_for_selector("#review-error:not([hidden])", timeout=TIMEOUT_MS)
    assert "compute it again" in page.inner_text("#review-error")
    assert page.locator("#thresholds tbody tr[data-metric]").count() == 0
    page.get_by_role("button", name="Compute the review").click()
    page.wait_for_selector("#review-error", state="hidden", timeout=TIMEOUT_MS)
    page.wait_for_selector("#review-limits tr[data-rule=spo2_low][data-bound=true]", timeout=TIMEOUT_MS)
    tick()
    apply.click()
    page.wait_for_selector("#news2-section[data-specific=true]", timeout=TIMEOUT_MS)
    page.wait_for_function(
        "document.querySelectorAll('#thresholds tbody tr[data-metric]').length === 2", timeout=TIMEOUT_MS
    )
    assert "Set 2 limits and the NEWS2 escalation" in page.inner_text("#review-status")
    assert page.locator("#review-choices").is_hidden()
    with served.client("operator") as client:  # what the clinician accepted is what the care team reads
        review = client.get("/api/residents/r2/thresholds").json()
        escalation = client.get("/api/residents/r2/news2-escalation").json()
    limits = {t["metric"]: (t["low"], t["high"]) for t in review}
    assert set(limits) == {"spo2", "rr"} and limits["spo2"][0] < 86 and limits["rr"][1] > 25
    shown = page.inner_text("#thresholds")
    assert str(round(limits["spo2"][0])) in shown and str(round(limits["rr"][1])) in shown
    assert "spo2_low: SpO2 at rest" in shown and "settling-in review" in shown  # the review's reasons, documented
    assert "settling-in review" in page.inner_text("#news2-documented") and escalation["set_by"] == "clinician"
    assert f"Urgent from {escalation['urgent_from']}, emergency from {escalation['emergency_from']}" in page.inner_text(
        "#news2-levels"
    )
    page.screenshot(path=str(ARTIFACTS / "resident-settling-in-review-applied.png"), full_page=True)

    operator = logged_in(browser, served, "operator")  # may not set thresholds: no review section
    operator.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    operator.goto(served.url + "/residents/r2")
    operator.wait_for_selector("body[data-loaded=true]", timeout=TIMEOUT_MS)
    assert operator.locator("#review-section").is_hidden()
    assert page.errors == [] and operator.errors == []
    page.context.close()
    operator.context.close()


def test_logging_out_sends_the_sessions_other_tabs_to_the_login_page(browser: Any, served: Served) -> None:
    tab = logged_in(browser, served, "operator")
    tab.wait_for_selector(LIVE, timeout=TIMEOUT_MS)
    other_tab = tab.context.new_page()  # the same browser: the same session cookie
    other_tab.goto(served.url + "/")
    other_device = logged_in(browser, served, "operator")  # the same user's other session
    for page in (other_tab, other_device):
        page.wait_for_selector(LIVE, timeout=TIMEOUT_MS)
    tab.click("#logout")
    tab.wait_for_url(re.compile(r"/login($|\?)"), timeout=TIMEOUT_MS)  # by the button, or its socket closing first
    other_tab.wait_for_url("**/login?next=%2F", timeout=TIMEOUT_MS)  # its socket closed at once: no live data
    assert other_device.url == served.url + "/" and other_device.locator(LIVE).count() == 1
    assert other_device.evaluate("window.carewatchStats.connects") == 1  # never dropped
    assert tab.errors == [] and other_device.errors == []
    tab.context.close()
    other_device.context.close()


def test_a_deactivated_users_board_goes_to_the_login_page(browser: Any, served: Served) -> None:
    with served.client("admin") as admin:
        created = admin.post("/api/users", json={
            "username": "evening", "display_name": "Evening shift", "role": "operator", "password": PASSWORD,
            "site_ids": ["s1"],
        })  # fmt: skip
        assert created.status_code == 201, created.text
        page = logged_in(browser, served, "evening")
        page.wait_for_selector(LIVE, timeout=TIMEOUT_MS)
        assert admin.patch("/api/users/evening", json={"active": False}).status_code == 200
    page.wait_for_url("**/login?next=%2F", timeout=TIMEOUT_MS)  # the reconnect was refused and the session is over
    assert page.errors == []
    page.context.close()


def test_a_wrong_resident_address_says_not_found(browser: Any, served: Served) -> None:
    page = logged_in(browser, served, "operator", lang="zh-CN")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.goto(served.url + "/residents/nosuch")
    page.wait_for_selector("#not-found", timeout=TIMEOUT_MS)
    assert page.inner_text("#not-found").startswith("未找到该长者")
    assert page.errors == []
    page.context.close()


def test_a_board_whose_reconnect_is_refused_keeps_trying_while_its_session_holds(
    browser: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = logged_in(browser, served, "operator2")
    page.wait_for_selector(LIVE, timeout=TIMEOUT_MS)
    refused: list[str] = []

    async def refuse(websocket: Any) -> None:
        refused.append(websocket.url.path)

    monkeypatch.setattr(live, "_authenticate", refuse)  # handshakes refused (HTTP 403), as for an ended session
    served.on_loop(lambda: served.hub.drop_user("operator2"))
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while len(refused) < 2 and time.monotonic() < deadline:  # refused, asked the API, tried again
        page.wait_for_timeout(50)
    assert len(refused) >= 2
    monkeypatch.undo()
    page.wait_for_function("window.carewatchStats.connects === 2", timeout=TIMEOUT_MS)
    assert page.url == served.url + "/" and page.locator(LIVE).count() == 1
    assert page.errors == []
    page.context.close()


def test_the_care_team_finds_the_reports_page_in_the_header_in_their_language(browser: Any, served: Served) -> None:
    page = logged_in(browser, served, "clinician", lang="zh-CN")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.click("nav a[href='/reports']")
    page.wait_for_selector("#figures .figure", timeout=TIMEOUT_MS)
    assert page.title() == "carewatch · 服务报告"
    assert "服务报告" in page.inner_text("header") and "覆盖长者" in page.inner_text("#figures")
    assert not re.search(r"\b(?:nav|page|report)\.\w", page.inner_text("body"))  # no key in place of its text
    page.screenshot(path=str(ARTIFACTS / "report-zh-CN.png"), full_page=True)
    assert page.errors == []
    page.context.close()


def test_the_escalated_marker_survives_a_reload(browser: Any, served: Served) -> None:
    alert = f"#alert-{escalated_alert(served)}"
    page = logged_in(browser, served, "operator")
    page.wait_for_selector(f"{alert} .escalated", timeout=TIMEOUT_MS)
    page.reload()
    page.wait_for_selector(f"{alert} .escalated", timeout=TIMEOUT_MS)
    assert "escalated" in page.inner_text(f"{alert} .escalated")
    page.click(f"{alert} button:has-text('Acknowledge')")  # a change of the alert keeps the marker
    page.wait_for_selector(f"{alert}[data-state=acknowledged] .escalated", timeout=TIMEOUT_MS)
    page.screenshot(path=str(ARTIFACTS / "board-escalated.png"), full_page=True)
    assert page.errors == []
    page.context.close()


def test_report_days_are_the_viewers_local_days(browser: Any, served: Served) -> None:
    """In Pago Pago (UTC-11) the evening of 15 June is 16 June in UTC. The resident page shows an alert of that evening
    on the 15th; the report of the 15th counts it, and the period the page shows first ends on the local today."""
    zone = ZoneInfo("Pacific/Pago_Pago")
    opened = datetime(2026, 6, 15, 20, 0, tzinfo=zone).timestamp()
    evidence = {"metric": "hr", "readings": [[opened - 60, 131.0]]}
    alert = served.store.raise_alert(
        AlertDraft("r3", "s2", "hr_high", Severity.WARNING, opened, "Pulse high", "HR 131 bpm for 5 min", evidence)
    )
    assert alert is not None
    served.store.resolve_alert(alert.alert_id, "system", opened + 600)
    page = logged_in(browser, served, "admin", timezone="Pacific/Pago_Pago")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.clock.set_fixed_time(datetime(2026, 6, 15, 21, 0, tzinfo=zone))
    page.goto(served.url + "/residents/r3")
    shown = page.locator(f"#alert-{alert.alert_id}")
    shown.wait_for(timeout=TIMEOUT_MS)
    assert "6/15/2026, 8:00:00 PM" in shown.inner_text()
    assert "1 reading behind this alert" in shown.inner_text()  # one, not "1 readings"

    page.goto(served.url + "/reports?site_id=s2")
    page.wait_for_selector("#figures .figure", timeout=TIMEOUT_MS)
    assert (page.input_value("#start"), page.input_value("#end")) == ("2026-06-09", "2026-06-15")  # a week to today
    page.fill("#start", "2026-06-15")
    with page.expect_response(lambda response: "/api/reports/service" in response.url) as asked:
        page.click("#period button[type=submit]")
    period = {k: float(v) for k, [v] in parse_qs(urlsplit(asked.value.url).query).items() if k in ("start", "end")}
    midnight = datetime(2026, 6, 15, tzinfo=zone).timestamp()
    assert period == {"start": midnight, "end": midnight + 86_400}  # the local day, midnight to midnight
    page.wait_for_function("document.getElementById('status').textContent === ''", timeout=TIMEOUT_MS)
    alerts = page.locator(".figure").filter(has=page.get_by_text("alerts", exact=True))
    assert alerts.locator("b").inner_text() == "1"
    assert page.errors == []
    page.context.close()


def test_pages_fit_a_phone(browser: Any, served: Served) -> None:
    page = logged_in(browser, served, "admin")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.set_viewport_size(PHONE)
    pages = (
        ("/", ".tile"), ("/residents/r1", "body[data-loaded=true]"), ("/reports", "#figures .figure"),
        ("/system", "#fig-storage"), ("/admin", "#users tbody tr"),
    )  # fmt: skip
    for path, ready in pages:
        page.goto(served.url + path)
        page.wait_for_selector(ready, timeout=TIMEOUT_MS)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide"
    last = page.locator("#users tbody tr button").last  # a wide table scrolls in its section to its buttons
    last.scroll_into_view_if_needed()
    box = last.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    page.screenshot(path=str(ARTIFACTS / "admin-phone.png"), full_page=True)
    assert page.errors == []
    page.context.close()


def card_buttons(page: Any, card: str) -> list[str]:
    buttons: list[str] = page.locator(f"{card} button").all_inner_texts()
    return buttons


def in_words(epoch: float, zone: str) -> str:
    """A time as the pages show it in English (toLocaleString("en")) in the browser's time zone."""
    d = datetime.fromtimestamp(epoch, ZoneInfo(zone))
    return f"{d.month}/{d.day}/{d.year}, {d.hour % 12 or 12}:{d:%M:%S} {'AM' if d.hour < 12 else 'PM'}"


def test_an_operator_resolves_with_a_note_that_the_alerts_history_shows(browser: Any, served: Served) -> None:
    alert_id, note = live_alert(served, "r2", "fall", "Fall detected"), "Called the daughter, resident fine"
    card = f"#alert-{alert_id}"
    page = logged_in(browser, served, "operator")
    page.wait_for_selector(card, timeout=TIMEOUT_MS)
    page.click(f"{card} button:has-text('Resolve…')")
    assert page.inner_text(f"{DIALOG} h2") == "Resolve: Zhao Lei · Fall detected"
    page.click(f"{DIALOG} button[type=submit]")  # without a note: the dialog asks what was done, and stays
    assert page.evaluate(f"document.querySelector('{DIALOG} [name=note]').validity.valueMissing")
    page.fill(f"{DIALOG} [name=note]", note)
    page.screenshot(path=str(ARTIFACTS / "board-resolve-with-note.png"), full_page=True)
    page.click(f"{DIALOG} button[type=submit]")
    page.wait_for_selector(card, state="detached", timeout=TIMEOUT_MS)  # resolved: off the board
    assert page.locator(DIALOG).count() == 0
    resolved = served.store.transitions(alert_id)[-1]  # the stored audit trail
    assert (resolved.to_state, resolved.actor, resolved.note) == ("resolved", "operator", note)

    page.goto(served.url + "/residents/r2")  # the alert's history shows who resolved it, and what was done
    page.click(f"{card} .trail summary")
    page.wait_for_selector(f"{card} .trail li >> nth=1", timeout=TIMEOUT_MS)
    trail = page.locator(f"{card} .trail li").all_inner_texts()
    assert trail[0].endswith(" · system · opened: Fall detected (test)")
    assert trail[-1].endswith(f" · operator · resolved: {note}") and len(trail) == 2
    page.screenshot(path=str(ARTIFACTS / "resident-alert-trail.png"), full_page=True)
    assert page.errors == []
    page.context.close()


def test_an_operator_snoozes_an_alert_for_an_hour_with_a_note(browser: Any, served: Served) -> None:
    alert_id, note = live_alert(served, "r2", "bathroom_long", "Long in the bathroom"), "She answered, taking a bath"
    card, zone = f"#alert-{alert_id}", "Asia/Shanghai"
    page = logged_in(browser, served, "operator", timezone=zone)
    other = logged_in(browser, served, "operator2")  # another operator's board
    for board in (page, other):
        board.wait_for_selector(f"{card}[data-state=open]", timeout=TIMEOUT_MS)
        board.wait_for_selector(LIVE, timeout=TIMEOUT_MS)
    assert card_buttons(page, card) == ["Acknowledge", "With a note…", "Resolve…", "Snooze…"]
    assert page.locator(f"{card} .snoozed").count() == 0
    page.click(f"{card} button:has-text('Snooze…')")
    page.get_by_label("1 hour").check()
    page.fill(f"{DIALOG} [name=note]", note)
    with page.expect_response(f"**/api/alerts/{alert_id}/snooze") as answered:
        page.click(f"{DIALOG} button[type=submit]")
    until = answered.value.json()["snoozed_until"]
    assert until == pytest.approx(time.time() + 3600, abs=60)
    shown = f"Snoozed until {in_words(until, zone)}: escalation waits"  # in the operator's local time
    page.wait_for_selector(f"{card} .snoozed", timeout=TIMEOUT_MS)
    assert page.inner_text(f"{card} .snoozed") == shown and page.locator(DIALOG).count() == 0
    assert page.locator(f"{card}[data-state=open]").count() == 1  # a snooze keeps the state
    other.wait_for_selector(f"{card} .snoozed", timeout=TIMEOUT_MS)  # told live
    page.screenshot(path=str(ARTIFACTS / "board-snoozed.png"), full_page=True)
    with served.client("operator") as client:
        detail = client.get(f"/api/alerts/{alert_id}").json()
    assert detail["snoozed_until"] == until and detail["state"] == "open"
    assert (detail["transitions"][-1]["actor"], detail["transitions"][-1]["note"]) == ("operator", note)
    page.reload()  # an operator coming on shift sees it
    page.wait_for_selector(f"{card} .snoozed", timeout=TIMEOUT_MS)
    assert page.inner_text(f"{card} .snoozed") == shown
    assert page.errors == [] and other.errors == []
    page.context.close()
    other.context.close()


def test_a_clinician_acknowledges_with_a_note_and_is_offered_no_resolve_or_snooze(browser: Any, served: Served) -> None:
    alert_id, note = live_alert(served, "r2", "no_activity", "No activity"), "On my round: asleep, breathing easily"
    card = f"#alert-{alert_id}"
    page = logged_in(browser, served, "clinician")
    page.wait_for_selector(card, timeout=TIMEOUT_MS)
    assert card_buttons(page, card) == ["Acknowledge", "With a note…"]  # resolving and snoozing are the station's
    page.click(f"{card} button:has-text('With a note…')")
    assert page.inner_text(f"{DIALOG} h2") == "Acknowledge: Zhao Lei · No activity"
    assert page.locator(f"{DIALOG} [name=minutes]").count() == 0  # no snooze here
    page.fill(f"{DIALOG} [name=note]", note)
    page.click(f"{DIALOG} button[type=submit]")
    page.wait_for_selector(f"{card}[data-state=acknowledged]", timeout=TIMEOUT_MS)
    assert card_buttons(page, card) == []
    acknowledged = served.store.transitions(alert_id)[-1]
    assert (acknowledged.to_state, acknowledged.actor, acknowledged.note) == ("acknowledged", "clinician", note)
    page.goto(served.url + "/residents/r2")  # nor on the resident page
    page.wait_for_selector("body[data-loaded=true]", timeout=TIMEOUT_MS)
    assert page.locator("#history button:has-text('Resolve…'), #history button:has-text('Snooze…')").count() == 0
    assert page.errors == []
    page.context.close()


def test_the_board_lists_the_newest_raised_alert_first_within_a_severity(browser: Any, served: Served) -> None:
    """A gateway's backlog two days old raises an alert now: it is the newest for the operator to see, listed above
    an alert whose condition began later but that was raised before it (the review: it sank to the bottom)."""
    now = time.time()
    draft = AlertDraft(
        "r1", "s1", "bathroom_long", Severity.WARNING, now - 600, "In the bathroom long", "In the bathroom 60 min", {}
    )
    for resident in ("r1", "r2"):  # an alert of the rule that another test left live: one live per resident and rule
        served.store.resolve_live(resident, draft.rule, "system", now - 700, "")
    earlier = served.store.raise_alert(draft, raised_at=now - 600)
    backlog = replace(draft, resident_id="r2", opened_at=now - 2 * 86_400)
    later = served.store.raise_alert(backlog, raised_at=now - 60)
    assert earlier is not None and later is not None
    page = logged_in(browser, served, "operator")
    page.wait_for_selector(f"#alert-{later.alert_id}", timeout=TIMEOUT_MS)
    order = page.eval_on_selector_all("#alerts .alert", "items => items.map((i) => i.id)")
    assert order.index(f"alert-{later.alert_id}") < order.index(f"alert-{earlier.alert_id}"), order
    assert "2 days ago" in page.inner_text(f"#alert-{later.alert_id}")
    assert page.errors == []
    page.context.close()
