"""Restart: the state is rebuilt from stored data and the live alerts are loaded, so nothing fires twice. On both
storage backends (the `store` fixture: SQLite and a real TimescaleDB)."""

from __future__ import annotations

import numpy as np
import pytest
from alerts_support import (
    DAY,
    HOUR,
    NOW,
    RESIDENTS,
    SITES,
    T0,
    TEST_DAY,
    Stream,
    apply,
    crash_sweep,
    devices,
    end_of,
    engine,
    live,
    register,
    routine,
    scenario,
    sites_read,
    split,
    spo2,
)

from alerts.engine import AlertEngine, Found
from alerts.rules.baseline import BaselineRule
from alerts.rules.behaviour import NotUpRule, local_day
from alerts.rules.trend import TrendRule
from carewatch.model import AlertDraft, Batch, Device, DeviceKind, EventRow, ReadingRow
from carewatch.storage.base import News2Escalation, Store, Threshold, ThresholdContext


def test_conditions_alerted_before_a_restart_do_not_alert_again(store: Store) -> None:
    register(store)
    before = engine()
    history = [
        spo2(NOW - 300, 300, 85.0),  # hypoxic for 5 minutes: spo2_low is live
        Batch(events=[EventRow(NOW - 40, "c1", "sos-r5", "r5", "sos", 1.0, 1)]),  # SOS pressed: live
        Batch(events=[EventRow(NOW - 200, "h1", "water-h1", None, "water_leak", 1.0, 1)]),  # leak: live ...
    ]
    for batch in history:
        store.write_batch(batch)
        apply(store, *before.process(batch))
    # ... and dry again, stored, but the process died before the engine saw it.
    store.write_batch(Batch(events=[EventRow(NOW - 50, "h1", "water-h1", None, "water_leak", 0.0, 2)]))
    assert live(store) == {("r0", "spo2_low"), ("r5", "sos"), ("r1", "water_leak")}

    after = engine()
    raised, cleared = after.rebuild(store, NOW)
    assert raised == [] and [(c.resident_id, c.rule) for c in cleared] == [("r1", "water_leak")]
    apply(store, [], cleared)
    drafts, cleared = after.process(spo2(NOW, 120, 85.0))  # the hypoxia goes on: not raised again
    assert drafts == [] and cleared == []
    drafts, _ = after.process(Batch(events=[EventRow(NOW + 10, "c1", "sos-r5", "r5", "sos", 1.0, 2)]))
    assert drafts == []  # the same call for help, pressed again within a minute
    drafts, cleared = after.process(spo2(NOW + 120, 60, 97.0))  # recovered: the live alert clears
    assert drafts == [] and [(c.resident_id, c.rule) for c in cleared] == [("r0", "spo2_low")]
    # Time-driven: r1's wearable went quiet an hour ago and was alerted by the clock.
    quiet = Batch(readings=[r._replace(resident_id="r1", device_id="w-r1") for r in spo2(NOW - 3600, 10, 97).readings])
    quiet.readings[:] = [r._replace(site_id="h1") for r in quiet.readings]
    store.write_batch(quiet)
    apply(store, *before.process(quiet))
    apply(store, *before.tick(NOW + 180))
    assert ("r1", "device_offline") in live(store)
    again = engine()
    assert again.rebuild(store, NOW + 240) == ([], [])
    assert again.tick(NOW + 300) == ([], [])  # still quiet: already alerted
    drafts, cleared = again.process(Batch(readings=[quiet.readings[0]._replace(ts=NOW + 360)]))
    assert drafts == [] and ("r1", "device_offline") in {(c.resident_id, c.rule) for c in cleared}


