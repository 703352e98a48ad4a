"""What reports read (alerts.reports): the alerts raised in a period (by when carewatch raised them, not by their
condition's time: a backlog flushed late counts in the period it was raised, and a period past stays as it was)
counted by rule and severity, the delays to acknowledge them, the escalation stages fired and the delivery attempts
made, counted in SQL. Nothing is capped: a yearly report of a district counts every row, and the one figure counted
outside SQL (the delays, for their median and percentiles) is read whole, a page at a time."""

from __future__ import annotations

from typing import Any

from carewatch.model import Alert, Severity
from carewatch.storage.base import AlertTally, EscalationTally
from carewatch.storage.sql._core import ALERT_COLUMNS, SqlCore, and_site

# The delays read per query: one float per acknowledged alert, so a page is 400 KiB and a year of a district (a
# million alerts) is 20 queries.
DELAY_PAGE_ROWS = 50_000


class ReportsSql(SqlCore):
    def alert_tallies(
        self, site_id: str | None, start: float, end: float, resident_id: str | None = None
    ) -> list[AlertTally]:
        where, params = self._raised_in(site_id, start, end, resident_id)
        rows = self._run(
            "SELECT rule, severity, count(*), count(acknowledged_at),"
            " sum(CASE WHEN resolved_by = 'system' THEN 1 ELSE 0 END),"
            " sum(CASE WHEN state <> 'resolved' THEN 1 ELSE 0 END)"
            f" FROM alerts{where} GROUP BY rule, severity ORDER BY rule, severity",
            params,
        )
        return [AlertTally(r[0], Severity(r[1]), *(int(n) for n in r[2:])) for r in rows]

    def residents_alerted(self, site_id: str | None, start: float, end: float) -> int:
        where, params = self._raised_in(site_id, start, end)
        return int(self._run(f"SELECT count(DISTINCT resident_id) FROM alerts{where}", params)[0][0])

    def acknowledge_delays(
        self, site_id: str | None, start: float, end: float, resident_id: str | None = None
    ) -> list[float]:
        where, params = self._raised_in(site_id, start, end, resident_id)
        delay = f"{self.epoch_of.format('acknowledged_at')} - {self.epoch_of.format('raised_at')}"
        delays: list[float] = []
        after = -1
        while True:  # pages by alert id: the same rows whatever the page size
            rows = self._run(
                f"SELECT alert_id, {delay} FROM alerts{where} AND acknowledged_at IS NOT NULL AND alert_id > ?"
                f" ORDER BY alert_id LIMIT {DELAY_PAGE_ROWS}",
                (*params, after),
            )
            delays += [float(r[1]) for r in rows]
            if len(rows) < DELAY_PAGE_ROWS:
                return delays
            after = int(rows[-1][0])

    def alerts_raised(
        self, site_id: str | None, start: float, end: float, resident_id: str | None = None, limit: int = 20
    ) -> list[Alert]:
        where, params = self._raised_in(site_id, start, end, resident_id)
        rows = self._run(
            f"SELECT {ALERT_COLUMNS} FROM alerts{where} ORDER BY raised_at DESC, alert_id DESC LIMIT ?",
            (*params, limit),
        )
        return [self._alert(r) for r in reversed(rows)]

    def escalation_tally(self, site_id: str | None, start: float, end: float) -> EscalationTally:
        site, params = and_site("a.site_id", site_id)
        fired = (
            "FROM escalations e JOIN alerts a ON a.alert_id = e.alert_id"
            f" WHERE e.fired_at >= ? AND e.fired_at < ?{site}"
        )
        period = (self._time_in(start), self._time_in(end), *params)
        by_target = self._run(f"SELECT e.target, count(*) {fired} GROUP BY e.target ORDER BY e.target", period)
        [(alerts,)] = self._run(f"SELECT count(DISTINCT e.alert_id) {fired}", period)
        return EscalationTally({target: int(n) for target, n in by_target}, int(alerts))

    def delivery_tallies(self, site_id: str | None, start: float, end: float) -> list[tuple[str, str, int]]:
        site, params = and_site("site_id", site_id)
        rows = self._run(
            f"SELECT channel, status, count(*) FROM deliveries WHERE at >= ? AND at < ?{site}"
            " GROUP BY channel, status ORDER BY channel, status",
            (self._time_in(start), self._time_in(end), *params),
        )
        return [(channel, status, int(n)) for channel, status, n in rows]

    def _raised_in(
        self, site_id: str | None, start: float, end: float, resident_id: str | None = None
    ) -> tuple[str, tuple[Any, ...]]:
        """The WHERE clause of the alerts in the period (of a site, of a resident), and its parameters."""
        where = " WHERE raised_at >= ? AND raised_at < ?"
        params: tuple[Any, ...] = (self._time_in(start), self._time_in(end))
        for column, value in (("site_id", site_id), ("resident_id", resident_id)):
            if value is not None:
                where += f" AND {column} = ?"
                params += (value,)
        return where, params
