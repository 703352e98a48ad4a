"""Reports: the service report's figures on known data (both backends), the weekly family digest, and the API: the
report as JSON and as a page, the snooze endpoint, each behind the dashboard's roles."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_support import Served, seed, serve

from alerts.reports import digest_text, send_weekly_digests, service_report
from carewatch.model import AlertState
from carewatch.storage.base import DeliveryAttempt, EscalationStage
from carewatch.storage.sql import reports as reports_sql
from carewatch.storage.sqlite import SqliteStore
from dashboard.auth import AuthConfig


def test_the_service_report_counts_what_happened(harness: Any) -> None:
    t0, lifecycle, clock = harness.T0, harness.lifecycle, harness.clock
    acked_after = [60, 120, 180, 240, 1200]
    for i, delay in enumerate(acked_after):  # five episodes of r1, acknowledged after the delays
        at = t0 + i * 10_000
        [alert] = lifecycle.apply([harness.draft(at)], [])
        lifecycle.acknowledge(alert.alert_id, "operator:zhang", at + delay)
        lifecycle.resolve(alert.alert_id, "operator:zhang", at + delay + 10)
    [open_one] = lifecycle.apply([harness.draft(t0 + 60_000, resident="r2")], [])
    clock.now = t0 + 60_000 + 600
    harness.escalator.run_due()  # r2's alert, unacknowledged: reminders and the on-call clinician
    harness.settle()

    report = service_report(harness.store, "s1", t0 - 1, t0 + 70_000)
    assert report["residents_covered"] == 2 and report["residents_with_alerts"] == 2
    alerts = report["alerts"]
    assert alerts["total"] == 6 and alerts["by_rule"] == {"spo2_low": 6} and alerts["by_severity"] == {"urgent": 6}
    assert alerts["acknowledged"] == 5 and alerts["still_open"] == 1
    ack = report["time_to_acknowledge_s"]
    assert ack == {"count": 5, "median": 180.0, "p90": pytest.approx(816.0)}  # numpy's linear percentile
    assert report["escalations"] == {"total": 3, "alerts_escalated": 1, "by_target": {"on_call": 1, "operators": 2}}
    by_channel = report["deliveries"]["by_channel"]
    assert by_channel["websocket"] == {"delivered": 2} and by_channel["email"]["delivered"] >= 1
    assert service_report(harness.store, "s1", t0 + 100_000, t0 + 200_000)["alerts"]["total"] == 0
    assert open_one.state is AlertState.OPEN


def test_the_service_report_counts_every_row_past_a_page(harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The delays are read in pages (a page of 3 here, DELAY_PAGE_ROWS in production) and the counts are made in
    SQL: 10 alerts, attempts and stages all count, the newest too, and the median is of all 10 delays."""
    monkeypatch.setattr(reports_sql, "DELAY_PAGE_ROWS", 3)
    t0, store = harness.T0, harness.store
    delays = [60.0 * (i + 1) for i in range(10)]
    for i, delay in enumerate(delays):
        alert = store.raise_alert(harness.draft(t0 + i * 1000, resident=("r1", "r2")[i % 2]))
        assert alert is not None
        store.plan_escalation(alert.alert_id, [EscalationStage(alert.alert_id, 1, "operators", t0 + i * 1000 + 1)])
        assert store.claim_escalation(alert.alert_id, 1, t0 + i * 1000 + 1)
        store.acknowledge_alert(alert.alert_id, "operator:zhang", t0 + i * 1000 + delay)
        if i < 9:
            store.resolve_alert(alert.alert_id, "system", t0 + i * 1000 + 900)
        store.record_deliveries(
            [DeliveryAttempt(t0 + i * 1000, "s1", alert.alert_id, "op1", "webhook", "http://x", "raised", f"k{i}",
                             1, "delivered" if i % 5 else "retry")]
        )  # fmt: skip
    end = DeliveryAttempt(t0, "s1", alert.alert_id, "fam", "webhook", "http://f", "resolved", "end", 0, "deferred")
    store.record_deliveries([end, replace(end, at=t0 + 1, status="superseded")])  # never sent: no attempt
    report = service_report(store, "s1", t0, t0 + 10_000)
    alerts = report["alerts"]
    assert alerts["total"] == 10 and alerts["acknowledged"] == 10 and alerts["by_rule"] == {"spo2_low": 10}
    assert alerts["resolved_automatically"] == 9 and alerts["still_open"] == 1  # the newest
    assert report["residents_with_alerts"] == 2
    assert report["time_to_acknowledge_s"] == {"count": 10, "median": 330.0, "p90": pytest.approx(546.0)}
    assert report["escalations"] == {"total": 10, "alerts_escalated": 10, "by_target": {"operators": 10}}
    assert report["deliveries"] == {
        "attempts": 10, "by_channel": {"webhook": {"deferred": 1, "delivered": 8, "retry": 2, "superseded": 1}}
    }  # fmt: skip


