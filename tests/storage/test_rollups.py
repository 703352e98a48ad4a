"""Roll-ups on both backends (SQLite and a real TimescaleDB, Apache edition): incremental, idempotent, late rows."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from carewatch.model import Batch, ReadingRow, Resident, Site, SiteKind
from carewatch.storage import rollups
from carewatch.storage.base import Store
from carewatch.storage.retention import DAY_S, RetentionPolicy
from carewatch.storage.rollups import HOUR, MINUTE, plan, rollup_mode
from carewatch.storage.timescale import TimescaleStore

T0 = 1_764_374_400.0  # a midnight UTC
COLUMNS = "resident_id, metric, bucket, samples, min, max, total, total_sq"


def seed(store: Store) -> None:
    store.upsert_sites([Site("s1", "Sunrise Home", SiteKind.CARE_INSTITUTION)])
    store.upsert_residents([Resident("r1", "s1", "Wang Fang"), Resident("r2", "s1", "Li Wei")])


def reading(ts: float, value: float, resident: str = "r1", metric: str = "hr", artefact: bool = False) -> ReadingRow:
    return ReadingRow(ts, "s1", f"w-{resident}", resident, metric, value, int(ts), artefact)


def three_hours() -> list[ReadingRow]:
    rows = [reading(T0 + 10 * i, 60 + i % 17) for i in range(3 * 360)]  # hr every 10 s
    rows += [reading(T0 + 30 * i, 95 - i % 4, "r2", "spo2") for i in range(3 * 120)]
    rows += [reading(T0 + 15, 250, artefact=True)]  # never aggregated
    return rows


def table(store: Store, name: str) -> list[tuple[Any, ...]]:
    rows = store._run(f"SELECT {COLUMNS} FROM {name} ORDER BY resident_id, metric, bucket")  # type: ignore[attr-defined]
    return [(r[0], r[1], store._time_out(r[2]), *(round(float(v), 6) for v in r[3:])) for r in rows]  # type: ignore[attr-defined]


def test_minute_and_hour_rollups_equal_the_raw_aggregates(store: Store) -> None:
    seed(store)
    store.write_batch(Batch(readings=three_hours()))
    now = T0 + 3 * 3600 + 120
    written = store.refresh_rollups(now)
    assert written == {"readings_1m": 180 * 2, "readings_1h": 3 * 2}
    assert store.rollup_watermark("readings_1m") == T0 + 3 * 3600 + 60  # now - settle, floored to the minute
    assert store.rollup_watermark("readings_1h") == T0 + 3 * 3600
    for rollup, width in (("readings_1m", 60), ("readings_1h", 3600)):
        for resident, metric in (("r1", "hr"), ("r2", "spo2")):
            raw = store.readings_bucketed(resident, metric, T0, T0 + 3 * 3600, width)
            rows = [r for r in table(store, rollup) if r[0] == resident]
            assert [(r[2], r[3], r[4], r[5]) for r in rows] == [(b.start, b.samples, b.min, b.max) for b in raw]
            assert [r[6] / r[3] for r in rows] == pytest.approx([b.mean for b in raw])
    minute = table(store, "readings_1m")
    assert all(r[4] < 250 for r in minute)  # the artefact is left out


def test_a_second_run_and_a_run_after_a_crash_change_nothing(store: Store) -> None:
    now = rolled_up(store)
    before = {name: table(store, name) for name in ("readings_1m", "readings_1h")}
    store.refresh_rollups(now)  # twice: the late margin is recomputed to the same values
    assert {name: table(store, name) for name in before} == before
    # A crash that committed buckets but not the watermark (or lost the watermark): recomputing gives the same.
    store._run("DELETE FROM rollup_watermarks")  # type: ignore[attr-defined]
    store.refresh_rollups(now)
    assert {name: table(store, name) for name in before} == before


def test_a_late_reading_within_the_margin_is_picked_up(store: Store) -> None:
    now = rolled_up(store)
    late = T0 + 3 * 3600 - 300 + 5  # five minutes behind the watermark (the margin is ten)
    store.write_batch(Batch(readings=[reading(late, 140)]))
    store.refresh_rollups(now + 60)
    bucket = next(r for r in table(store, "readings_1m") if r[0] == "r1" and r[2] == late - 5)
    assert (bucket[3], bucket[5]) == (7, 140)  # six readings a minute, and the late one
    hour = next(r for r in table(store, "readings_1h") if r[0] == "r1" and r[2] == T0 + 2 * 3600)
    assert (hour[3], hour[5]) == (361, 140)


def rolled_up(store: Store) -> float:
    """The residents, three_hours() stored and rolled up; the pass's time."""
    seed(store)
    store.write_batch(Batch(readings=three_hours()))
    now = T0 + 3 * 3600 + 120
    store.refresh_rollups(now)
    return now


