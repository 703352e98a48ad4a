"""History at scale: the roll-up job, history and alert-count queries over raw data and roll-ups, retention."""

from __future__ import annotations

import math
from collections.abc import Sequence

from carewatch.model import ReadingRow
from carewatch.storage import retention, rollups
from carewatch.storage.base import MAX_HISTORY_ROWS, MAX_STATS_ROWS, Bucket, ReadingStats
from carewatch.storage.history import merge as merge_buckets
from carewatch.storage.history import minute_multiple, stats_spans
from carewatch.storage.history import source_for as history_source
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
        self._reaggregate_late(written)
        return written

    def _mark_late(self, cur: Cursor, readings: Sequence[ReadingRow]) -> None:
        """In a batch's transaction: mark the minutes of its readings that the minute roll-up has already passed
        (rollups.late_ranges), so that the job re-aggregates them."""
        if not readings:
            return
        cur.execute(self._sql("SELECT done_until FROM rollup_watermarks WHERE rollup = ?"), (rollups.MINUTE.name,))
        row = cur.fetchone()
        marks = rollups.late_ranges(readings, self._time_out(row[0])) if row is not None else []
        if marks:
            cur.executemany(
                self._sql("INSERT INTO rollup_dirty (resident_id, metric, lo, hi) VALUES (?, ?, ?, ?)"),
                [(m.resident_id, m.metric, self._time_in(m.lo), self._time_in(m.hi)) for m in marks],
            )

    def _reaggregate_late(self, written: dict[str, int]) -> None:
        """Recompute the minutes marked late from the raw readings and then their hours from the minutes, a merged
        range per transaction with the deletion of its marks (a mark written meanwhile stays for the next pass).
        Where retention has cut a table (retention_horizons), nothing before its cut is recomputed from it."""
        rows = self._run(
            f"SELECT id, resident_id, metric, lo, hi FROM rollup_dirty ORDER BY lo LIMIT {rollups.MAX_MARKS_PER_PASS}"
        )
        if not rows:
            return
        marks = [(rollups.LateRange(r[1], r[2], self._time_out(r[3]), self._time_out(r[4])), int(r[0])) for r in rows]
        kept_from = self._kept_from()
        minute, hour = rollups.MINUTE, rollups.HOUR
        from_minute = rollups.ceil_to(kept_from.get("readings", -math.inf), minute.width_s)
        from_hour = rollups.ceil_to(kept_from.get(minute.name, -math.inf), hour.width_s)
        statements = {r: self._sql(rollups.upsert_statement(r, self.backend, one_series=True)) for r in (minute, hour)}
        for late, ids in rollups.merge_marks(marks):
            spans = {
                minute: (max(late.lo, from_minute), late.hi),
                hour: (max(rollups.floor_to(late.lo, hour.width_s), from_hour), rollups.ceil_to(late.hi, hour.width_s)),
            }
            with self._transaction() as cur:  # the buckets and the marks' deletion commit together
                for rollup, (lo, hi) in spans.items():
                    if lo < hi:
                        cur.execute(statements[rollup], (self._time_in(lo), self._time_in(hi), *late[:2]))
                        written[rollup.name] += max(int(cur.rowcount), 0)
                among, params = self._and_in("id", ids)
                cur.execute(
                    self._sql(f"DELETE FROM rollup_dirty WHERE resident_id = ? AND metric = ?{among}"),
                    (*late[:2], *params),
                )

    def _kept_from(self) -> dict[str, float]:
        """table -> where retention last cut it (its rows before may be gone)."""
        rows = self._run("SELECT table_name, kept_from FROM retention_horizons")
        return {name: self._time_out(at) for name, at in rows}

    def _rollup_table(self, rollup: rollups.Rollup) -> str:
        """Where a roll-up's buckets are read from: our table (the full edition reads its continuous aggregate)."""
        return rollup.name

    def rollup_watermark(self, rollup: str) -> float | None:
        rows = self._run("SELECT done_until FROM rollup_watermarks WHERE rollup = ?", (rollup,))
        return self._time_out(rows[0][0]) if rows else None

    def history(self, resident_id: str, metric: str, start: float, end: float, bucket_s: float) -> list[Bucket]:
        rollup = history_source(end - start, bucket_s)
        if rollup is None:  # raw readings; before where retention cut them, the minute roll-up (in whole minutes)
            rollup, width = rollups.MINUTE, minute_multiple(bucket_s)
            kept_from = self._kept_from().get("readings")
            split = start if kept_from is None else rollups.ceil_to(kept_from, width)
        else:  # the roll-up before its watermark, raw readings after it
            width = bucket_width(bucket_s)
            watermark = self.rollup_watermark(rollup.name)
            split = start if watermark is None else watermark
        split = min(max(split, start), end)
        rolled = self._rolled_buckets(rollup, resident_id, metric, start, split, width) if split > start else []
        raw = self.readings_bucketed(resident_id, metric, split, end, bucket_s) if split < end else []
        return merge_buckets(rolled, raw)

    def _rolled_buckets(
        self, rollup: rollups.Rollup, resident_id: str, metric: str, start: float, end: float, width: int
    ) -> list[Bucket]:
        """One resident's metric from a roll-up in epoch-aligned buckets of ``width`` (a multiple of the roll-up's),
        from the roll-up bucket holding ``start`` to ``end``."""
        bucket = rollups.bucket_expression(self.backend, "bucket", width)
        rows = self._run(
            f"SELECT {bucket} AS b, sum(samples), min(min), max(max), sum(total) FROM {self._rollup_table(rollup)}"
            " WHERE resident_id = ? AND metric = ? AND bucket >= ? AND bucket < ?"
            f" GROUP BY b ORDER BY b LIMIT {MAX_HISTORY_ROWS}",
            (resident_id, metric, self._time_in(rollups.floor_to(start, rollup.width_s)), self._time_in(end)),
        )
        return [
            Bucket(self._time_out(b), int(n), float(lo), float(hi), float(total) / int(n))
            for b, n, lo, hi, total in rows
        ]

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
        # Rows a roll-up has not aggregated yet (or will recompute within its late margin, or has a late mark to
        # re-aggregate from) stay until it has.
        oldest_mark = self._run("SELECT min(lo) FROM rollup_dirty")[0][0]
        marked_from = math.inf if oldest_mark is None else self._time_out(oldest_mark)
        for table, rollup in (("readings", rollups.MINUTE), ("readings_1m", rollups.HOUR)):
            watermark = self.rollup_watermark(rollup.name)
            kept_from = -math.inf if watermark is None else watermark - rollup.late_margin_s
            cutoffs[table] = min(cutoffs[table], kept_from, rollups.floor_to(marked_from, rollup.width_s))
        purged: dict[str, Purged] = {}
        for table, column in retention.TIME_COLUMNS.items():
            if math.isinf(cutoffs[table]):
                purged[table] = Purged(0, 0)
                continue
            with self._transaction() as cur:
                purged[table] = self._purge_older(cur, table, column, cutoffs[table])
                cur.execute(
                    self._sql(
                        "INSERT INTO retention_horizons (table_name, kept_from) VALUES (?, ?) ON CONFLICT (table_name)"
                        " DO UPDATE SET kept_from = excluded.kept_from"
                        " WHERE retention_horizons.kept_from < excluded.kept_from"
                    ),
                    (table, self._time_in(cutoffs[table])),
                )
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
