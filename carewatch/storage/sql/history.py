"""History at scale: the roll-up job, history and alert-count queries over raw data and roll-ups, retention."""

from __future__ import annotations

import math
from collections.abc import Sequence

from carewatch.storage import retention, rollups
from carewatch.storage.base import MAX_HISTORY_ROWS, MAX_STATS_ROWS, Bucket, ReadingStats
from carewatch.storage.history import merge as merge_buckets
from carewatch.storage.history import source_for as history_source
from carewatch.storage.history import stats_spans
from carewatch.storage.retention import Purged, RetentionPolicy
from carewatch.storage.sql._core import Cursor, SqlCore, and_site, bucket_width, placeholders


class HistorySql(SqlCore):
    def refresh_rollups(self, now: float) -> dict[str, int]:
        written: dict[str, int] = {}
        for rollup in rollups.ROLLUPS:
            if rollup.source == "readings":
                limit: float | None = now - rollup.settle_s
                column = "time"
            else:  # a roll-up of a roll-up goes as far as its source is complete
                limit = self.rollup_watermark(rollup.source)
                column = "bucket"
            watermark = self.rollup_watermark(rollup.name)
            oldest = None
            if watermark is None:
                first = self._run(f"SELECT min({column}) FROM {rollup.source}")[0][0]
                oldest = None if first is None else self._time_out(first)
            statement = self._sql(rollups.upsert_statement(rollup, self.backend))
            written[rollup.name] = 0
            for start, end in rollups.plan(rollup, watermark, oldest, limit) if limit is not None else []:
                with self._transaction() as cur:  # the buckets and the watermark commit together
                    cur.execute(statement, (self._time_in(start), self._time_in(end)))
                    written[rollup.name] += max(int(cur.rowcount), 0)
                    cur.execute(
                        self._sql(
                            "INSERT INTO rollup_watermarks (rollup, done_until, updated_at) VALUES (?, ?, ?)"
                            " ON CONFLICT (rollup) DO UPDATE SET done_until = excluded.done_until,"
                            " updated_at = excluded.updated_at WHERE rollup_watermarks.done_until < excluded.done_until"
                        ),
                        (rollup.name, self._time_in(end), self._time_in(now)),
                    )
        return written

    def _rollup_table(self, rollup: rollups.Rollup) -> str:
        """Where a roll-up's buckets are read from: our table (the full edition reads its continuous aggregate)."""
        return rollup.name

    def rollup_watermark(self, rollup: str) -> float | None:
        rows = self._run("SELECT done_until FROM rollup_watermarks WHERE rollup = ?", (rollup,))
        return self._time_out(rows[0][0]) if rows else None

    def history(self, resident_id: str, metric: str, start: float, end: float, bucket_s: float) -> list[Bucket]:
        rollup = history_source(end - start, bucket_s)
        watermark = self.rollup_watermark(rollup.name) if rollup is not None else None
        if rollup is None or watermark is None:
            return self.readings_bucketed(resident_id, metric, start, end, bucket_s)
        split = min(max(watermark, start), end)  # roll-up before the watermark, raw readings after it
        rolled: list[Bucket] = []
        if split > start:
            bucket = rollups.bucket_expression(self.backend, "bucket", bucket_width(bucket_s))
            rows = self._run(
                f"SELECT {bucket} AS b, sum(samples), min(min), max(max), sum(total) FROM {self._rollup_table(rollup)}"
                " WHERE resident_id = ? AND metric = ? AND bucket >= ? AND bucket < ?"
                f" GROUP BY b ORDER BY b LIMIT {MAX_HISTORY_ROWS}",
                (
                    resident_id, metric, self._time_in(rollups.floor_to(start, rollup.width_s)),
                    self._time_in(split),
                ),
            )  # fmt: skip
            rolled = [
                Bucket(self._time_out(b), int(n), float(lo), float(hi), float(total) / int(n))
                for b, n, lo, hi, total in rows
            ]
        raw = self.readings_bucketed(resident_id, metric, split, end, bucket_s) if split < end else []
        return merge_buckets(rolled, raw)

    def reading_stats(self, start: float, end: float, metrics: Sequence[str], bucket_s: float) -> list[ReadingStats]:
        """Whole hours before the hour roll-up's watermark are read from it, the rest from the raw readings: a
        restart learns a week of baselines from hour buckets instead of scanning a week of readings."""
        width = bucket_width(bucket_s)
        metric_in = f"metric IN ({placeholders(metrics)})"
        sources = {
            True: f"SELECT resident_id, metric, {rollups.bucket_expression(self.backend, 'bucket', width)} AS b,"
            f" samples AS n, total, total_sq FROM {self._rollup_table(rollups.HOUR)}"
            f" WHERE bucket >= ? AND bucket < ? AND {metric_in}",
            False: f"SELECT resident_id, metric, {rollups.bucket_expression(self.backend, 'time', width)} AS b,"
            " 1 AS n, value AS total, value * value AS total_sq FROM readings"
            f" WHERE time >= ? AND time < ? AND NOT artefact AND resident_id IS NOT NULL AND {metric_in}",
        }
        spans = stats_spans(start, end, bucket_s, self.rollup_watermark(rollups.HOUR.name))
        params = [p for _, a, b in spans for p in (self._time_in(a), self._time_in(b), *metrics)]
        rows = self._run(
            f"SELECT resident_id, metric, b, sum(n), sum(total), sum(total_sq)"
            f" FROM ({' UNION ALL '.join(sources[rolled] for rolled, _, _ in spans)}) s"
            f" GROUP BY resident_id, metric, b ORDER BY b LIMIT {MAX_STATS_ROWS}",
            tuple(params),
        )
        return [ReadingStats(r[0], r[1], self._time_out(r[2]), int(r[3]), float(r[4]), float(r[5])) for r in rows]

    def alert_counts(self, site_id: str | None, start: float, end: float, bucket_s: float) -> list[tuple[float, int]]:
        bucket = rollups.bucket_expression(self.backend, "opened_at", bucket_width(bucket_s))
        site, params = and_site("site_id", site_id)
        rows = self._run(
            f"SELECT {bucket} AS b, count(*) FROM alerts WHERE opened_at >= ? AND opened_at < ?{site}"
            f" GROUP BY b ORDER BY b LIMIT {MAX_HISTORY_ROWS}",
            (self._time_in(start), self._time_in(end), *params),
        )
        return [(self._time_out(b), int(n)) for b, n in rows]

    def apply_retention(self, policy: RetentionPolicy, now: float) -> dict[str, Purged]:
        cutoffs = policy.cutoffs(now)
        # Rows a roll-up has not aggregated yet (or will recompute within its late margin) stay until it has.
        for table, rollup in (("readings", rollups.MINUTE), ("readings_1m", rollups.HOUR)):
            watermark = self.rollup_watermark(rollup.name)
            kept_from = -math.inf if watermark is None else watermark - rollup.late_margin_s
            cutoffs[table] = min(cutoffs[table], kept_from)
        purged: dict[str, Purged] = {}
        for table, column in retention.TIME_COLUMNS.items():
            if math.isinf(cutoffs[table]):
                purged[table] = Purged(0, 0)
                continue
            with self._transaction() as cur:
                purged[table] = self._purge_older(cur, table, column, cutoffs[table])
        purged.update(self._purge_alerts(cutoffs["alerts"]))
        return purged

    def _purge_older(self, cur: Cursor, table: str, column: str, cutoff: float) -> Purged:
        """Delete the rows of ``table`` whose ``column`` is before ``cutoff`` (TimescaleDB drops whole chunks first)."""
        cur.execute(self._sql(f"DELETE FROM {table} WHERE {column} < ?"), (self._time_in(cutoff),))
        return Purged(0, max(int(cur.rowcount), 0))

    def _purge_alerts(self, cutoff: float) -> dict[str, Purged]:
        """Resolved alerts older than the legal period, with their audit trail; live alerts are always kept."""
        old = "SELECT alert_id FROM alerts WHERE state = 'resolved' AND resolved_at < ?"
        at = self._time_in(cutoff)
        audit = 0
        with self._transaction() as cur:
            for table in ("deliveries", "outbox", "escalations", "alert_snoozes", "alert_transitions"):
                cur.execute(self._sql(f"DELETE FROM {table} WHERE alert_id IN ({old})"), (at,))
                audit += max(int(cur.rowcount), 0)
            cur.execute(self._sql("DELETE FROM deliveries WHERE alert_id IS NULL AND at < ?"), (at,))  # digests
            audit += max(int(cur.rowcount), 0)
            cur.execute(
                self._sql("DELETE FROM outbox WHERE alert_id IS NULL AND state <> 'pending' AND created_at < ?"), (at,)
            )
            audit += max(int(cur.rowcount), 0)
            cur.execute(self._sql(f"DELETE FROM alerts WHERE alert_id IN ({old})"), (at,))
            alerts = max(int(cur.rowcount), 0)
        return {"alerts": Purged(0, alerts), "alert_audit": Purged(0, audit)}
