"""Reports: the service report of a site for a period (the counted figures a civil-affairs bureau publishes) and the
weekly digest of a family contact. Plain dicts, JSON-ready; the dashboard serves them and draws the charts."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import numpy as np

from alerts.notify.base import Message
from alerts.notify.dispatch import Dispatcher
from carewatch.model import Alert, Contact, ContactRole, Resident
from carewatch.storage.base import Store

log = logging.getLogger(__name__)

WEEK_S = 7 * 86_400.0
DIGEST_LIST_MAX = 20  # alerts listed by name in one digest; the counts cover them all

Report = dict[str, object]
# The delivery outcomes that were a try to send (the rest are messages held back, refused by a full queue, deferred
# or withdrawn: listed by channel, not counted as attempts).
ATTEMPTED = frozenset({"delivered", "retry", "failed", "dead"})


def service_report(store: Store, site_id: str | None, start: float, end: float) -> Report:
    """Residents covered, alerts by rule and severity, time to acknowledge (median, p90), escalations, deliveries:
    every alert, stage and attempt of the period, however many (counted by the store)."""
    tallies = store.alert_tallies(site_id, start, end)
    escalations = store.escalation_tally(site_id, start, end)
    by_channel: dict[str, dict[str, int]] = {}
    for channel, status, attempts in store.delivery_tallies(site_id, start, end):
        by_channel.setdefault(channel, {})[status] = attempts
    return {
        "site_id": site_id,
        "period": {"start": start, "end": end},
        "residents_covered": len(store.residents(site_id)),
        "residents_with_alerts": store.residents_alerted(site_id, start, end),
        "alerts": {
            "total": sum(t.alerts for t in tallies),
            "by_rule": _counted((t.rule, t.alerts) for t in tallies),
            "by_severity": _counted((t.severity.value, t.alerts) for t in tallies),
            "by_rule_and_severity": [
                {"rule": t.rule, "severity": t.severity.value, "count": t.alerts}
                for t in sorted(tallies, key=lambda t: (t.rule, t.severity.value))
            ],
            "acknowledged": sum(t.acknowledged for t in tallies),
            "resolved_automatically": sum(t.resolved_automatically for t in tallies),
            "still_open": sum(t.live for t in tallies),
        },
        "time_to_acknowledge_s": _spread(store.acknowledge_delays(site_id, start, end)),
        "escalations": {
            "total": sum(escalations.by_target.values()),
            "alerts_escalated": escalations.alerts,
            "by_target": escalations.by_target,
        },
        "deliveries": {
            "attempts": sum(n for c in by_channel.values() for status, n in c.items() if status in ATTEMPTED),
            "by_channel": by_channel,
        },
    }


def family_digest(store: Store, contact: Contact, residents: Sequence[Resident], start: float, end: float) -> Report:
    """What happened to a family contact's relatives in the period, in words a family reads."""
    relatives = []
    for resident in residents:
        site, who = resident.site_id, resident.resident_id
        tallies = store.alert_tallies(site, start, end, who)
        relatives.append(
            {
                "resident_id": who,
                "name": resident.name,
                "alerts": sum(t.alerts for t in tallies),
                "by_rule": _counted((t.rule, t.alerts) for t in tallies),
                "time_to_acknowledge_s": _spread(store.acknowledge_delays(site, start, end, who)),
                "list": [_line(a) for a in store.alerts_raised(site, start, end, who, DIGEST_LIST_MAX)],
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


def _counted(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Counts summed by key, in key order."""
    counts: Counter[str] = Counter()
    for key, n in pairs:
        counts[key] += n
    return dict(sorted(counts.items()))


def _spread(seconds: list[float]) -> dict[str, float | int | None]:
    if not seconds:
        return {"count": 0, "median": None, "p90": None}
    values = np.asarray(seconds, dtype=np.float64)
    return {"count": len(seconds), "median": float(np.median(values)), "p90": float(np.percentile(values, 90))}


def _line(alert: Alert) -> dict[str, str]:
    opened = datetime.fromtimestamp(alert.opened_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {"opened": opened, "title": alert.title, "severity": alert.severity.value, "state": alert.state.value}
