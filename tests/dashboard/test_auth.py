"""Passwords, sessions and the login throttle, with an injected clock (no sleeping)."""

from __future__ import annotations

from pathlib import Path

import pytest

from carewatch.model import Resident, Site, SiteKind
from carewatch.storage.base import Role, User
from carewatch.storage.sqlite import SqliteStore
from dashboard import auth
from dashboard.auth import AuthConfig, LoginThrottle, Sessions, hash_password, verify_password


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_passwords_are_argon2id_and_unknown_users_never_match() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "wrong")
    assert not verify_password(None, "correct horse battery")
    assert not verify_password("not a hash", "x")


def test_throttle_locks_a_user_and_address_for_the_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window_s=300, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("Zhang", "10.0.0.1") == 0
        throttle.failed("Zhang", "10.0.0.1")
    assert throttle.retry_after("zhang", "10.0.0.1") == pytest.approx(300)  # case does not dodge it
    assert throttle.retry_after("zhang", "10.0.0.2") == 0  # another address is another record
    clock.now += 120
    assert throttle.retry_after("zhang", "10.0.0.1") == pytest.approx(180)
    clock.now += 181
    assert throttle.retry_after("zhang", "10.0.0.1") == 0  # the oldest failure left the window
    throttle.failed("zhang", "10.0.0.1")
    assert throttle.retry_after("zhang", "10.0.0.1") == 0  # one failure within the window
    throttle.failed("zhang", "10.0.0.1")
    throttle.failed("zhang", "10.0.0.1")
    assert throttle.retry_after("zhang", "10.0.0.1") == pytest.approx(300)
    throttle.succeeded("zhang", "10.0.0.1")
    assert throttle.retry_after("zhang", "10.0.0.1") == 0


def test_throttle_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "THROTTLE_MAX_KEYS", 100)
    throttle = LoginThrottle(max_failures=3, window_s=300, clock=Clock())
    for i in range(1000):
        throttle.failed(f"guess{i}", "10.0.0.1")
    assert len(throttle) == 100


def test_sessions_expire_and_are_stored_only_as_keyed_hashes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "carewatch.db")
    store.init_schema()
    store.upsert_sites([Site("s1", "Station", SiteKind.COMMUNITY_STATION)])
    store.upsert_residents([Resident("r1", "s1", "Wang Fang")])
    store.save_user(User("zhang", "Zhang", Role.OPERATOR, site_ids=("s1",)), hash_password("a long password"))
    clock = Clock()
    sessions = Sessions(store, AuthConfig(secret_key=b"k1", session_ttl_s=3600), clock)
    token, expires_at = sessions.create("zhang")
    assert expires_at == clock.now + 3600
    assert sessions.user(token) is not None and sessions.user(None) is None
    assert store.session_user(token, clock.now) is None  # the raw token is not what the table holds
    assert Sessions(store, AuthConfig(secret_key=b"k2"), clock).user(token) is None  # nor without the server's key
    clock.now += 3601
    assert sessions.user(token) is None
    store.close()