def late_hour() -> list[ReadingRow]:
    """hr 90 every 10 s through the second hour, 5 s after the rows of three_hours: 6 more readings a minute."""
    return [reading(T0 + 3600 + 10 * i + 5, 90) for i in range(360)]


def raw_aggregates(store: Store, width: int) -> list[tuple[Any, ...]]:
    """r1's hr per bucket from the raw readings, in table()'s shape (without the sums of squares)."""
    raw = store.readings_bucketed("r1", "hr", T0, T0 + 3 * 3600, width)
    return [(b.start, b.samples, b.min, b.max, round(b.mean * b.samples, 6)) for b in raw]


def marks(store: Store) -> int:
    return int(store._run("SELECT count(*) FROM rollup_dirty")[0][0])  # type: ignore[attr-defined]


def rolled(store: Store, name: str) -> list[tuple[Any, ...]]:
    return [r[2:7] for r in table(store, name) if r[:2] == ("r1", "hr")]


def test_rows_older_than_the_watermark_reopen_their_minutes_and_hours(store: Store) -> None:
    now = rolled_up(store)
    spo2 = [r for r in table(store, "readings_1h") if r[0] == "r2"]
    store.write_batch(Batch(readings=late_hour()))  # an hour late: far behind the 10-minute margin
    written = store.refresh_rollups(now + 60)
    assert written["readings_1m"] >= 60 and written["readings_1h"] >= 1
    for name, width in (("readings_1m", 60), ("readings_1h", 3600)):
        assert rolled(store, name) == raw_aggregates(store, width), name
    hour = next(r for r in table(store, "readings_1h") if r[:3] == ("r1", "hr", T0 + 3600))
    assert hour[3] == 720 and hour[6] == sum(60 + i % 17 for i in range(360, 720)) + 90 * 360
    assert [r for r in table(store, "readings_1h") if r[0] == "r2"] == spo2  # another resident's untouched
    assert marks(store) == 0  # the marks are cleared
    before = {name: table(store, name) for name in ("readings_1m", "readings_1h")}
    store.refresh_rollups(now + 120)  # nothing left to re-aggregate: the same tables
    assert {name: table(store, name) for name in before} == before


def test_retention_keeps_late_rows_until_they_are_aggregated(store: Store) -> None:
    now = rolled_up(store)
    store.write_batch(Batch(readings=late_hour()))
    later = now + 43 * DAY_S  # 43 days on: past the raw readings' 42 days
    store.apply_retention(RetentionPolicy(), later)  # before the roll-up has re-aggregated them
    kept = [ts for ts, value in store.readings("r1", "hr", T0, T0 + 3 * 3600) if value == 90]
    assert kept == [r.ts for r in late_hour()]  # not deleted
    store.refresh_rollups(later)
    store.apply_retention(RetentionPolicy(), later + 3600)
    assert store.count("readings") == 0  # now they go: the roll-ups hold them
    assert marks(store) == 0
    hour = next(r for r in table(store, "readings_1h") if r[:3] == ("r1", "hr", T0 + 3600))
    assert hour[3] == 720
    minutes = [r for r in table(store, "readings_1m") if r[:2] == ("r1", "hr") and T0 + 3600 <= r[2] < T0 + 7200]
    assert [r[3] for r in minutes] == [12] * 60


