"""Not up: getting up is leaving the bed or activity outside the bedroom, in learning and in the check alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.engine import AlertEngine
from alerts.rules import default_rules
from carewatch.model import Batch, Device, DeviceKind, EventRow, Resident, Site, SiteKind

T0 = 1_764_374_400.0  # a UTC midnight
DAY, HOUR = 86_400.0, 3600.0
HOME = Site("h", "Home", SiteKind.HOME, "UTC")
DEVICES = [
    Device("bed", "h", DeviceKind.BED, "r0"),
    Device("pir-bedroom", "h", DeviceKind.MOTION, None, "bedroom"),
    Device("pir-kitchen", "h", DeviceKind.MOTION, None, "kitchen"),
    Device("door-bathroom", "h", DeviceKind.BATHROOM, None, "bathroom"),
]


def engine() -> AlertEngine:
    e = AlertEngine(default_rules())
    e.add_residents([Resident("r0", "h", "R0")], [HOME], DEVICES)
    e.tick(T0)  # the clock's time zone offsets
    return e


def event(day: int, hours: float, device: str, kind: str, value: float = 1.0) -> EventRow:
    return EventRow(T0 + day * DAY + hours * HOUR, "h", device, "r0" if device == "bed" else None, kind, value, 0)


def night_and_morning(day: int) -> list[EventRow]:
    """In bed from 22:30; turning over at 04:10 and 05:20 (the bedroom PIR sees it); up at 07:30, kitchen at 07:35."""
    return [
        event(day - 1, 22.5, "bed", "bed", 1.0),
        event(day, 4 + 10 / 60, "pir-bedroom", "motion"),
        event(day, 5 + 20 / 60, "pir-bedroom", "motion"),
        event(day, 7.5, "bed", "bed", 0.0),
        event(day, 7.5 + 5 / 60, "pir-kitchen", "motion"),
        event(day, 12.0, "pir-kitchen", "motion"),
    ]


def test_turning_over_in_bed_is_not_getting_up() -> None:
    e = engine()
    for day in range(1, 9):  # eight ordinary days learned
        e.process(Batch(events=night_and_morning(day)))
    test_day = 9
    morning = [x for x in night_and_morning(test_day) if x.ts < T0 + test_day * DAY + 6 * HOUR]  # stays in bed
    drafts, _ = e.process(Batch(events=morning))
    assert [d.rule for d in drafts if d.rule == "not_up"] == []
    drafts, _ = e.tick(T0 + test_day * DAY + 8.6 * HOUR)
    assert [(d.rule, d.opened_at) for d in drafts if d.rule == "not_up"] == [
        ("not_up", T0 + test_day * DAY + 8.5 * HOUR)  # usually up at 07:30, alerted 60 minutes later
    ]
    _, cleared = e.process(Batch(events=[event(test_day, 8.7, "bed", "bed", 0.0)]))
    assert [(c.rule, c.at) for c in cleared if c.rule == "not_up"] == [("not_up", T0 + test_day * DAY + 8.7 * HOUR)]


@pytest.mark.parametrize(
    ("device", "kind", "value", "up"),
    [
        ("pir-bedroom", "motion", 1.0, False),  # a sleeper turning over
        ("bed", "bed", 1.0, False),  # back into bed
        ("bed", "bed", 0.0, True),  # leaving the bed
        ("pir-kitchen", "motion", 1.0, True),  # activity outside the bedroom
        ("door-bathroom", "bathroom", 1.0, True),
    ],
)
def test_what_counts_as_getting_up(device: str, kind: str, value: float, up: bool) -> None:
    e = engine()
    start = [event(0, 22.0, "bed", "bed", 0.0 if value == 1.0 else 1.0)] if kind == "bed" else []
    frame = e.signals.derive(e.frame(Batch(events=[*start, event(1, 6.0, device, kind, value)])))
    assert (T0 + DAY + 6 * HOUR in frame.up.ts.tolist()) is up
    assert T0 + DAY + 6 * HOUR in frame.activity.ts.tolist()  # all of them are activity (no activity, long lie)


def test_the_restart_rebuild_learns_getting_up_the_same_way(tmp_path: Path) -> None:
    from carewatch.storage.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "carewatch.db")
    store.init_schema()
    store.upsert_sites([HOME])
    store.upsert_residents([Resident("r0", "h", "R0")])
    store.upsert_devices(DEVICES)
    test_day = 9
    store.write_batch(Batch(events=[x for day in range(1, test_day) for x in night_and_morning(day)]))
    e = engine()
    e.rebuild(store, T0 + test_day * DAY + 4.5 * HOUR)
    e.process(Batch(events=[event(test_day, 4 + 10 / 60, "pir-bedroom", "motion")]))  # turning over: not up
    drafts, _ = e.tick(T0 + test_day * DAY + 8.6 * HOUR)
    assert [(d.rule, d.opened_at) for d in drafts if d.rule == "not_up"] == [
        ("not_up", T0 + test_day * DAY + 8.5 * HOUR)
    ]
