"""What routing reads, as an admin sets it through the API: a contact's channels (each address checked for its
channel), a family contact's preferences (time zone, quiet hours, rules; what a client leaves out is kept) and a
site's own contacts (operators and clinic; the on-call rota then accepts them). Against the real app and a real
SQLite store."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from dashboard_support import Served

from carewatch.model import Contact, ContactRole, Severity
from carewatch.storage.base import ContactChannel, ContactPreference


@pytest.fixture
def admin(served: Served) -> Any:
    served.store.upsert_contacts(
        [Contact("fam7", "Wang Min", ContactRole.FAMILY, "min@example.org"),
         Contact("fam8", "Wang Lei", ContactRole.FAMILY), Contact("op7", "Zhang", ContactRole.OPERATOR),
         Contact("doc7", "Dr Chen", ContactRole.CLINICIAN)],
        [],
    )  # fmt: skip
    with served.client("admin") as client:
        yield client


def refusal(response: httpx.Response) -> list[tuple[str, str]]:
    """(field, message) of each problem of a 422."""
    assert response.status_code == 422, response.text
    return [(str(d["loc"][-1]), d["msg"]) for d in response.json()["detail"]]


def test_an_admin_sets_reads_and_removes_a_contacts_channels(served: Served, admin: Any) -> None:
    for channel, address in (
        ("email", "min@example.org"), ("webhook", "https://family.example/hook"), ("mqtt", "carewatch/v1/notify/fam7"),
    ):  # fmt: skip
        put = admin.put(f"/api/contacts/fam7/channels/{channel}", json={"address": address})
        assert put.json() == {"channel": channel, "address": address}
    admin.put("/api/contacts/fam7/channels/email", json={"address": "wang.min@example.org"})  # replaced
    assert served.store.contact_channels(["fam7"]) == [
        ContactChannel("fam7", "email", "wang.min@example.org"),
        ContactChannel("fam7", "mqtt", "carewatch/v1/notify/fam7"),
        ContactChannel("fam7", "webhook", "https://family.example/hook"),
    ]
    listed = admin.get("/api/contacts/fam7/channels").json()
    [directory] = [c for c in admin.get("/api/contacts").json() if c["contact_id"] == "fam7"]
    assert directory["channels"] == listed and [c["channel"] for c in listed] == ["email", "mqtt", "webhook"]
    assert admin.delete("/api/contacts/fam7/channels/webhook").status_code == 204
    assert admin.delete("/api/contacts/fam7/channels/webhook").status_code == 404
    assert [c.channel for c in served.store.contact_channels(["fam7"])] == ["email", "mqtt"]
    assert admin.get("/api/contacts/nobody/channels").status_code == 404
    assert admin.put("/api/contacts/nobody/channels/email", json={"address": "a@b.c"}).status_code == 404


@pytest.mark.parametrize(
    ("channel", "address", "problem"),
    [
        ("email", "min at example.org", "is not an e-mail address"),
        ("webhook", "ftp://family.example/hook", "a webhook is an http:// or https:// URL with a host"),
        ("webhook", "https:///hook", "a webhook is an http:// or https:// URL with a host"),
        ("mqtt", "carewatch/v1/notify/#", "has no wildcards"),
        ("mqtt", " carewatch/x", "without NUL or surrounding spaces"),
    ],
)
def test_an_address_that_does_not_fit_its_channel_is_refused(
    served: Served, admin: Any, channel: str, address: str, problem: str
) -> None:
    [(field, message)] = refusal(admin.put(f"/api/contacts/op7/channels/{channel}", json={"address": address}))
    assert field == "address" and problem in message
    assert served.store.contact_channels(["op7"]) == []


def test_an_unknown_channel_is_refused(admin: Any) -> None:
    [(field, _)] = refusal(admin.put("/api/contacts/op7/channels/sms", json={"address": "+86 139"}))
    assert field == "channel"


def test_an_admin_sets_a_family_contacts_preferences_and_keeps_what_is_left_out(served: Served, admin: Any) -> None:
    assert admin.get("/api/contacts/fam7/preferences").json() == {
        "configured": False, "timezone": "UTC", "quiet_start": None, "quiet_end": None, "rules": [],
    }  # fmt: skip
    body = {
        "timezone": "Asia/Shanghai", "quiet_start": 22 * 60, "quiet_end": 7 * 60,
        "rules": [{"rule": "fall", "lowest": "warning"}, {"rule": "*", "lowest": "critical"}],
    }  # fmt: skip
    assert admin.put("/api/contacts/fam7/preferences", json=body).json() == {**body, "configured": True}
    night = ContactPreference(
        "fam7", "Asia/Shanghai", 1320, 420, (("*", Severity.CRITICAL), ("fall", Severity.WARNING))
    )
    assert served.store.contact_preferences(["fam7"]) == {"fam7": night}  # as routing reads it
    put = admin.put("/api/contacts/fam7/preferences", json={"quiet_start": 21 * 60, "quiet_end": 6 * 60})
    assert (put.json()["timezone"], len(put.json()["rules"])) == ("Asia/Shanghai", 2)  # left out: kept
    admin.put("/api/contacts/fam7/preferences", json={"quiet_start": None, "quiet_end": None, "rules": []})
    assert served.store.contact_preferences(["fam7"]) == {"fam7": ContactPreference("fam7", "Asia/Shanghai")}
    [directory] = [c for c in admin.get("/api/contacts").json() if c["contact_id"] == "fam7"]
    assert directory["preferences"]["timezone"] == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"quiet_start": 1320}, "give both ends of the quiet hours"),
        ({"quiet_start": 600, "quiet_end": 600}, "start and end at the same minute"),
        ({"quiet_start": 1320, "quiet_end": 1440}, "less than 1440"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"rules": [{"rule": "fall/x", "lowest": "info"}]}, "String should match pattern"),
        ({"rules": [{"rule": "fall", "lowest": "loud"}]}, "Input should be 'info', 'warning', 'urgent' or 'critical'"),
        ({"rules": [{"rule": "fall", "lowest": "info"}, {"rule": "fall", "lowest": "urgent"}]}, "each rule at most"),
        ({"rules": [{"rule": "fal", "lowest": "info"}]}, "'fal' is not a rule's name"),
    ],
)
def test_preferences_routing_could_not_read_are_refused(
    served: Served, admin: Any, body: dict[str, Any], problem: str
) -> None:
    [(_, message)] = refusal(admin.put("/api/contacts/fam8/preferences", json=body))
    assert problem in message
    assert served.store.contact_preferences(["fam8"]) == {}


def test_preferences_are_for_family_contacts_only(admin: Any) -> None:
    refused = admin.put("/api/contacts/op7/preferences", json={"quiet_start": 1320, "quiet_end": 420})
    assert refused.status_code == 422 and "preferences apply to family contacts only" in refused.text
    assert admin.get("/api/contacts/nobody/preferences").status_code == 404


def test_a_sites_own_contacts_are_added_listed_and_removed_and_the_rota_accepts_them(
    served: Served, admin: Any
) -> None:
    shift = {"contact_id": "doc7", "starts_at": time.time(), "ends_at": time.time() + 3600}
    assert admin.post("/api/sites/s1/on-call", json=shift).status_code == 422  # no link to s1 yet
    for contact_id in ("doc7", "op7"):
        put = admin.put(f"/api/sites/s1/contacts/{contact_id}")
        assert put.status_code == 200, put.text
    assert admin.put("/api/sites/s1/contacts/doc7").status_code == 200  # again: no change
    assert admin.get("/api/sites/s1/contacts").json() == [
        {"site_id": "s1", "contact_id": "doc7", "name": "Dr Chen", "role": "clinician"},
        {"site_id": "s1", "contact_id": "op7", "name": "Zhang", "role": "operator"},
    ]
    assert [c.contact_id for c in served.store.site_contacts("s1")] == ["doc7", "op7"]
    assert admin.post("/api/sites/s1/on-call", json=shift).status_code == 201
    family = admin.put("/api/sites/s1/contacts/fam7")
    assert family.status_code == 422 and "link them to a resident" in family.text
    assert admin.put("/api/sites/s1/contacts/nobody").status_code == 404
    assert admin.put("/api/sites/s9x/contacts/op7").status_code == 404
    assert admin.delete("/api/sites/s1/contacts/op7").status_code == 204
    assert admin.delete("/api/sites/s1/contacts/op7").status_code == 404
    assert [c.contact_id for c in served.store.site_contacts("s1")] == ["doc7"]
