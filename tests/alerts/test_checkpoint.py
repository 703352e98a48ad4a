"""The alert core's state across a restart (alerts.checkpoint): taken up only when intact, signed and of the same code
and partition; as it was after a clean stop with nothing stored since, and then the engine goes on exactly as one that
never stopped. (Saved while running and brought up to date after a crash: tests/alerts/test_recover.py.)"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import json
import logging
import pickle
import shutil
import struct
from pathlib import Path

import pytest
from alerts_support import DAY, HOUR, NOW, T0, TEST_DAY, apply, end_of, engine, live, register, scenario, split, spo2

from alerts import checkpoint
from alerts.engine import AlertEngine
from alerts.rebuild import resume
from carewatch.model import Batch, EventRow
from carewatch.storage.base import Store

KEY = b"a deployment's secret key"
STAMP = checkpoint.Stamp(code="c0de", partition=0, partitions=1, devices="d1", clean=True)


def saved(tmp_path: Path, e: AlertEngine | None = None, stamp: checkpoint.Stamp = STAMP, key: bytes = KEY) -> Path:
    path = tmp_path / "alert-state.bin"
    checkpoint.save(path, e or engine(), stamp, key)
    return path


def taken_up(path: Path) -> AlertEngine:
    """The engine of a state saved at a clean stop with nothing stored since."""
    state = checkpoint.load(path, STAMP, KEY)
    assert state is not None and state.untouched and state.pending == ([], [])
    return state.engine


def test_an_engine_taken_up_after_each_stop_alerts_exactly_like_one_that_never_stopped(tmp_path: Path) -> None:
    """The simulated week and test day (every rule has a reason to fire) in hourly parts, the clock ticking at the
    end of each; one engine runs through, the other is saved and taken up again four times: in r0's hypoxia (its
    SpO2 and NEWS2 episodes under way), with r0 on the floor after a fall while r1 is in the bathroom, and at two
    quiet hours. Every alert, explanation and piece of evidence, and every clearance, is the same."""
    day = T0 + TEST_DAY * DAY  # r0 lives in UTC, r1 an hour ahead (alerts_support.incidents)
    stops = {day + 3 * HOUR, day + 9 * HOUR + 180, day + 18 * HOUR + 300, day + 23 * HOUR}
    cuts = sorted({day + h * HOUR for h in range(1, 30)} | stops)
    s = scenario(0)
    steady, stopped = engine(), engine()
    found: dict[str, list[object]] = {"steady": [], "stopped": []}
    for part, until in split(s.batch(), cuts):
        now = min(until, end_of(s))
        for name, e in (("steady", steady), ("stopped", stopped)):
            found[name] += [*e.process(part), *e.tick(now)]
        if until in stops:
            path = saved(tmp_path, stopped)
            again = taken_up(path)
            assert again is not stopped and not path.exists()
            stopped = again
    assert found["stopped"] == found["steady"]
    raised = {(d.resident_id, d.rule) for drafts in found["steady"][::2] for d in drafts}  # type: ignore[attr-defined]
    rules = {"fall_long_lie", "bathroom_long", "no_activity", "not_up", "news2_emergency", "temp_rising", "not_worn"}
    assert rules <= {rule for _, rule in raised}


def test_conditions_alerted_before_a_clean_stop_do_not_alert_again(store: Store, tmp_path: Path) -> None:
    """What `resume` adds to a state taken up: the live alerts. Hypoxia alerted, then a leak whose end the lifecycle
    had not applied when the process stopped: after the start the hypoxia goes on without a new alert, and the leak's
    alert is reported cleared."""
    register(store)
    before = engine()
    for batch in (spo2(NOW - 300, 300, 85.0), Batch(events=[EventRow(NOW - 200, "h1", "water-h1", None, "water_leak",
                                                                     1.0, 1)])):  # fmt: skip
        store.write_batch(batch)
        apply(store, *before.process(batch))
    dry = Batch(events=[EventRow(NOW - 50, "h1", "water-h1", None, "water_leak", 0.0, 2)])
    store.write_batch(dry)
    _, unapplied = before.process(dry)
    assert [(c.resident_id, c.rule) for c in unapplied] == [("r1", "water_leak")]
    assert live(store) == {("r0", "spo2_low"), ("r1", "water_leak")}

    after = taken_up(saved(tmp_path, before))
    raised, cleared = resume(after, store, NOW)
    assert raised == [] and [(c.resident_id, c.rule) for c in cleared] == [("r1", "water_leak")]
    assert after.process(spo2(NOW, 120, 85.0)) == ([], [])


def test_what_the_time_stopped_made_true_is_alerted_by_the_next_tick(store: Store, tmp_path: Path) -> None:
    """r0 lies on the floor after a fall when the process stops at 18:05; it starts again at 18:40, nothing having
    come meanwhile. The state is exact up to the stop, so `resume` marks nothing silently (the rebuild would: it
    cannot know what was alerted), and the first tick raises what one that never stopped raises then: the long lie,
    and the wearables silent for longer than their offline time."""
    day = T0 + TEST_DAY * DAY
    stop, start = day + 18 * HOUR + 300, day + 18 * HOUR + 40 * 60
    (first, _), _ = split(scenario(0).batch(), [stop])
    steady = engine()
    steady.process(first)
    steady.tick(stop)
    after = taken_up(saved(tmp_path, steady))
    assert resume(after, store, start) == ([], [])
    expected = sorted((d.resident_id, d.rule, d.opened_at) for d in steady.tick(start)[0])
    assert sorted((d.resident_id, d.rule, d.opened_at) for d in after.tick(start)[0]) == expected
    assert ("r0", "fall_long_lie") in {(r, rule) for r, rule, _ in expected}


@pytest.mark.parametrize("field", ["code", "partition", "partitions"])
def test_a_state_saved_under_another_stamp_is_not_taken_up(
    tmp_path: Path, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    changed = dataclasses.replace(STAMP, **{field: 7 if field.startswith("partition") else "other"})
    path = saved(tmp_path)
    with caplog.at_level(logging.INFO, "alerts.checkpoint"):
        assert checkpoint.load(path, changed, KEY) is None
    assert not path.exists()
    assert f"out of date ({field} changed since)" in caplog.text


@pytest.mark.parametrize("change", ["rows stored since", "saved while running"])
def test_a_state_not_left_by_a_clean_stop_as_it_is_now_is_taken_up_to_be_brought_up_to_date(
    tmp_path: Path, change: str
) -> None:
    """With the findings the lifecycle had not applied at the save (alerts.rebuild.recover replays the rest)."""
    e = engine()
    pending = e.process(spo2(NOW - 300, 300, 85.0))
    assert [d.rule for d in pending[0]] == ["spo2_low"]
    stamp = dataclasses.replace(STAMP, clean=False) if change == "saved while running" else STAMP
    path = tmp_path / "alert-state.bin"
    checkpoint.save(path, e, stamp, KEY, pending)
    state = checkpoint.load(path, dataclasses.replace(STAMP, devices="d2") if change == "rows stored since" else STAMP,
                            KEY)  # fmt: skip
    assert state is not None and not state.untouched and not path.exists()
    assert state.pending == pending and state.engine.devices_seen() == e.devices_seen()


def test_a_file_that_is_damaged_or_signed_with_another_key_is_refused_unread(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not unpickled: a forged state, well formed but signed with another key, whose unpickling would run code, runs
    nothing (as it does when the key is the one it was signed with)."""
    marker = tmp_path / "ran"
    cases = {
        "forged": (_forged(tmp_path / "forged.bin", b"an attacker's key", marker), KEY),
        "other key": (saved(tmp_path / "k"), b"another key"),
        "flipped": (_flipped(saved(tmp_path / "f")), KEY),
        "truncated": (_truncated(saved(tmp_path / "t")), KEY),
        "not a state": (_written(tmp_path / "x.bin", b"hello"), KEY),
    }
    for name, (path, key) in cases.items():
        caplog.clear()
        with caplog.at_level(logging.WARNING, "alerts.checkpoint"):
            assert checkpoint.load(path, STAMP, key) is None, name
        assert not path.exists(), name
        assert "is not used" in caplog.text, name
    assert checkpoint.load(tmp_path / "missing.bin", STAMP, KEY) is None
    assert not marker.exists()
    checkpoint.load(_forged(tmp_path / "forged.bin", b"an attacker's key", marker), STAMP, b"an attacker's key")
    assert marker.exists()


