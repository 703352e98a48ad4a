"""The webhook channel: JSON POST, signed with HMAC-SHA256, one idempotency key across retries.

Headers: ``X-Carewatch-Timestamp`` (epoch seconds), ``X-Carewatch-Signature: sha256=<hex>`` over
``<timestamp>.<body>`` (the timestamp lets a receiver refuse replays), ``Idempotency-Key`` (the same on every attempt of
one delivery, so a receiver that saw it already can answer 200 and do nothing), ``X-Carewatch-Event`` (the kind).

Redirects are not followed: the message goes to the configured URL or not at all (``_classify`` says why).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import Message as Headers

from alerts.notify.base import DeliveryError, Message, PermanentDeliveryError, TransientDeliveryError

TIMEOUT_S = 10.0  # a receiver slower than this counts as down (retried)
TRANSIENT_STATUS = frozenset({408, 425, 429})  # 4xx that mean "later"; every other 4xx is the sender's fault


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would repeat a 301/302/303 POST as a GET without its body, and count the 200 that answers it."""

    def redirect_request(
        self, req: urllib.request.Request, fp: object, code: int, msg: str, headers: Headers, newurl: str
    ) -> None:
        return None  # not followed: urlopen raises HTTPError with the 3xx status


_OPENER = urllib.request.build_opener(_NoRedirects)


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
            with _OPENER.open(request, timeout=self._timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise _classify(exc) from None
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out, DNS
            raise TransientDeliveryError(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from None


def _classify(exc: urllib.error.HTTPError) -> DeliveryError:
    """5xx and TRANSIENT_STATUS mean "later". Any other status is permanent, redirects included: a 3xx says the
    configured URL is not where the receiver takes the message (moved, or a proxy's login page), which retrying the
    same URL does not change, and following it would send a resident's data to an address nobody configured. The
    contact's URL must be corrected: the audit says so now, with where the redirect pointed."""
    error = f"HTTP {exc.code} {exc.reason}"
    if 300 <= exc.code < 400:
        error += f" to {exc.headers.get('Location')!r} (redirects are not followed)"
    transient = exc.code >= 500 or exc.code in TRANSIENT_STATUS
    return (TransientDeliveryError if transient else PermanentDeliveryError)(error)
