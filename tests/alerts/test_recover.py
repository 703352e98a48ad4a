"""After a crash: the state the running process saved last (alerts.checkpoint, every few minutes), brought up to date
from the rows stored since (alerts.rebuild.recover). On both storage backends (the `store` fixture: SQLite and a real
TimescaleDB)."""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest
from alerts_support import (
    DAY,
    HOUR,
    NOW,
    RESIDENTS,
    T0,
    TEST_DAY,
    Stream,
    apply,
    crash_sweep,
    end_of,
    engine,
    live,
    register,
    scenario,
    sites_read,
    split,
    spo2,
)

from alerts.engine import AlertEngine, Found
from alerts.rebuild import RECOVER_MAX_S, recover
from carewatch.model import AlertDraft, Batch, EventRow
from carewatch.storage.base import Store

SAVE_EVERY_S = 300.0  # carewatch.config: alert_state_interval_seconds


def saved(e: AlertEngine, pending: Found = ([], [])) -> bytes:
    """What alerts.checkpoint writes (its file format is tested in test_checkpoint.py)."""
    return pickle.dumps((e, pending), protocol=5)


def taken_up(state: bytes) -> tuple[AlertEngine, Found]:
    e, pending = pickle.loads(state)
    return e, pending


def outcome(*found: Found) -> tuple[list[tuple[str, str, float]], list[tuple[str, str, float]]]:
    return (
        sorted((d.resident_id, d.rule, round(d.opened_at, 6)) for f in found for d in f[0]),
        sorted((c.resident_id, c.rule, round(c.at, 6)) for f in found for c in f[1]),
    )


@pytest.mark.parametrize("down_s", [0.0, 40 * 60.0], ids=["restarted-at-once", "down-40-minutes"])
def test_a_crash_at_any_time_of_the_day_loses_no_alert_and_repeats_none(store: Store, down_s: float) -> None:
    """`crash_sweep`, the process saving its state every 5 minutes, each time with the findings of its last batch
    not yet applied: the state saved last, brought up to date from the rows stored since, then the first tick, raise
    exactly what each crash kept from being alerted and what an engine that never stopped raises for the time down,
    and nothing the process before had alerted."""
    states: list[bytes] = []

    def save(at: float, e: AlertEngine, pending: Found) -> None:
        states.append(saved(e, pending))

    def restart(start: float) -> list[AlertDraft]:
        restarted, pending = taken_up(states[-1])
        recovered = recover(restarted, store, start, pending)
        assert recovered is not None
        return recovered[0] + restarted.tick(start)[0]

    lost = crash_sweep(store, down_s, restart, save, SAVE_EVERY_S)
    assert {"sos", "fall", "news2_urgent", "spo2_low", "water_leak", "device_offline"} <= lost


@pytest.mark.parametrize("crash_h", [9.05, 18.1], ids=["09:03-in-a-hypoxia", "18:06-on-the-floor"])
def test_an_engine_recovered_after_a_crash_alerts_exactly_like_one_that_never_stopped(
    store: Store, crash_h: float
) -> None:
    """Saved 4 minutes before the crash (at 09:03 r0's hypoxia with its NEWS2 episodes under way; at 18:06 r0 on
    the floor after a fall, r1 in the bathroom), down 10 minutes, then the rest of the day: every alert and clearance
    as from an engine that never stopped, to the instant (the rebuild approximates here, the saved state does not)."""
    register(store)
    s = scenario(0)
    crash = T0 + TEST_DAY * DAY + crash_h * HOUR
    save, start = crash - 240, crash + 600
    (before, _), (since, _), (rest, _) = split(s.batch(), [save, crash])
    steady = engine()
    for part, until in ((before, save), (since, crash)):
        store.write_batch(part)
        found = steady.process(part), steady.tick(until)
        if until == save:
            state = saved(steady)
        for f in found:
            apply(store, *f)

    restarted, pending = taken_up(state)
    assert recover(restarted, store, start, pending) == ([], [])
    expected = outcome(steady.tick(start), steady.process(rest), steady.tick(end_of(s)))
    assert outcome(restarted.tick(start), restarted.process(rest), restarted.tick(end_of(s))) == expected
    assert {"fall_long_lie", "news2_urgent"} & {rule for _, rule, _ in expected[0]}


def test_rows_a_device_sent_late_after_the_save_are_replayed(store: Store) -> None:
    """r1's wearable, out of reach for an hour, sends its backlog after the save: a hypoxia from 60 to 40 minutes
    before the save. The process stores it, and dies before evaluating it. Recovered, the engine raises it as the one
    that never stopped did, though the rows are older than the replay's start for every other device."""
    register(store)
    steady = engine()
    recent = spo2(NOW - 3600, 3600, 97.0)  # r0, up to the save
    s = Stream(np.random.default_rng(1))
    for k in range(360):
        s.vital("r1", NOW - 4200 + 5 * k, "spo2", 97.0 if k < 120 else 85.0)  # hypoxic from NOW - 3600 on
    old, backlog = split(s.batch(), [NOW - 3600])
    for part in (old[0], recent):
        store.write_batch(part)
        apply(store, *steady.process(part))
    state = saved(steady)
    store.write_batch(backlog[0])
    expected = outcome(steady.process(backlog[0]))
    assert ("r1", "spo2_low") in {(r, rule) for r, rule, _ in expected[0]}

    restarted, pending = taken_up(state)
    recovered = recover(restarted, store, NOW + 30, pending)
    assert recovered is not None and outcome(recovered) == expected


