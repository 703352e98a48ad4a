"""Reports: the service report of a site for a period (the counted figures a civil-affairs bureau publishes) and the
weekly digest of a family contact. Plain dicts, JSON-ready; the dashboard serves them and draws the charts."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from alerts.notify.base import Message
from alerts.notify.dispatch import Dispatcher
from carewatch.model import Alert, AlertState, Contact, ContactRole, Resident
from carewatch.storage.base import Store

log = logging.getLogger(__name__)

WEEK_S = 7 * 86_400.0
DIGEST_LIST_MAX = 20  # alerts listed by name in one digest; the counts cover them all

Report = dict[str, object]


def service_report(store: Store, site_id: str | None, start: float, end: float) -> Report:
    """Residents covered, alerts by rule and severity, time to acknowledge (median, p90), escalations, deliveries."""
    alerts = store.alerts_between(site_id, start, end)
    escalations = store.escalations_between(site_id, start, end)
    deliveries = store.deliveries_between(site_id, start, end)
    by_channel: dict[str, Counter[str]] = {}
    for d in deliveries:
        by_channel.setdefault(d.channel, Counter())[d.status] += 1
    return {
        "site_id": site_id,
        "period": {"start": start, "end": end},
        "residents_covered": len(store.residents(site_id)),
        "residents_with_alerts": len({a.resident_id for a in alerts}),
        "alerts": {
            "total": len(alerts),
            "by_rule": dict(sorted(Counter(a.rule for a in alerts).items())),
            "by_severity": dict(sorted(Counter(a.severity.value for a in alerts).items())),
            "by_rule_and_severity": [
                {"rule": rule, "severity": severity, "count": n}
                for (rule, severity), n in sorted(Counter((a.rule, a.severity.value) for a in alerts).items())
            ],
            "acknowledged": sum(a.acknowledged_at is not None for a in alerts),
            "resolved_automatically": sum(a.resolved_by == "system" for a in alerts),
            "still_open": sum(a.state is not AlertState.RESOLVED for a in alerts),
        },
        "time_to_acknowledge_s": _spread([a.acknowledged_at - a.opened_at for a in alerts if a.acknowledged_at]),
        "escalations": {
            "total": len(escalations),
            "alerts_escalated": len({e.alert_id for e in escalations}),
            "by_target": dict(sorted(Counter(e.target for e in escalations).items())),
        },
        "deliveries": {
            "attempts": len(deliveries),
            "by_channel": {channel: dict(sorted(c.items())) for channel, c in sorted(by_channel.items())},
        },
    }


def family_digest(store: Store, contact: Contact, residents: Sequence[Resident], start: float, end: float) -> Report:
    """What happened to a family contact's relatives in the period, in words a family reads."""
    relatives = []
    for resident in residents:
        alerts = [
            a for a in store.alerts_between(resident.site_id, start, end) if a.resident_id == resident.resident_id
        ]
        relatives.append(
            {
                "resident_id": resident.resident_id,
                "name": resident.name,
                "alerts": len(alerts),
                "by_rule": dict(sorted(Counter(a.rule for a in alerts).items())),
                "time_to_acknowledge_s": _spread(
                    [a.acknowledged_at - a.opened_at for a in alerts if a.acknowledged_at]
                ),
                "list": [_line(a) for a in alerts[-DIGEST_LIST_MAX:]],
            }
        )
    return {"contact_id": contact.contact_id, "name": contact.name, "period": {"start": start, "end": end},
            "relatives": relatives}  # fmt: skip


def digest_text(digest: Report) -> str:
    relatives = digest["relatives"]
    assert isinstance(relatives, list)
    lines = [f"Dear {digest['name']}, this is the carewatch summary of the past week."]
    for r in relatives:
        if not r["alerts"]:
            lines.append(f"{r['name']}: no alerts this week.")
            continue
        lines.append(f"{r['name']}: {r['alerts']} alert(s).")
        lines += [f"  - {item['opened']}: {item['title']} ({item['state']})" for item in r["list"]]
    return "\n".join(lines)


def send_weekly_digests(store: Store, dispatcher: Dispatcher, now: float) -> int:
    """Queue the past week's digest to every family contact, on each of their channels; the number queued."""
    relatives: dict[str, tuple[Contact, list[Resident]]] = {}
    for resident in store.residents():  # a weekly job: one query per resident is affordable
        for contact, _ in store.contacts_of(resident.resident_id):
            if contact.role is ContactRole.FAMILY:
                relatives.setdefault(contact.contact_id, (contact, []))[1].append(resident)
    start = now - WEEK_S
    week = datetime.fromtimestamp(start, UTC).date().isoformat()
    queued = 0
    for channel in store.contact_channels(sorted(relatives)):
        contact, residents = relatives[channel.contact_id]
        digest = family_digest(store, contact, residents, start, now)
        dispatcher.submit(
            Message(
                site_id=residents[0].site_id, alert_id=None, contact_id=contact.contact_id, channel=channel.channel,
                address=channel.address, kind="digest", idempotency_key=f"digest-{contact.contact_id}-{week}-"
                f"{channel.channel}", subject="carewatch: your weekly summary", text=digest_text(digest),
                payload=digest,
            )
        )  # fmt: skip
        queued += 1
    log.info("queued %d weekly digests", queued)
    return queued


def _spread(seconds: list[float]) -> dict[str, float | int | None]:
    if not seconds:
        return {"count": 0, "median": None, "p90": None}
    values = np.asarray(seconds, dtype=np.float64)
    return {"count": len(seconds), "median": float(np.median(values)), "p90": float(np.percentile(values, 90))}


def _line(alert: Alert) -> dict[str, str]:
    opened = datetime.fromtimestamp(alert.opened_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {"opened": opened, "title": alert.title, "severity": alert.severity.value, "state": alert.state.value}