def test_the_registry_records_come_back_as_they_were(tmp_path: Path) -> None:
    """Residents, sites and devices are saved as field tuples (fast to pickle) and come back as the records they
    were, in their positions, without the registry supplying them again."""
    e = engine()
    before = e.population
    after = taken_up(saved(tmp_path, e)).population
    assert after.residents == before.residents and len(after.residents) == 6
    assert after.sites == before.sites and after.sites
    assert after.devices == before.devices and all(type(d) is type(before.devices[0]) for d in after.devices)
    assert after.update(before.residents, list(before.sites.values()), before.devices) == []
    assert after.device_ids == before.device_ids


def test_the_saved_state_holds_no_batch() -> None:
    """Per-batch caches (the evidence index, the threshold rules' and NEWS2's shared passes over the last batch) are
    left out: they are not state, and the last batch may be a replay's 200,000 rows."""
    e = engine()
    e.process(scenario(0).batch())
    frames = _Frames(io.BytesIO(), protocol=5)
    frames.dump(e)
    assert frames.found == []


class _Frames(pickle.Pickler):
    """A pickler that notes every batch (alerts.frame.Frame and its parts) it is asked to write."""

    def __init__(self, file: io.BytesIO, protocol: int) -> None:
        super().__init__(file, protocol)
        self.found: list[str] = []

    def persistent_id(self, obj: object) -> None:
        if type(obj).__module__ == "alerts.frame":
            self.found.append(type(obj).__name__)
        return None