def test_what_a_crash_kept_from_being_alerted_is_raised_by_the_rebuild(store: Store) -> None:
    """The process commits an SOS (r5) and a fall its wearable reports (r4), then dies before alerting them. The
    rebuild raises both, at their own times and with their evidence; not r0's hypoxia, alerted and then resolved
    by hand while it goes on, nor r1's leak, alerted, dry again and resolved by the system."""
    register(store)
    before = engine()
    for batch in (
        spo2(NOW - 600, 600, 85.0),  # hypoxic for the last 10 minutes
        Batch(events=[EventRow(NOW - 500, "h1", "water-h1", None, "water_leak", 1.0, 1)]),
        Batch(events=[EventRow(NOW - 300, "h1", "water-h1", None, "water_leak", 0.0, 2)]),
    ):
        store.write_batch(batch)
        apply(store, *before.process(batch))
    hypoxia = next(a for a in store.alerts(live_only=True) if a.rule == "spo2_low")
    store.resolve_alert(hypoxia.alert_id, "nurse", NOW - 420, "on oxygen, being seen")
    assert live(store) == set()
    store.write_batch(Batch(events=[
        EventRow(NOW - 30, "c1", "sos-r5", "r5", "sos", 1.0, 1), EventRow(NOW - 20, "c1", "w-r4", "r4", "fall", 1.0, 1),
    ]))  # fmt: skip

    raised, cleared = engine().rebuild(store, NOW)
    assert sorted((d.resident_id, d.rule, d.opened_at) for d in raised) == [
        ("r4", "fall", NOW - 20), ("r5", "sos", NOW - 30),
    ]  # fmt: skip
    assert cleared == []
    assert {d.rule: d.evidence["events"] for d in raised} == {
        "fall": [[NOW - 20, "fall", 1.0]], "sos": [[NOW - 30, "sos", 1.0]],
    }  # fmt: skip


@pytest.mark.parametrize("down_s", [0.0, 40 * 60.0], ids=["restarted-at-once", "down-40-minutes"])
def test_a_crash_at_any_time_of_the_day_loses_no_alert_and_repeats_none(store: Store, down_s: float) -> None:
    """`crash_sweep`: a rebuild, then its first tick, raise exactly what each crash kept from being alerted and what
    an engine that never stopped raises for the time down, and nothing the process before had alerted."""

    def restart(start: float) -> list[AlertDraft]:
        restarted = engine()
        raised, _ = restarted.rebuild(store, start)
        return raised + restarted.tick(start)[0]

    lost = crash_sweep(store, down_s, restart)
    assert {"sos", "fall", "news2_urgent", "spo2_low", "water_leak", "device_offline"} <= lost


def test_an_episode_reaching_back_before_the_replay_counts_as_alerted(store: Store) -> None:
    """r0 hypoxic for 50 minutes, alerted, resolved by hand 40 minutes ago: the replay (20 minutes) sees the episode
    from its own start, and the rebuild cannot tell it from a new one, so it takes it as the one seen before it."""
    register(store)
    before = engine()
    history = spo2(NOW - 3000, 3000, 85.0)
    store.write_batch(history)
    apply(store, *before.process(history))
    alerted = store.alerts(live_only=True)  # SpO2 85 scores 3: NEWS2 urgent (ward-based) from the SpO2 alone too
    assert sorted(a.rule for a in alerted) == ["news2_urgent", "spo2_low"]
    for alert in alerted:
        store.resolve_alert(alert.alert_id, "nurse", NOW - 2400, "known, being seen")
    assert engine().rebuild(store, NOW) == ([], [])