def test_history_reads_rollups_for_long_windows_and_raw_rows_after_the_watermark(store: Store) -> None:
    seed(store)
    store.write_batch(Batch(readings=three_hours()))
    store.refresh_rollups(T0 + 2 * 3600)  # the minutes up to 2 h - settle; the third hour is raw only
    store._run("DELETE FROM readings WHERE time < ?", (store._time_in(T0 + 1800),))  # type: ignore[attr-defined]
    end = T0 + 86400
    history = store.history("r1", "hr", end - 86400, end, 600)
    raw = store.readings_bucketed("r1", "hr", T0, end, 600)
    # The first half hour now exists only in the roll-up; the rest agrees with the raw readings.
    assert [b.start for b in history] == [T0 + 600 * i for i in range(18)]
    assert [b.samples for b in history] == [60] * 18
    assert history[3:] == [pytest.approx(b) for b in raw]
    hourly = store.history("r1", "hr", end - 7 * 86400, end, 3600)
    assert [(b.start, b.samples) for b in hourly] == [(T0, 360), (T0 + 3600, 360), (T0 + 7200, 360)]


def test_the_restart_statistics_read_the_hour_rollup_and_raw_rows_after_its_watermark(store: Store) -> None:
    seed(store)
    rows = three_hours()
    store.write_batch(Batch(readings=rows))
    store.refresh_rollups(T0 + 2 * 3600)  # the hour roll-up holds the first hour
    assert store.rollup_watermark("readings_1h") == T0 + 3600
    end = T0 + 3 * 3600 - 100  # where a replay would start
    kept = [r for r in rows if not r.artefact and r.ts < end]
    expected = {
        (resident, metric): (len(v), sum(v), sum(x * x for x in v))
        for resident, metric in (("r1", "hr"), ("r2", "spo2"))
        for v in [[r.value for r in kept if (r.resident_id, r.metric) == (resident, metric)]]
    }
    # The first hour's raw readings are gone: the statistics still count them (from the roll-up), and the rest once.
    store._run("DELETE FROM readings WHERE time < ?", (store._time_in(T0 + 3600),))  # type: ignore[attr-defined]
    stats = store.reading_stats(T0 - 7 * 86400, end, ["hr", "spo2"], 86400)
    assert {(s.resident_id, s.metric): (s.n, s.total, s.total_sq) for s in stats} == {
        key: pytest.approx(value) for key, value in expected.items()
    }
    assert {s.start for s in stats} == {T0}


def test_plan_slices_are_aligned_and_bounded() -> None:
    assert plan(MINUTE, None, None, T0) == []
    assert plan(MINUTE, None, T0 + 61, T0 + 200) == [(T0 + 60, T0 + 180)]
    assert plan(MINUTE, T0 + 3600, None, T0 + 3661) == [(T0 + 3000, T0 + 3660)]  # watermark - 10 min margin
    assert plan(MINUTE, T0 + 3600, None, T0 + 3000) == []  # nothing to do (the clock went back)
    days = plan(HOUR, None, T0, T0 + 3 * 86400 + 10)
    assert days == [(T0 + d * 86400, T0 + (d + 1) * 86400) for d in range(3)]
    assert len(plan(MINUTE, None, T0, T0 + 1000 * 86400)) == rollups.MAX_SLICES_PER_PASS


