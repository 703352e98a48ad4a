"""Forms in a real browser (headless Chromium, Playwright) that must keep what they do not show and say why they are
refused: an admin re-saves a resident and a site without resetting the SpO2 scale, birth year or time zone, edits
the scale, saves a policy without steps and sees it never escalates, registers a device and a contact linked to a
resident (re-saving keeps the device's Zigbee2MQTT name and the contact's phone), and reads each refusal in the
form's own error line; emptying a field an Edit showed clears it (a resident's room and birth year, a device's
room and name, a contact's e-mail and phone, quiet hours), typing over a record without Edit clears nothing; a
contact on the rota is neither deleted nor removed from their site (the refusal says why) until their shift is
removed; a clinician reads why an absurd limit is refused and downloads an alert as FHIR, which a family member is
not offered. Their own dashboard (the module's), so the residents and sites changed here do not
reach tests/dashboard/test_browser.py."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import TIMEOUT_MS, Served, clinical_alert, logged_in
from fhir.resources.R4B.bundle import Bundle
from support import ARTIFACTS

from carewatch.model import Contact, ContactLink, ContactRole, Device, DeviceKind, Resident, Severity, Site, SiteKind
from carewatch.storage.base import ContactChannel, ContactPreference, OnCallShift

pytestmark = pytest.mark.browser

FANG = Resident("r1", "s1", "Wang Fang", "101", 1938, spo2_scale=2)  # NEWS2 scale 2, a clinician's decision
SUNRISE = Site("s1", "Sunrise station", SiteKind.COMMUNITY_STATION, "Asia/Shanghai")


def row_shows(page: Any, table: str, first: str, text: str) -> None:
    """Wait until the row of ``table`` whose first cell is ``first`` contains ``text`` (lists reload after a save)."""
    page.wait_for_function(
        "([table, first, text]) => [...document.querySelectorAll(`#${table} tbody tr`)].some("
        "(r) => r.cells[0].textContent === first && r.textContent.includes(text))",
        arg=[table, first, text],
        timeout=TIMEOUT_MS,
    )


def refused(page: Any, form: str, text: str) -> str:
    """Submit ``form``; its error line comes to show the refusal containing ``text``, which is returned."""
    page.click(f"#{form}-form button[type=submit]")
    page.wait_for_function(
        "([id, text]) => { const e = document.getElementById(id); return !e.hidden && e.textContent.includes(text); }",
        arg=[f"{form}-error", text],
        timeout=TIMEOUT_MS,
    )  # the line may still show an earlier refusal for a moment
    message: str = page.inner_text(f"#{form}-error")
    return message


def test_an_admin_re_saves_residents_and_sites_without_resetting_clinical_settings(
    browser: Any, served: Served
) -> None:
    served.store.upsert_sites([SUNRISE])
    served.store.upsert_residents([FANG])
    page = logged_in(browser, served, "admin")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.goto(served.url + "/admin")
    row_shows(page, "residents", "r1", "1938")
    form = "#resident-form"
    for name, value in (("resident_id", "r1"), ("site_id", "s1"), ("name", "Wang Fang"), ("room", "103")):
        page.fill(f"{form} [name={name}]", value)  # typed over, as the reviewer did: no field for the scale touched
    page.click(f"{form} button[type=submit]")
    row_shows(page, "residents", "r1", "103")
    assert served.store.resident("r1") == Resident("r1", "s1", "Wang Fang", "103", 1938, spo2_scale=2)

    page.click("#residents tbody tr:has(a:text-is('r1')) button")  # Edit: the form shows the stored scale
    assert (page.input_value(f"{form} [name=spo2_scale]"), page.input_value(f"{form} [name=birth_year]")) == (
        "2", "1938",
    )  # fmt: skip
    page.select_option(f"{form} [name=spo2_scale]", "1")
    page.click(f"{form} button[type=submit]")
    page.wait_for_function(
        "document.querySelector('#residents tbody tr').cells[5].textContent === '1'", timeout=TIMEOUT_MS
    )
    assert served.store.resident("r1") == Resident("r1", "s1", "Wang Fang", "103", 1938, spo2_scale=1)

    page.fill("#site-form [name=site_id]", "s1")
    page.fill("#site-form [name=name]", "Sunrise Station")
    page.click("#site-form button[type=submit]")
    row_shows(page, "sites", "s1", "Sunrise Station")
    assert "Asia/Shanghai" in page.inner_text("#sites tbody tr:has(td:text-is('s1'))")
    assert [s.timezone for s in served.store.sites() if s.site_id == "s1"] == ["Asia/Shanghai"]

    page.wait_for_selector("#policy-form[data-loaded='s1/urgent']", state="attached", timeout=TIMEOUT_MS)
    page.fill("#policy-form [name=steps]", "")
    page.click("#policy-form button[type=submit]")
    page.wait_for_function(
        "document.querySelector('#policy-state').textContent.includes('never escalate')", timeout=TIMEOUT_MS
    )
    page.click("#policy-defaults")  # back to the defaults
    page.wait_for_function(
        "document.querySelector('#policy-state').textContent.includes('the defaults apply')", timeout=TIMEOUT_MS
    )
    with served.client("operator") as client:
        assert client.get("/api/sites/s1/escalation-policies/urgent").json()["configured"] is False
    page.screenshot(path=str(ARTIFACTS / "admin-registry-kept.png"), full_page=True)
    assert page.errors == []
    page.context.close()


def test_admin_forms_say_why_they_are_refused(browser: Any, served: Served) -> None:
    page = logged_in(browser, served, "admin")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.goto(served.url + "/admin")
    page.wait_for_function("document.querySelectorAll('#users tbody tr').length >= 4", timeout=TIMEOUT_MS)
    page.fill("#site-form [name=site_id]", "a/b")
    page.fill("#site-form [name=name]", "Harbour home")
    refused(page, "site", "An id is letters, digits and . _ : -")
    page.fill("#site-form [name=site_id]", "harbour")
    page.fill("#site-form [name=timezone]", "Mars/Olympus")
    refused(page, "site", "timezone: unknown time zone 'Mars/Olympus'")
    assert page.input_value("#site-form [name=name]") == "Harbour home"  # kept for the admin to fix

    for name, value in (("resident_id", "r5"), ("site_id", "s1"), ("name", "   ")):
        page.fill(f"#resident-form [name={name}]", value)
    refused(page, "resident", "name: a name cannot be blank")
    page.fill("#user-form [name=username]", "nurse1")
    page.fill("#user-form [name=display_name]", "x" * 5000)
    page.fill("#user-form [name=password]", "0123456789ab")
    message = refused(page, "user", "display_name: String should have at most 200 characters")
    assert len(message) < 200  # short: the 5,000 characters are not echoed
    page.fill("#user-form [name=display_name]", "Nurse One")
    page.click("#user-form button[type=submit]")
    row_shows(page, "users", "nurse1", "Nurse One")
    page.wait_for_selector("#user-error", state="hidden", timeout=TIMEOUT_MS)  # a success clears the error line
    with served.client("admin") as admin:
        assert {s["site_id"] for s in admin.get("/api/sites").json()} == {"s1", "s2"}
        assert "r5" not in {r["resident_id"] for r in admin.get("/api/residents").json()}
    page.screenshot(path=str(ARTIFACTS / "admin-refusals.png"), full_page=True)
    assert page.errors == []
    page.context.close()


def test_a_clinician_reads_why_an_absurd_limit_is_refused(browser: Any, served: Served) -> None:
    page = logged_in(browser, served, "clinician")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.goto(served.url + "/residents/r2")
    page.wait_for_selector("body[data-loaded=true]", timeout=TIMEOUT_MS)
    form = "#threshold-form"
    page.select_option(f"{form} [name=metric]", "hr")
    page.fill(f"{form} [name=low]", "1e308")
    page.fill(f"{form} [name=reason]", "bradycardic at rest")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#threshold-error:not([hidden])", timeout=TIMEOUT_MS)
    assert (
        page.inner_text("#threshold-error") == "low 1e+308 is outside the plausible range of heart rate (20 to 300 bpm)"
    )
    with served.client("clinician") as clinician:
        assert clinician.get("/api/residents/r2/thresholds").json() == []
    assert page.errors == []
    page.context.close()


def fill(page: Any, form: str, fields: dict[str, str]) -> None:
    for name, value in fields.items():
        page.fill(f"#{form}-form [name={name}]", value)


def test_an_admin_registers_a_device_and_a_contact_linked_to_a_resident(browser: Any, served: Served) -> None:
    page = logged_in(browser, served, "admin")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.goto(served.url + "/admin")
    page.wait_for_selector("#device-form [name=resident_id] option[value=r2]", state="attached", timeout=TIMEOUT_MS)
    kinds = page.eval_on_selector_all("#device-form [name=kind] option", "options => options.map((o) => o.value)")
    assert kinds == [k.value for k in DeviceKind]  # the catalogue's kinds

    fill(page, "device", {"device_id": "w/7"})
    refused(page, "device", "An id is letters, digits and . _ : -")
    fill(page, "device", {"device_id": "w7", "room": "102", "friendly_name": "wrist_7"})
    page.select_option("#device-form [name=resident_id]", "r2")
    page.click("#device-form button[type=submit]")
    row_shows(page, "devices", "w7", "wrist_7")
    assert [d for d in served.store.devices() if d.device_id == "w7"] == [
        Device("w7", "s1", DeviceKind.WEARABLE, "r2", "102", "wrist_7")
    ]
    fill(page, "device", {"device_id": "w7", "room": "103"})  # typed over: no name given, the resident as stored
    page.click("#device-form button[type=submit]")
    row_shows(page, "devices", "w7", "103")
    assert [d for d in served.store.devices() if d.device_id == "w7"] == [
        Device("w7", "s1", DeviceKind.WEARABLE, "r2", "103", "wrist_7")
    ]
    page.click("#devices tbody tr:has(td:text-is('w7')) button")  # Edit: the stored values, the name among them
    assert page.input_value("#device-form [name=friendly_name]") == "wrist_7"
    assert page.input_value("#device-form [name=resident_id]") == "r2"

    fill(page, "contact", {"contact_id": "gp 7", "name": "Dr Chen"})
    refused(page, "contact", "An id is letters, digits and . _ : -")
    fill(page, "contact", {"contact_id": "gp7", "phone": "+86 10 5555"})
    page.select_option("#contact-form [name=role]", "clinician")
    page.click("#contact-form button[type=submit]")
    row_shows(page, "contacts", "gp7", "Dr Chen")
    fill(page, "link", {"contact_id": "gp7", "relation": "GP"})
    page.select_option("#link-form [name=resident_id]", "r2")
    page.click("#link-form button[type=submit]")
    row_shows(page, "contacts", "gp7", "r2 · GP (1)")
    fill(page, "contact", {"contact_id": "gp7", "name": "Dr Chen Jie"})  # no phone typed: the stored one stays
    page.select_option("#contact-form [name=role]", "clinician")
    page.click("#contact-form button[type=submit]")
    row_shows(page, "contacts", "gp7", "Dr Chen Jie")
    assert [(c, k) for c, k in served.store.contacts_of("r2") if c.contact_id == "gp7"] == [
        (Contact("gp7", "Dr Chen Jie", ContactRole.CLINICIAN, phone="+86 10 5555"), ContactLink("r2", "gp7", "GP"))
    ]
    page.screenshot(path=str(ARTIFACTS / "admin-devices-contacts.png"), full_page=True)
    page.click("#contacts tbody tr:has(td:text-is('gp7')) .link button")  # Unlink
    page.wait_for_function(
        "!document.querySelector('#contacts tbody').textContent.includes('r2 · GP')",
        timeout=TIMEOUT_MS,
    )
    assert "gp7" not in {c.contact_id for c, _ in served.store.contacts_of("r2")}
    assert "gp7" in {c.contact_id for c in served.store.contacts()}  # the contact stays
    assert page.errors == []
    page.context.close()


def test_a_clinician_downloads_an_alert_as_fhir_and_a_family_member_is_not_offered_it(
    browser: Any, served: Served
) -> None:
    alert_id = clinical_alert(served)
    page = logged_in(browser, served, "clinician")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.goto(served.url + "/residents/r2")
    with page.expect_download(timeout=TIMEOUT_MS) as download:
        page.click(f"#alert-{alert_id} a.fhir")
    bundle = Bundle.model_validate(json.loads(Path(download.value.path()).read_text(encoding="utf-8")))
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds[:3] == ["Patient", "Flag", "Communication"] and set(kinds[3:]) == {"Observation"} and kinds[3:]
    assert download.value.suggested_filename == f"alert-{alert_id}.fhir.json"
    assert page.errors == []
    page.context.close()

    page = logged_in(browser, served, "family")
    page.wait_for_url("**/family")
    page.goto(served.url + "/residents/r1")
    page.wait_for_selector(f"#alert-{served.alerts['r1']}", timeout=TIMEOUT_MS)
    assert page.locator("a.fhir").count() == 0
    assert page.errors == []
    page.context.close()


def test_an_admin_gives_a_family_contact_a_channel_and_quiet_hours_and_a_site_its_own_clinician(
    browser: Any, served: Served
) -> None:
    page = logged_in(browser, served, "admin")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.goto(served.url + "/admin")
    row_shows(page, "contacts", "c1", "Wang Min")

    fill(page, "channel", {"contact_id": "c1", "address": "min at example.org"})
    page.select_option("#channel-form [name=channel]", "email")
    refused(page, "channel", "address: 'min at example.org' is not an e-mail address")
    fill(page, "channel", {"address": "min@example.org"})
    page.click("#channel-form button[type=submit]")
    row_shows(page, "contacts", "c1", "E-mail: min@example.org")
    assert served.store.contact_channels(["c1"]) == [ContactChannel("c1", "email", "min@example.org")]

    fill(page, "preference", {"contact_id": "c1", "timezone": "Asia/Shanghai", "quiet_start": "22:00"})
    fill(page, "preference", {"quiet_end": "07:00", "rules": "fall:warning"})
    page.click("#preference-form button[type=submit]")
    row_shows(page, "contacts", "c1", "quiet hours 22:00 to 07:00 (Asia/Shanghai) · fall:warning")
    night = ContactPreference("c1", "Asia/Shanghai", 22 * 60, 7 * 60, (("fall", Severity.WARNING),))
    assert served.store.contact_preferences(["c1"]) == {"c1": night}
    page.fill("#preference-form [name=contact_id]", "")
    page.click("#contacts tbody tr:has(td:text-is('c1')) td:nth-child(8) button")  # Edit: the stored preferences
    assert [page.input_value(f"#preference-form [name={n}]") for n in ("contact_id", "quiet_start", "rules")] == [
        "c1", "22:00", "fall:warning",
    ]  # fmt: skip

    fill(page, "contact", {"contact_id": "oncall8", "name": "Dr Sun"})  # no resident of their own
    page.select_option("#contact-form [name=role]", "clinician")
    page.click("#contact-form button[type=submit]")
    row_shows(page, "contacts", "oncall8", "Dr Sun")
    page.select_option("#site-contact-form [name=site_id]", "s1")
    fill(page, "site-contact", {"contact_id": "c1"})
    refused(page, "site-contact", "contact c1 is family: link them to a resident")
    fill(page, "site-contact", {"contact_id": "oncall8"})
    page.click("#site-contact-form button[type=submit]")
    row_shows(page, "site-contacts", "s1", "oncall8")
    assert [c.contact_id for c in served.store.site_contacts("s1")] == ["oncall8"]
    page.screenshot(path=str(ARTIFACTS / "admin-channels-site-contacts.png"), full_page=True)
    page.click("#site-contacts tbody tr:has(td:text-is('oncall8')) button")  # Remove
    page.wait_for_function("document.querySelectorAll('#site-contacts tbody tr').length === 0", timeout=TIMEOUT_MS)
    assert served.store.site_contacts("s1") == []
    assert page.errors == []
    page.context.close()


def cells(page: Any, table: str, first: str) -> list[str]:
    """The cells' text of the row of ``table`` whose first cell is ``first`` (waiting for it to be listed)."""
    texts: list[str] = page.wait_for_function(
        "([table, first]) => [...document.querySelectorAll(`#${table} tbody tr`)].map((r) => [...r.cells].map("
        "(c) => c.textContent)).find((texts) => texts[0] === first)",
        arg=[table, first],
        timeout=TIMEOUT_MS,
    ).json_value()
    return texts