def test_the_file_is_written_whole_or_not_at_all_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = saved(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alert-state.bin"]  # no partial file left


def test_a_state_that_missed_stored_rows_is_found_out() -> None:
    """Before saving, the stop compares the engine's newest row of each device with the store's: rows stored that
    this process did not evaluate (another worker on its partition) leave it incomplete."""
    e = engine()
    started = NOW - 600
    e.process(spo2(NOW - 60, 60, 97.0))  # r0's wearable, w-r0, up to NOW - 5
    had = e.devices_seen()["w-r0"]
    stored = {
        "w-r0": had + 1e-6,  # the same row, its time rounded to microseconds by the store
        "w-r1": NOW - 30,  # stored by another worker: the engine never had it
        "w-r2": started - 27 * HOUR,  # silent since before the start's look-back: no state to miss
        "elsewhere": NOW,  # not this worker's device
    }
    owned = ["w-r0", "w-r1", "w-r2", "w-r3"]
    assert checkpoint.unseen(e, stored, owned, started) == ["w-r1"]
    assert checkpoint.unseen(e, {**stored, "w-r0": had + 1.0}, owned, started) == ["w-r0", "w-r1"]


def test_a_save_that_fails_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pickle, "dump", disk_full)
    with pytest.raises(OSError, match="No space"):
        saved(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_devices_digest_covers_the_owned_devices_newest_stored_times() -> None:
    seen = {"w1": 100.0, "w2": 200.0, "other": 300.0}
    base = checkpoint.devices_digest(seen, ["w1", "w2", "never-stored"])
    assert checkpoint.devices_digest({**seen, "other": 400.0}, ["w2", "w1", "never-stored"]) == base
    assert checkpoint.devices_digest({**seen, "w2": 200.5}, ["w1", "w2"]) != base
    assert checkpoint.devices_digest({**seen, "w3": 1.0}, ["w1", "w2", "w3"]) != base


def test_the_code_digest_changes_with_any_source_the_state_depends_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(checkpoint.__file__).resolve().parent.parent
    for source in checkpoint.STATE_SOURCES:
        if (root / source).is_dir():
            shutil.copytree(root / source, tmp_path / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (tmp_path / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / source, tmp_path / source)
    monkeypatch.setattr(checkpoint, "_ROOT", tmp_path)
    first = checkpoint.code_digest()
    assert checkpoint.code_digest() == first
    for source in ("alerts/rules/threshold.py", "carewatch/catalog.py"):
        with (tmp_path / source).open("a") as f:
            f.write("\n# changed\n")
        assert checkpoint.code_digest() != first, source
        first = checkpoint.code_digest()


def _forged(path: Path, key: bytes, marker: Path) -> Path:
    header = json.dumps(dataclasses.asdict(STAMP)).encode()
    body = struct.pack(">I", len(header)) + header + pickle.dumps((_Exploit(marker), ([], [])))
    return _written(path, checkpoint.MAGIC + hmac.new(key, body, hashlib.sha256).digest() + body)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _flipped(path: Path) -> Path:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    return _written(path, bytes(data))


def _truncated(path: Path) -> Path:
    return _written(path, path.read_bytes()[:-100])
