"""Fast history: the raw/roll-up choice, merging at the watermark, explicit gaps, and the dashboard's endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_support import Served, seed, serve

from carewatch.model import AlertDraft, Batch, ReadingRow, Resident, Severity, Site, SiteKind
from carewatch.storage.base import Bucket, Store
from carewatch.storage.history import MAX_FILLED_BUCKETS, fill_gaps, merge, source_for, stats_spans
from carewatch.storage.retention import RetentionPolicy
from carewatch.storage.rollups import HOUR, MINUTE
from carewatch.storage.sqlite import SqliteStore
from dashboard.auth import AuthConfig

T0 = 1_764_374_400.0  # a midnight UTC


def test_short_windows_read_raw_rows_and_long_ones_a_rollup() -> None:
    assert source_for(3600, 60) is None  # the 1 h chart
    assert source_for(86400, 600) is MINUTE  # 24 h in 10-minute buckets
    assert source_for(7 * 86400, 3600) is HOUR
    assert source_for(30 * 86400, 6 * 3600) is HOUR
    assert source_for(86400, 90) is None  # no roll-up divides 90 s buckets
    assert source_for(86400, 30) is None


def test_merge_combines_buckets_split_by_the_watermark() -> None:
    rolled = [Bucket(0, 2, 1, 3, 2.0), Bucket(600, 4, 2, 8, 5.0)]
    raw = [Bucket(600, 1, 0, 4, 4.0), Bucket(1200, 1, 7, 7, 7.0)]
    assert merge(rolled, raw) == [Bucket(0, 2, 1, 3, 2.0), Bucket(600, 5, 0, 8, 4.8), Bucket(1200, 1, 7, 7, 7.0)]


def test_the_restart_statistics_read_whole_hours_before_the_watermark_from_the_rollup() -> None:
    week, day, hour = T0 - 7 * 86400, 86400, 3600
    end = T0 + 5000  # the replay's start: no whole hour
    assert stats_spans(week, end, day, T0 + 3600) == [(True, week, T0 + 3600), (False, T0 + 3600, end)]
    assert stats_spans(week, end, day, T0 + 86400) == [(True, week, T0 + 3600), (False, T0 + 3600, end)]  # to end
    assert stats_spans(week + 10, end, day, T0) == [(False, week + 10, week + hour), (True, week + hour, T0),
                                                    (False, T0, end)]  # fmt: skip
    assert stats_spans(week, end, day, None) == [(False, week, end)]  # the roll-up never ran
    assert stats_spans(week, end, day, week - hour) == [(False, week, end)]  # nothing of the window rolled up yet
    assert stats_spans(week, end, 600, T0) == [(False, week, end)]  # 10-minute buckets: no whole hours
    assert stats_spans(T0 + 10, T0 + 3000, day, T0 + 7200) == [(False, T0 + 10, T0 + 3000)]  # within an hour


def test_fill_gaps_lists_every_bucket_of_the_window() -> None:
    buckets = [Bucket(120, 1, 1, 1, 1.0), Bucket(300, 2, 1, 2, 1.5)]
    filled = fill_gaps(buckets, 90, 400, 60)  # the first bucket starts before the window (it overlaps it)
    assert [at for at, _ in filled] == [60, 120, 180, 240, 300, 360]
    assert [b for _, b in filled] == [None, buckets[0], None, None, buckets[1], None]
    assert fill_gaps([], 120, 120, 60) == []
    with pytest.raises(ValueError, match="at most"):
        fill_gaps([], 0, 60 * (MAX_FILLED_BUCKETS + 1), 60)


def test_an_offline_device_shows_as_a_gap(store: Store) -> None:
    store.upsert_sites([Site("s1", "Sunrise Home", SiteKind.CARE_INSTITUTION)])
    store.upsert_residents([Resident("r1", "s1", "Wang Fang")])
    online = [t for t in range(0, 48 * 3600, 60) if not 20 * 3600 <= t < 26 * 3600]  # offline 20:00 to 02:00
    store.write_batch(Batch(readings=[ReadingRow(T0 + t, "s1", "w1", "r1", "hr", 70.0, t, False) for t in online]))
    store.refresh_rollups(T0 + 40 * 3600)  # the roll-ups stop at 40 h: the rest is read raw
    end = T0 + 48 * 3600
    for bucket_s in (600, 3600):
        history = store.history("r1", "hr", end - 7 * 86400, end, bucket_s)
        filled = fill_gaps(history, end - 7 * 86400, end, bucket_s)
        seen = [at - T0 for at, b in filled if b is not None]
        assert seen == [t for t in range(0, 48 * 3600, bucket_s) if not 20 * 3600 <= t < 26 * 3600]
        assert sum(b.samples for _, b in filled if b) == len(online)


def test_short_windows_older_than_the_raw_retention_read_the_minute_rollup(store: Store) -> None:
    store.upsert_sites([Site("s1", "Sunrise Home", SiteKind.CARE_INSTITUTION)])
    store.upsert_residents([Resident("r1", "s1", "Wang Fang")])
    day = [ReadingRow(T0 + t, "s1", "w1", "r1", "hr", 60.0 + t % 7, t, False) for t in range(0, 86400, 10)]
    store.write_batch(Batch(readings=day))
    store.refresh_rollups(T0 + 86400 + 700)  # the minutes to past the day's end and its late margin
    store.apply_retention(RetentionPolicy(), T0 + 43 * 86400)  # 43 days on: the raw readings are gone
    assert store.count("readings") == 0
    two = T0 + 2 * 3600  # 02:00 to 03:00 of that day, the 1 h view
    hour = store.history("r1", "hr", two, two + 3600, 60)
    assert [b.start for b in hour] == [two + 60 * i for i in range(60)]
    assert [b.samples for b in hour] == [6] * 60
    assert [b.mean for b in hour] == pytest.approx([sum(60 + (t % 7) for t in range(60 * i, 60 * i + 60, 10)) / 6
                                                    for i in range(120, 180)])  # fmt: skip
    assert store.history("r1", "hr", two + 30, two + 3600, 10) == hour  # finer than a minute: the minutes
    # A window across the horizon: the minute roll-up before it, the raw readings after it.
    store.write_batch(Batch(readings=[ReadingRow(T0 + 86400 + 5, "s1", "w1", "r1", "hr", 99.0, 1, False)]))
    edge = store.history("r1", "hr", T0 + 86400 - 120, T0 + 86400 + 60, 60)
    assert [(b.start - T0, b.samples) for b in edge] == [(86400 - 120, 6), (86400 - 60, 6), (86400, 1)]


def test_the_history_endpoint_fills_gaps_and_serves_30_days(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "carewatch.db")
    store.init_schema()
    seed(store)  # r1: hr and spo2 a minute apart for the last 30 minutes
    with serve(store, AuthConfig(secret_key=b"test-secret")) as (url, app, hub, loop):
        served = Served(url, app, store, hub, loop, {})
        with served.client("family") as client:
            sparse = client.get("/api/residents/r1/history", params={"metric": "hr", "view": "1h"}).json()
            filled = client.get("/api/residents/r1/history", params={"metric": "hr", "view": "1h", "fill": True})
            body = filled.json()
            assert len(body["buckets"]) in (60, 61) and len(sparse["buckets"]) in (30, 31)
            assert sum(b["count"] for b in body["buckets"]) == 30
            gaps = [b for b in body["buckets"] if b["count"] == 0]
            assert gaps and all(b["mean"] is None and b["min"] is None for b in gaps)
            month = client.get("/api/residents/r1/history", params={"metric": "hr", "view": "30d", "fill": True})
            assert month.json()["bucket_s"] == 6 * 3600 and len(month.json()["buckets"]) in (120, 121)
    store.close()


def test_alert_counts_per_day_of_a_site(store: Store) -> None:
    store.upsert_sites([Site("s1", "Sunrise", SiteKind.CARE_INSTITUTION), Site("s2", "Li", SiteKind.HOME)])
    store.upsert_residents([Resident("r1", "s1", "Wang Fang"), Resident("r2", "s2", "Li Wei")])
    for i, (resident, site, day) in enumerate([("r1", "s1", 0), ("r1", "s1", 0), ("r1", "s1", 2), ("r2", "s2", 1)]):
        draft = AlertDraft(resident, site, f"rule{i}", Severity.WARNING, T0 + day * 86400 + 3600 * i, "t", "e", {})
        assert store.raise_alert(draft) is not None
    assert store.alert_counts("s1", T0, T0 + 30 * 86400, 86400) == [(T0, 2), (T0 + 2 * 86400, 1)]
    assert store.alert_counts(None, T0, T0 + 86400 * 2, 86400) == [(T0, 2), (T0 + 86400, 1)]