def test_a_long_lie_through_a_crash_is_raised_by_the_first_tick_after_the_rebuild(store: Store) -> None:
    """r0 lies on the floor after a fall when the process dies at 18:05; it starts again at 18:40, nothing having
    come meanwhile. The rebuild cannot know from its state what was alerted; the stored alerts tell it. Its first
    tick raises what one that never stopped raises then: the long lie, the wearables silent for longer than their
    offline time; and what the process before had alerted not again (the fall itself, a tick before the crash)."""
    register(store)
    day = T0 + TEST_DAY * DAY
    crash, start = day + 18 * HOUR + 300, day + 18 * HOUR + 40 * 60
    (first, _), _ = split(scenario(0).batch(), [crash])
    steady = engine()
    store.write_batch(first)
    apply(store, *steady.process(first))
    apply(store, *steady.tick(crash))
    assert ("r0", "fall") in live(store)

    restarted = engine()
    assert restarted.rebuild(store, start) == ([], [])
    expected = sorted((d.resident_id, d.rule, round(d.opened_at, 3)) for d in steady.tick(start)[0])  # stored: us
    assert sorted((d.resident_id, d.rule, round(d.opened_at, 3)) for d in restarted.tick(start)[0]) == expected
    assert ("r0", "fall_long_lie") in {(r, rule) for r, rule, _ in expected}
    assert restarted.tick(start + 1) == ([], [])


def test_a_restart_restores_whether_each_wearable_is_worn(store: Store) -> None:
    """Stored three hours ago (before the replay's reach): r0's watch worn, then their pendant put on its charger.
    After the restart the pendant's readings are still noise and the watch's still count."""
    register(store)
    pendant = Device("pendant-r0", "h0", DeviceKind.WEARABLE, "r0")
    store.upsert_devices([pendant])
    then = NOW - 3 * HOUR
    store.write_batch(Batch(readings=[
        ReadingRow(then, "h0", "w-r0", "r0", "worn", 1.0, 1, False),
        ReadingRow(then + 30, "h0", "pendant-r0", "r0", "worn", 0.0, 1, False),
    ]))  # fmt: skip
    after = engine()
    after.add_residents(RESIDENTS, SITES, [*devices(), pendant])
    assert after.rebuild(store, NOW) == ([], [])
    noise = [ReadingRow(NOW + 5 * k, "h0", "pendant-r0", "r0", "hr", 30.0, k, False) for k in range(90)]
    drafts, _ = after.process(Batch(readings=spo2(NOW, 120, 85.0).readings + noise))
    # (Both wearables were silent for three hours before this restart, with no alert stored: that is reported.)
    assert [(d.resident_id, d.rule) for d in drafts if d.rule != "device_offline"] == [("r0", "spo2_low")]


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw", "rolled-up"])
def test_a_restarted_engine_alerts_like_one_that_never_stopped(store: Store, rolled_up: bool) -> None:
    """A week of data and the test day up to a restart at 18:05 UTC, when r0 lies on the floor after a fall, r1 is
    in the bathroom and NEWS2 or baseline episodes of others run; then both engines get the rest of the day. With the
    roll-ups up to date (as the running platform keeps them), the learned statistics come from the hour roll-up."""
    register(store)
    s = scenario(0)
    cut = T0 + TEST_DAY * DAY + 18 * HOUR + 5 * 60
    end = end_of(s)
    (first, _), (rest, _) = split(s.batch(), [cut])
    steady = engine()
    store.write_batch(first)
    apply(store, *steady.process(first))
    apply(store, *steady.tick(cut))
    if rolled_up:
        store.refresh_rollups(cut)

    restarted: AlertEngine = engine()
    assert restarted.rebuild(store, cut) == ([], [])
    expected = steady.process(rest), steady.tick(end)
    got = restarted.process(rest), restarted.tick(end)
    assert outcome(*got) == outcome(*expected)
    assert ("r0", "fall_long_lie") in {(d[0], d[1]) for d in outcome(*expected)[0]}


