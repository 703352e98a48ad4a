"""Logging in: password hashing (argon2id), login sessions (opaque tokens, keyed hashes at rest), login throttling.

A session token is 32 random bytes, handed to the browser once (an HttpOnly cookie, or the body of the login response
for API clients, which send it back as ``Authorization: Bearer``). The store keeps only HMAC-SHA256(secret_key,
token): a copy of the database does not log anyone in, and neither does the token without the server's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from carewatch.storage.base import Store, User

COOKIE_NAME = "carewatch_session"
TOKEN_BYTES = 32  # 256 bits: not guessable, no matter how many tries the throttle lets through
THROTTLE_MAX_KEYS = 10_000  # (user, address) pairs tracked at once; the oldest are forgotten first, memory is bounded
DEMO_PASSWORD_BYTES = 9  # 12 url-safe characters for the demo's printed logins

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters
_DUMMY_HASH = _hasher.hash("carewatch: equalises the time of a login for an unknown user")

Clock = Callable[[], float]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when the password matches; an unknown user (None) costs the same time as a wrong password."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def demo_password() -> str:
    return secrets.token_urlsafe(DEMO_PASSWORD_BYTES)


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """What the dashboard needs of the settings to log people in."""

    secret_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))  # per process unless configured
    session_ttl_s: float = 12 * 3600
    cookie_secure: bool = False
    login_max_failures: int = 5
    login_window_s: float = 300.0


class Sessions:
    def __init__(self, store: Store, config: AuthConfig, clock: Clock = time.time) -> None:
        self._store = store
        self._config = config
        self._clock = clock

    def key(self, token: str) -> str:
        """What the store keeps of a session's token (and the hub knows its sockets by)."""
        return hmac.new(self._config.secret_key, token.encode(), hashlib.sha256).hexdigest()

    def create(self, username: str) -> tuple[str, float]:
        """A new session: (token, expires_at). Expired sessions are purged on the way."""
        now = self._clock()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires_at = now + self._config.session_ttl_s
        self._store.purge_sessions(now)
        self._store.create_session(self.key(token), username, now, expires_at)
        return token, expires_at

    def user(self, token: str | None) -> User | None:
        if not token:
            return None
        return self._store.session_user(self.key(token), self._clock())

    def revoke(self, token: str) -> None:
        self._store.delete_session(self.key(token))


class LoginThrottle:
    """At most `max_failures` failed logins per (username, address) within `window_s`; then locked until the oldest
    failure leaves the window. A success clears the record. Bounded: THROTTLE_MAX_KEYS pairs at most."""

    def __init__(self, max_failures: int, window_s: float, clock: Clock = time.monotonic) -> None:
        self._max = max_failures
        self._window = window_s
        self._clock = clock
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until this pair may try again; 0 when it may now."""
        failures = self._failures.get((username.casefold(), address))
        if failures is None or len(failures) < self._max:
            return 0.0
        return max(0.0, failures[0] + self._window - self._clock())

    def failed(self, username: str, address: str) -> None:
        key = (username.casefold(), address)
        failures = self._failures.pop(key, None) or deque(maxlen=self._max)
        failures.append(self._clock())
        self._failures[key] = failures  # most recent last
        while len(self._failures) > THROTTLE_MAX_KEYS:
            self._failures.popitem(last=False)

    def succeeded(self, username: str, address: str) -> None:
        self._failures.pop((username.casefold(), address), None)

    def __len__(self) -> int:
        return len(self._failures)
