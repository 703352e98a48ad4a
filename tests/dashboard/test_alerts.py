"""Which alerts escalated is in what the board and the API give: the board's snapshot, the alert list, one alert and
the answer to an action on it, so an operator coming on shift sees it (and a reload keeps it). An alert as the clinic
receives it, a FHIR R4 Bundle, for the care team of its site."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from dashboard_support import Served, clinical_alert, escalated_alert
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