def test_findings_not_applied_at_the_save_are_raised_unless_alerted_since(store: Store) -> None:
    """Saved with two findings the lifecycle had not applied: r5's SOS, never applied (the process died), and r0's
    hypoxia, applied after the save and resolved by hand since. The SOS is raised, with its evidence; the hypoxia,
    alerted already, is not."""
    register(store)
    before = engine()
    sos = Batch(events=[EventRow(NOW - 30, "c1", "sos-r5", "r5", "sos", 1.0, 1)])
    hypoxia = spo2(NOW - 300, 300, 85.0)
    pending: Found = ([], [])
    for batch in (hypoxia, sos):
        store.write_batch(batch)
        found = before.process(batch)
        pending[0].extend(found[0])
    state = saved(before, pending)
    apply(store, [d for d in pending[0] if d.rule == "spo2_low"], [])
    (alert,) = store.alerts(live_only=True)
    store.resolve_alert(alert.alert_id, "nurse", NOW - 10, "on oxygen, being seen")

    restarted, pending = taken_up(state)
    recovered = recover(restarted, store, NOW, pending)
    assert recovered is not None
    raised, cleared = recovered
    assert [(d.resident_id, d.rule, d.opened_at) for d in raised] == [("r5", "sos", NOW - 30)]
    assert raised[0].evidence["events"] == [[NOW - 30, "sos", 1.0]] and cleared == []
    assert live(store) == set()


@pytest.mark.parametrize("case", ["store behind the state", "too much since"])
def test_the_rebuild_does_instead_where_the_state_cannot_be_brought_up_to_date(
    store: Store, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The database restored from a backup older than the save (rows the state had are gone), or more than
    RECOVER_MAX_S of data stored since the save (the rebuild reads less): None, and why is logged."""
    register(store)
    e = engine()
    history = spo2(NOW - 600, 600, 97.0)
    e.process(history)
    state = saved(e)
    if case == "too much since":
        store.write_batch(history)
        store.write_batch(spo2(NOW, RECOVER_MAX_S + 120, 97.0))
    restarted, pending = taken_up(state)
    with caplog.at_level(logging.WARNING, "alerts.rebuild"):
        assert recover(restarted, store, NOW + RECOVER_MAX_S + 180, pending) is None
    assert "the saved alert state is not used" in caplog.text
    assert ("fewer rows stored" if case == "store behind the state" else "came since it") in caplog.text


def test_a_row_stored_after_the_save_a_little_older_than_what_the_state_had_is_replayed(store: Store) -> None:
    """r0's wearable reports a fall 30 s before the save, but the message comes late, after its next readings:
    stored after the save, with a time before the newest row the state had from that wearable. It is replayed and
    raised, as the engine that never stopped raised it."""
    register(store)
    steady = engine()
    readings = spo2(NOW - 600, 600, 97.0)  # w-r0, up to the save
    store.write_batch(readings)
    apply(store, *steady.process(readings))
    state = saved(steady)
    fall = Batch(events=[EventRow(NOW - 30, "h0", "w-r0", "r0", "fall", 1.0, 7)])
    store.write_batch(fall)
    expected = outcome(steady.process(fall))
    assert expected[0] == [("r0", "fall", NOW - 30)]

    restarted, pending = taken_up(state)
    recovered = recover(restarted, store, NOW + 5, pending)
    assert recovered is not None and outcome(recovered) == expected


def test_a_worker_recovers_from_its_own_sites_rows_like_one_that_never_stopped(store: Store) -> None:
    """The worker of two of the four sites (h0: r0 on the floor after a fall; c1: the care home) saves at 18:02 and
    crashes at 18:06: it replays only its sites' rows, and then raises and clears for its residents exactly what an
    engine of every resident that never stopped does."""
    register(store)
    s = scenario(0)
    save, crash = T0 + TEST_DAY * DAY + 18 * HOUR + 120, T0 + TEST_DAY * DAY + 18 * HOUR + 360
    (before, _), (since, _), (rest, _) = split(s.batch(), [save, crash])
    mine = {"h0", "c1"}
    steady, worker = engine(), engine(mine)
    for part, until in ((before, save), (since, crash)):
        store.write_batch(part)
        for e in (steady, worker):
            found = e.process(part), e.tick(until)
            if e is steady:
                for f in found:
                    apply(store, *f)
        if until == save:
            state = saved(worker)
    read = sites_read(store)
    restarted, pending = taken_up(state)
    assert recover(restarted, store, crash, pending) == ([], [])
    assert read and set(read) == {("c1", "h0")}
    ours = {r.resident_id for r in RESIDENTS if r.site_id in mine}
    expected = outcome(steady.process(rest), steady.tick(end_of(s)))
    got = outcome(restarted.process(rest), restarted.tick(end_of(s)))
    assert got == tuple([x for x in part if x[0] in ours] for part in expected)
    assert ("r0", "fall_long_lie") in {(d[0], d[1]) for d in got[0]}