def test_an_admin_clears_an_optional_field_by_emptying_it(browser: Any, served: Served) -> None:
    served.store.upsert_devices([Device("w8", "s1", DeviceKind.WEARABLE, "r2", "108", "wrist_8")])
    served.store.upsert_contacts([Contact("fam8", "Sun Mei", ContactRole.FAMILY)], [])
    served.store.upsert_contact_preferences([ContactPreference("fam8", "Asia/Shanghai", 22 * 60, 7 * 60)])
    page = logged_in(browser, served, "admin")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.goto(served.url + "/admin")
    row_shows(page, "devices", "w8", "wrist_8")
    fill(
        page, "resident", {"resident_id": "r8", "site_id": "s1", "name": "Sun Li", "room": "108", "birth_year": "1941"}
    )
    page.click("#resident-form button[type=submit]")
    row_shows(page, "residents", "r8", "1941")
    fill(page, "contact", {"contact_id": "gp8", "name": "Dr Ma", "email": "ma@clinic.example", "phone": "+86 10 8888"})
    page.select_option("#contact-form [name=role]", "clinician")
    page.click("#contact-form button[type=submit]")
    row_shows(page, "contacts", "gp8", "+86 10 8888")

    page.click("#residents tbody tr:has(a:text-is('r8')) button")  # Edit, empty, save
    fill(page, "resident", {"room": "", "birth_year": ""})
    page.click("#resident-form button[type=submit]")
    page.click("#devices tbody tr:has(td:text-is('w8')) button")
    fill(page, "device", {"friendly_name": "", "room": ""})
    page.click("#device-form button[type=submit]")
    page.click("#contacts tbody tr:has(td:text-is('gp8')) td:last-child button:text-is('Edit')")
    fill(page, "contact", {"phone": "", "email": ""})
    page.click("#contact-form button[type=submit]")
    page.click("#contacts tbody tr:has(td:text-is('fam8')) td:nth-child(8) button")
    fill(page, "preference", {"quiet_start": "", "quiet_end": ""})
    page.click("#preference-form button[type=submit]")
    page.wait_for_function(
        "[...document.querySelectorAll('#contacts tbody tr')].some("
        "(r) => r.cells[0].textContent === 'fam8' && !r.textContent.includes('quiet hours'))",
        timeout=TIMEOUT_MS,
    )

    page.reload()
    row_shows(page, "devices", "w8", "r2")
    row_shows(page, "contacts", "gp8", "Dr Ma")
    assert cells(page, "residents", "r8")[3:5] == ["", ""]  # room, birth year
    assert cells(page, "devices", "w8")[4:6] == ["", ""]  # room, Zigbee2MQTT name
    assert cells(page, "contacts", "gp8")[3:5] == ["", ""]  # e-mail, phone
    assert served.store.resident("r8") == Resident("r8", "s1", "Sun Li", None, None)
    assert [d for d in served.store.devices() if d.device_id == "w8"] == [Device("w8", "s1", DeviceKind.WEARABLE, "r2")]
    assert served.store.contacts(["gp8"]) == [Contact("gp8", "Dr Ma", ContactRole.CLINICIAN)]
    assert served.store.contact_preferences(["fam8"]) == {"fam8": ContactPreference("fam8", "Asia/Shanghai")}
    with served.client("admin") as admin:
        resident = admin.get("/api/residents/r8").json()
        assert (resident["room"], resident["birth_year"]) == (None, None)
        [contact] = [c for c in admin.get("/api/contacts").json() if c["contact_id"] == "gp8"]
        assert (contact["email"], contact["phone"]) == (None, None)

    fill(page, "resident", {"resident_id": "r2", "site_id": "s1", "name": "Zhao Lei"})  # typed over: nothing shown
    page.click("#resident-form button[type=submit]")
    row_shows(page, "residents", "r2", "Zhao Lei")
    assert served.store.resident("r2") == Resident("r2", "s1", "Zhao Lei", "102")  # so nothing cleared
    assert page.errors == []
    page.context.close()