def test_late_ranges_mark_the_minutes_behind_the_watermark_per_series() -> None:
    rows = [reading(T0 + 65, 70), reading(T0 + 250, 71), reading(T0 + 130, 95, "r2", "spo2"), reading(T0 + 900, 72)]
    rows += [reading(T0 + 10, 250, artefact=True), reading(T0 + 5, 70)._replace(resident_id=None)]  # never rolled up
    assert rollups.late_ranges(rows, T0 + 600) == [
        rollups.LateRange("r1", "hr", T0 + 60, T0 + 300), rollups.LateRange("r2", "spo2", T0 + 120, T0 + 180)
    ]  # fmt: skip
    assert rollups.late_ranges(rows, T0) == []  # current readings: no mark
    marks = [(rollups.LateRange("r1", "hr", T0 + 60 * a, T0 + 60 * b), i) for i, (a, b) in enumerate(
        [(5, 6), (0, 2), (2, 3), (1, 4), (7, 9)])]  # fmt: skip
    marks.append((rollups.LateRange("r2", "hr", T0, T0 + 60), 5))
    merged = [(late.resident_id, late.lo - T0, late.hi - T0, ids) for late, ids in rollups.merge_marks(marks)]
    assert merged == [("r1", 0, 240, [1, 3, 2]), ("r1", 300, 360, [0]), ("r1", 420, 540, [4]), ("r2", 0, 60, [5])]


def test_a_database_from_before_the_late_marks_gets_their_tables(store: Store) -> None:
    seed(store)
    store._run("DROP TABLE rollup_dirty")  # type: ignore[attr-defined]
    store._run("DROP TABLE retention_horizons")  # type: ignore[attr-defined]
    store.init_schema()  # the next start
    now = rolled_up(store)
    store.write_batch(Batch(readings=late_hour()))
    assert marks(store) == 1
    store.refresh_rollups(now + 60)
    assert rolled(store, "readings_1h") == raw_aggregates(store, 3600)


def test_the_full_edition_uses_native_aggregates_and_the_apache_edition_our_jobs() -> None:
    assert rollup_mode("timescale") == "native"
    assert rollup_mode("apache") == "jobs"
    assert rollup_mode(None) == "jobs"  # SQLite
    assert any("timescaledb.continuous" in s for s in rollups.NATIVE_STATEMENTS)


@pytest.mark.parametrize("store", ["timescaledb"], indirect=True)
def test_this_server_is_the_apache_edition(store: Store) -> None:
    assert rollup_mode(store.license()) == "jobs"  # type: ignore[attr-defined]


# The full edition cannot run here (Debian's build is Apache-only; its source package has no TSL code). What can be
# checked: the server parses the set-up and refuses it for the license alone, and the store's native branch reads
# the continuous aggregates' names and watermark.
LICENSED_ONLY = 'not supported under the current "apache" license'


def test_the_native_set_up_is_refused_for_the_license_not_its_syntax(pg_url: str) -> None:
    init_schema(pg_url)
    # The two aggregate policies and the hour aggregate need the minute aggregate to exist: not checkable here.
    independent = [s for s in rollups.NATIVE_STATEMENTS if "_native" not in s or " FROM readings " in s]
    assert len(independent) == 3
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for statement in independent:
            with pytest.raises(psycopg.errors.FeatureNotSupported, match=LICENSED_ONLY):
                conn.execute(statement)


def test_on_the_full_edition_the_store_reads_the_continuous_aggregates(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_schema(pg_url)  # our tables, as on the Apache edition
    monkeypatch.setattr(TimescaleStore, "license", lambda self: "timescale")
    store = TimescaleStore(pg_url)
    try:
        seed(store)
        store.write_batch(Batch(readings=three_hours()))
        assert store.native_rollups
        assert store.refresh_rollups(T0 + 4 * 3600) == {}  # the aggregates' own policies refresh them
        assert store._rollup_table(MINUTE) == "readings_1m_native"
        # The watermark query runs against this server's catalogue: no aggregate, nothing materialised.
        assert store.rollup_watermark(MINUTE.name) is None
        day = store.history("r1", "hr", T0 + 3 * 3600 - 86400, T0 + 3 * 3600, 600)  # a roll-up window
        assert sum(b.samples for b in day) == 3 * 360  # read from the raw readings until the aggregate has data
    finally:
        store.close()


def init_schema(pg_url: str) -> None:
    store = TimescaleStore(pg_url)
    try:
        store.init_schema()
    finally:
        store.close()