def test_a_worker_rebuilds_from_its_own_sites_rows_like_one_that_never_stopped(store: Store) -> None:
    """The restart at 18:05 of the busy day, by the worker of two of the four sites (h0: r0 on the floor after a
    fall; c1: the care home, r4 and r5): it replays only their rows, and raises and clears for its residents exactly
    what an engine of every resident that never stopped does."""
    register(store)
    s = scenario(0)
    cut = T0 + TEST_DAY * DAY + 18 * HOUR + 5 * 60
    (first, _), (rest, _) = split(s.batch(), [cut])
    steady = engine()
    store.write_batch(first)
    apply(store, *steady.process(first))
    apply(store, *steady.tick(cut))
    mine = {"h0", "c1"}
    worker = engine(mine)
    read = sites_read(store)
    assert worker.rebuild(store, cut) == ([], [])
    assert set(read) == {("c1", "h0")}
    expected = outcome(steady.process(rest), steady.tick(end_of(s)))
    ours = {r.resident_id for r in RESIDENTS if r.site_id in mine}
    got = outcome(worker.process(rest), worker.tick(end_of(s)))
    assert got == tuple([x for x in part if x[0] in ours] for part in expected)
    assert ("r0", "fall_long_lie") in {(d[0], d[1]) for d in got[0]}


def outcome(found: Found, ticked: Found) -> tuple[list[tuple[str, str, float]], list[tuple[str, str, float]]]:
    drafts, cleared = found[0] + ticked[0], found[1] + ticked[1]
    return (
        sorted((d.resident_id, d.rule, round(d.opened_at, 6)) for d in drafts),
        sorted((c.resident_id, c.rule, round(c.at, 6)) for c in cleared),
    )


def test_the_rebuild_learns_getting_up_like_live_learning_past_toilet_visits(store: Store) -> None:
    """A week of routine with toilet visits after 04:00 on half the nights: the rebuild (bed sensors' events, hourly
    activity buckets) learns the same getting-up times as an engine that saw every row, and they are the real ones
    (about 07:00), not the visits."""
    register(store)
    s = Stream(np.random.default_rng(3))
    for day in range(TEST_DAY):
        for r in RESIDENTS:
            routine(s, r.resident_id, day)
    history = s.batch()
    assert sum(e.kind == "bed" and e.value == 0.0 for e in history.events) > 1.4 * TEST_DAY * len(RESIDENTS)
    store.write_batch(history)
    live = engine()
    live.process(history)
    restarted = engine()
    restarted.rebuild(store, T0 + TEST_DAY * DAY + 6 * HOUR)  # after the last night, before anyone's next morning
    learned, rebuilt = live.by_name["not_up"], restarted.by_name["not_up"]
    assert isinstance(learned, NotUpRule) and isinstance(rebuilt, NotUpRule)
    np.testing.assert_array_equal(rebuilt.stamp, learned.stamp)
    np.testing.assert_allclose(rebuilt.up, learned.up)
    residents = np.arange(len(RESIDENTS))
    days = local_day(np.full(len(RESIDENTS), T0 + TEST_DAY * DAY + 12 * HOUR), learned.population.utc_offset)
    usual = learned.usual(residents, days)
    np.testing.assert_allclose(rebuilt.usual(residents, days), usual)
    assert np.all(np.abs(usual - 7 * 60) <= 15), usual  # up at 07:00 +- 15 min; the visits were 04:15-06:30


def test_a_restart_restores_who_is_in_bed_and_the_limits_for_it(store: Store) -> None:
    """r0 (in-bed hr_low 35) went to bed four hours before the restart, before the replayed window; their pulse is 37
    from 15 minutes before the restart, and they get up a minute before it: the replayed readings in bed start no
    run, and the one out of bed alerts at the default 40 two minutes after getting up, as without the restart. (A
    pulse of 37 scores 3: the clinician's NEWS2 escalation says a single 3 does not alert by itself for r0.)"""
    register(store)
    store.set_threshold(Threshold("r0", "hr", 35.0, None, "pulse 38 asleep", T0, "dr:li", ThresholdContext.IN_BED))
    store.set_news2_escalation(News2Escalation("r0", 5, 7, False, "pulse 38 asleep", "dr:li", T0))
    s = Stream(np.random.default_rng(0))
    s.event("r0", NOW - 4 * HOUR, "bed", 1.0, personal="bed")
    s.event("r0", NOW - 60, "bed", 0.0, personal="bed")
    for k in range(20 * 12):
        s.vital("r0", NOW - 900 + 5 * k, "hr", 37.0)
    (before, _), (after, _) = split(s.batch(), [NOW])
    steady = engine()
    steady.apply_thresholds(store.all_thresholds())
    steady.apply_news2_escalations(store.all_news2_escalations())
    store.write_batch(before)
    apply(store, *steady.process(before))
    assert live(store) == set()  # in bed, then a minute out of bed: not yet 2 minutes

    restarted = engine()
    restarted.apply_thresholds(store.all_thresholds())  # as the runtime does before the rebuild
    restarted.apply_news2_escalations(store.all_news2_escalations())
    assert restarted.rebuild(store, NOW) == ([], [])
    expected = [(d.rule, d.opened_at) for d in steady.process(after)[0]]
    assert expected == [("hr_low", NOW - 60 + 120)]
    assert [(d.rule, d.opened_at) for d in restarted.process(after)[0]] == expected


