"""What an admin configures through the API is what routing uses, on both backends: a site's own operator with a
webhook, and a family member's e-mail and quiet hours, set through the dashboard; then an alert raised by the
lifecycle is delivered to that address, and held back from the family member in their quiet hours."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dashboard_support import PASSWORD, USERS, Served, serve

from dashboard.auth import AuthConfig, hash_password

EVENING = 7 * 3600  # T0 is 16:00 in Shanghai; T0 + 7 h is 23:00 there


@pytest.fixture
def admin(harness: Any) -> Iterator[Any]:
    """An admin's API client of a dashboard over the harness's store."""
    harness.store.save_user(USERS["admin"], hash_password(PASSWORD))
    with serve(harness.store, AuthConfig(secret_key=b"test-secret")) as (url, app, hub, loop):
        served = Served(url, app, harness.store, hub, loop, {})
        with served.client("admin") as client:
            yield client


def configured(response: Any) -> None:
    assert response.status_code == 200, response.text


def test_a_channel_set_through_the_api_receives_the_alerts_routing_sends(harness: Any, admin: Any) -> None:
    configured(admin.put("/api/contacts/op9", json={"name": "Night desk", "role": "operator"}))
    configured(admin.put("/api/sites/s1/contacts/op9"))
    configured(admin.put("/api/contacts/op9/channels/webhook", json={"address": "https://desk.example/alerts"}))
    configured(admin.put("/api/contacts/fam2/channels/email", json={"address": "lei@example.org"}))
    configured(admin.put("/api/contacts/fam2/preferences", json={"rules": [{"rule": "*", "lowest": "warning"}]}))
    [alert] = harness.lifecycle.apply([harness.draft(harness.T0)], [])
    harness.settle()
    delivered = {(d.contact_id, d.channel, d.address) for d in harness.store.deliveries(alert.alert_id)}
    assert {("op9", "webhook", "https://desk.example/alerts"), ("fam2", "email", "lei@example.org")} <= delivered


def test_quiet_hours_set_through_the_api_hold_back_a_family_message(harness: Any, admin: Any) -> None:
    configured(admin.put("/api/contacts/fam1/preferences", json={
        "timezone": "Asia/Shanghai", "quiet_start": 22 * 60, "quiet_end": 7 * 60,
    }))  # fmt: skip
    harness.clock.now = harness.T0 + EVENING  # 23:00 in Shanghai
    [alert] = harness.lifecycle.apply([harness.draft(harness.clock.now)], [])
    harness.settle()
    fam1 = {
        (d.channel, d.address, d.status) for d in harness.store.deliveries(alert.alert_id) if d.contact_id == "fam1"
    }
    assert fam1 == {("email", "min@example.org", "suppressed"), ("mqtt", "carewatch/v1/notify/fam1", "suppressed")}
