"""Which alerts escalated, and until when an alert is snoozed, is in what the board and the API give: the board's
snapshot, the alert list, one alert and the answer to an action on it, so an operator coming on shift sees it (and a
reload keeps it); a snooze also reaches the other boards live. One alert's audit trail gives a snooze's end apart
from the note the operator wrote. An alert as the clinic receives it, a FHIR R4 Bundle, for the care team of its
site."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from dashboard_support import Served, clinical_alert, escalated_alert, live_alert
from fhir.resources.R4B.bundle import Bundle
from websockets.asyncio.client import connect


def snapshot_alerts(served: Served, username: str) -> dict[int, dict[str, Any]]:
    async def run() -> dict[str, Any]:
        async with connect(f"{served.ws_url}?token={served.token(username)}") as socket:
            return dict(json.loads(await asyncio.wait_for(socket.recv(), 10)))

    snapshot = asyncio.run(run())
    assert snapshot["type"] == "snapshot"
    return {a["alert_id"]: a for a in snapshot["alerts"]}


def test_the_snapshot_and_the_api_say_which_alerts_escalated(served: Served) -> None:
    escalated, quiet = escalated_alert(served, stages=2), served.alerts["r1"]
    shown = snapshot_alerts(served, "operator")
    assert shown[escalated]["escalation"] == "escalation:2"  # the newest stage fired, named as the live notice does
    assert shown[quiet]["escalation"] is None
    with served.client("operator") as client:
        listed = {a["alert_id"]: a["escalation"] for a in client.get("/api/alerts", params={"live": True}).json()}
        assert listed[escalated] == "escalation:2" and listed[quiet] is None
        assert client.get(f"/api/alerts/{escalated}").json()["escalation"] == "escalation:2"
        acknowledged = client.post(f"/api/alerts/{escalated}/acknowledge", json={}).json()
    assert acknowledged["state"] == "acknowledged" and acknowledged["escalation"] == "escalation:2"  # it stays
    assert snapshot_alerts(served, "admin")[escalated]["escalation"] == "escalation:2"


def test_a_snooze_reaches_the_boards_live_and_the_api_says_until_when(served: Served) -> None:
    alert_id = live_alert(served, "r2", "rr_high", "RR high")
    note = "waiting for the GP's call back"

    def snooze() -> dict[str, Any]:
        with served.client("operator") as client:
            response = client.post(f"/api/alerts/{alert_id}/snooze", json={"minutes": 60, "note": note})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        async with connect(f"{served.ws_url}?token={served.token('operator2')}") as socket:
            assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "snapshot"
            answer = await asyncio.to_thread(snooze)
            while True:  # vitals may come between
                message = json.loads(await asyncio.wait_for(socket.recv(), 10))
                if message["type"] == "alert" and message["alert"]["alert_id"] == alert_id:
                    return answer, message["alert"]

    answer, live = asyncio.run(run())
    until = answer["snoozed_until"]
    assert until == pytest.approx(time.time() + 3600, abs=60) and answer["alert"]["snoozed_until"] == until
    assert live["snoozed_until"] == until and live["state"] == "open"  # another operator's board is told
    assert snapshot_alerts(served, "operator")[alert_id]["snoozed_until"] == until  # and a reload keeps it
    with served.client("operator") as client:
        listed = {a["alert_id"]: a["snoozed_until"] for a in client.get("/api/alerts", params={"live": True}).json()}
        detail = client.get(f"/api/alerts/{alert_id}").json()
    assert listed[alert_id] == until and listed[served.alerts["r1"]] is None  # never snoozed
    assert detail["snoozed_until"] == until
    snoozed = detail["transitions"][-1]
    assert (snoozed["from_state"], snoozed["to_state"], snoozed["actor"]) == ("open", "open", "operator")
    assert snoozed["note"] == note and snoozed["snoozed_until"] == pytest.approx(until, abs=1)  # the end, apart
    assert detail["transitions"][0]["snoozed_until"] is None  # not a snooze
    assert served.store.transitions(alert_id)[-1].note.endswith(f": {note}")  # stored as it was written


def test_the_care_team_gets_an_alert_as_the_clinics_fhir_bundle(served: Served) -> None:
    alert_id = clinical_alert(served)
    with served.client("clinician") as clinician:
        response = clinician.get(f"/api/alerts/{alert_id}/fhir")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    bundle = Bundle.model_validate(response.json())
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds == ["Patient", "Flag", "Communication", *["Observation"] * 5]
    assert bundle.entry[0].resource.name[0].text == "Zhao Lei"  # the resident, from the registry
    assert bundle.entry[3].resource.code.coding[0].code == "59408-5"  # SpO2, LOINC-coded
    with served.client("family") as family:  # a relative reads alerts, not the clinic's records
        assert family.get(f"/api/alerts/{served.alerts['r1']}/fhir").status_code == 403
    with served.client("operator") as operator:  # of s1: r3's alert at s2 is not theirs
        assert operator.get(f"/api/alerts/{served.alerts['r3']}/fhir").status_code == 404
        assert operator.get("/api/alerts/999999/fhir").status_code == 404