def test_a_restart_in_the_night_keeps_the_resident_in_bed(store: Store) -> None:
    """In bed since long before the replayed window (the state comes from the stored bed events alone)."""
    register(store)
    store.set_threshold(Threshold("r0", "hr", 35.0, None, "pulse 38 asleep", T0, "dr:li", ThresholdContext.IN_BED))
    store.write_batch(Batch(events=[EventRow(NOW - 6 * HOUR, "h0", "bed-r0", "r0", "bed", 1.0, 1)]))
    restarted = engine()
    restarted.apply_thresholds(store.all_thresholds())
    restarted.rebuild(store, NOW)
    s = Stream(np.random.default_rng(0))
    for k in range(10 * 12):
        s.vital("r0", NOW + 5 * k, "hr", 37.0)
    assert [d.rule for d in restarted.process(s.batch())[0]] == []


def day_sums(e: AlertEngine) -> list[tuple[np.ndarray, np.ndarray]]:
    """(newest day, day slots) of every ring of daily sums: the baseline's and the temperature trend's usual."""
    rings = [r.ring for r in e.rules if isinstance(r, BaselineRule)]
    rings += [r.usual.ring for r in e.rules if isinstance(r, TrendRule) and r.usual is not None]
    assert len(rings) == 2
    return [(ring.newest.copy(), ring.sums.copy()) for ring in rings]


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw", "rolled-up"])
def test_the_rebuild_restores_each_day_of_the_learned_baselines(store: Store, rolled_up: bool) -> None:
    """The day sums behind the baselines and the temperature trend's usual level, rebuilt from stored aggregates and
    the replay, equal those of an engine that never stopped: at 05:05 UTC every day's, today's readings before the
    replay included (they were left out); at 01:00 every day's but today's pulse, respiration and SpO2 (the first
    2.5 h of a day: see alerts.rebuild), and yesterday's replayed readings count once (they counted twice). Both
    before r2 takes the wearable off at 06:00 UTC: the stored aggregates count the vital signs it sends off the
    body, which the engine drops, a known limit of the rebuild."""
    register(store)
    data = scenario(0).batch()
    store.write_batch(data)
    today = TEST_DAY + int(T0 // DAY)
    for cut, whole_today in ((TEST_DAY * DAY + 5 * HOUR + 5 * 60, True), (TEST_DAY * DAY + 1 * HOUR, False)):
        (first, _), _ = split(data, [T0 + cut])
        steady = engine()
        steady.process(first)
        restarted = engine()
        if rolled_up:
            store.refresh_rollups(T0 + cut)  # the second cut is earlier: its rebuild reads the roll-up up to it only
        restarted.rebuild(store, T0 + cut)
        for (newest, sums), (expected_newest, expected_sums) in zip(day_sums(restarted), day_sums(steady), strict=True):
            assert (newest == expected_newest).all()
            days = np.arange(sums.shape[1]) != today % sums.shape[1] if not whole_today else slice(None)
            np.testing.assert_allclose(sums[:, days], expected_sums[:, days], rtol=1e-9, atol=1e-6)