def test_the_weekly_digest_goes_to_each_family_contact(harness: Any) -> None:
    t0 = harness.T0
    [alert] = harness.lifecycle.apply([harness.draft(t0)], [])
    harness.lifecycle.acknowledge(alert.alert_id, "operator:zhang", t0 + 90)
    harness.settle()
    queued = send_weekly_digests(harness.store, harness.dispatcher, t0 + 86_400)
    harness.settle()
    digests = [m for c in harness.channels.values() for m in c.sent if m.kind == "digest"]
    assert queued == len(digests) == 3  # fam1 by e-mail and MQTT, fam2 by MQTT
    [fam1] = [m for m in digests if m.contact_id == "fam1" and m.channel == "email"]
    [relative] = fam1.payload["relatives"]
    assert relative["name"] == "Wang Fang" and relative["alerts"] == 1
    assert relative["time_to_acknowledge_s"]["median"] == 90.0
    assert "Wang Fang: 1 alert(s)." in fam1.text and "SpO2 low (acknowledged)" in digest_text(fam1.payload)


# The API ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    store = SqliteStore(Path(tmp_path_factory.mktemp("reports")) / "carewatch.db")
    store.init_schema()
    alerts = seed(store)
    with serve(store, AuthConfig(secret_key=b"test-secret")) as (url, app, hub, loop):
        yield Served(url, app, store, hub, loop, alerts)
    store.close()


def test_the_report_api_answers_by_role_and_scope(served: Served) -> None:
    with served.client("operator") as operator:
        report = operator.get("/api/reports/service", params={"site_id": "s1"}).json()
        assert report["residents_covered"] == 2 and report["alerts"]["by_rule"] == {"spo2_low": 1}
        assert operator.get("/api/reports/service", params={"site_id": "s2"}).status_code == 404  # not their site
        assert operator.get("/api/reports/service", params={"site_id": "s1", "start": 10, "end": 5}).status_code == 422
    with served.client("admin") as admin:
        assert admin.get("/api/reports/service").json()["residents_covered"] == 3  # every site
    with served.client("family") as family:
        assert family.get("/api/reports/service", params={"site_id": "s1"}).status_code == 403


def test_the_report_page_is_served_to_the_care_team(served: Served) -> None:
    with served.client("operator") as operator:
        page = operator.get("/reports")
        assert page.status_code == 200 and "Service report" in page.text
        assert operator.get("/static/report.js").status_code == 200
    anonymous = httpx.get(f"{served.url}/reports", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_snooze_over_the_api(served: Served) -> None:
    alert_id = served.alerts["r1"]
    with served.client("family") as family:
        assert family.post(f"/api/alerts/{alert_id}/snooze", json={"minutes": 10}).status_code == 403
    with served.client("operator") as operator:
        assert operator.post(f"/api/alerts/{alert_id}/snooze", json={"minutes": 0}).status_code == 422
        assert operator.post(f"/api/alerts/{served.alerts['r3']}/snooze", json={"minutes": 5}).status_code == 404
        response = operator.post(f"/api/alerts/{alert_id}/snooze", json={"minutes": 10, "note": "showering"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["alert"]["state"] == "open"
        assert served.store.snoozed_until(alert_id) == pytest.approx(body["snoozed_until"])
        assert operator.post(f"/api/alerts/{alert_id}/resolve", json={"note": "fine"}).status_code == 200
        conflict = operator.post(f"/api/alerts/{alert_id}/snooze", json={"minutes": 10})
        assert conflict.status_code == 409 and "resolved" in conflict.json()["detail"]
    trail = served.store.transitions(alert_id)
    assert [(t.actor, t.to_state) for t in trail][1:] == [
        ("operator", AlertState.OPEN), ("operator", AlertState.RESOLVED)
    ]  # fmt: skip
