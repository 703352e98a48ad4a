"""Which alerts escalated is in what the board and the API give: the board's snapshot, the alert list, one alert and
the answer to an action on it, so an operator coming on shift sees it (and a reload keeps it)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from dashboard_support import Served, escalated_alert
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