def test_an_admin_reads_why_a_contact_on_the_rota_is_not_removed(browser: Any, served: Served) -> None:
    now = time.time()
    served.store.upsert_contacts([Contact("doc8", "Dr Sun", ContactRole.CLINICIAN)], [])
    served.store.add_site_contacts("s1", ["doc8"])
    served.store.add_on_call_shifts([OnCallShift("s1", "doc8", now - 60, now + 3600)])
    page = logged_in(browser, served, "admin")
    page.wait_for_selector(".tile", timeout=TIMEOUT_MS)
    page.goto(served.url + "/admin")
    row_shows(page, "contacts", "doc8", "Dr Sun")
    row_shows(page, "site-contacts", "s1", "doc8")

    page.click("#contacts tbody tr:has(td:text-is('doc8')) button:text-is('Delete')")
    page.wait_for_selector("#contact-error:not([hidden])", timeout=TIMEOUT_MS)
    assert page.inner_text("#contact-error").startswith("contact doc8 is on the on-call rota (s1 ")
    page.click("#site-contacts tbody tr:has(td:text-is('doc8')) button")  # Remove from the site
    page.wait_for_selector("#site-contact-error:not([hidden])", timeout=TIMEOUT_MS)
    assert "reassign or remove these shifts first" in page.inner_text("#site-contact-error")
    assert "doc8" in {c.contact_id for c in served.store.contacts()}
    assert [c.contact_id for c in served.store.site_contacts("s1")] == ["doc8"]

    page.select_option("#shift-form [name=site_id]", "s1")
    page.wait_for_selector("#shifts[data-loaded=s1] tbody tr:has(td:text-is('doc8'))", timeout=TIMEOUT_MS)
    page.click("#shifts tbody tr:has(td:text-is('doc8')) button")  # the shift reassigned first
    page.wait_for_function("!document.querySelector('#shifts tbody').textContent.includes('doc8')", timeout=TIMEOUT_MS)
    page.click("#contacts tbody tr:has(td:text-is('doc8')) button:text-is('Delete')")
    page.wait_for_function(
        "![...document.querySelectorAll('#contacts tbody tr')].some((r) => r.cells[0].textContent === 'doc8')",
        timeout=TIMEOUT_MS,
    )
    assert page.is_hidden("#contact-error")
    assert "doc8" not in {c.contact_id for c in served.store.contacts()}
    page.screenshot(path=str(ARTIFACTS / "admin-contact-on-rota.png"), full_page=True)
    assert page.errors == []
    page.context.close()
