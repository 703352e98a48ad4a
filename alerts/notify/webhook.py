"""The webhook channel: JSON POST, signed with HMAC-SHA256, one idempotency key across retries.

Headers: ``X-Carewatch-Timestamp`` (epoch seconds), ``X-Carewatch-Signature: sha256=<hex>`` over
``<timestamp>.<body>`` (the timestamp lets a receiver refuse replays), ``Idempotency-Key`` (the same on every attempt of
one delivery, so a receiver that saw it already can answer 200 and do nothing), ``X-Carewatch-Event`` (the kind).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from alerts.notify.base import Message, PermanentDeliveryError, TransientDeliveryError

TIMEOUT_S = 10.0  # a receiver slower than this counts as down (retried)
TRANSIENT_STATUS = frozenset({408, 425, 429})  # 4xx that mean "later"; every other 4xx is the sender's fault


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookChannel:
    name = "webhook"

    def __init__(self, secret: bytes, timeout_s: float = TIMEOUT_S, clock: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ValueError("a webhook secret is required: receivers verify every request's signature")
        self._secret = secret
        self._timeout_s = timeout_s
        self._clock = clock

    def send(self, message: Message) -> None:
        if not message.address.startswith(("http://", "https://")):
            raise PermanentDeliveryError(f"not an http(s) URL: {message.address!r}")
        body = json.dumps(message.payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(self._clock()))
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            message.address, data=body, method="POST",
            headers={
                "Content-Type": message.content_type, "Idempotency-Key": message.idempotency_key,
                "X-Carewatch-Timestamp": timestamp, "X-Carewatch-Signature": sign(self._secret, timestamp, body),
                "X-Carewatch-Event": message.kind, "User-Agent": "carewatch-webhook/1",
            },
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code in TRANSIENT_STATUS:
                raise TransientDeliveryError(f"HTTP {exc.code} {exc.reason}") from None
            raise PermanentDeliveryError(f"HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out, DNS
            raise TransientDeliveryError(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None
