"""The e-mail channel: plain-text mail over SMTP, the machine-readable body (JSON or a FHIR Bundle) attached.

The Message-ID derives from the idempotency key (also sent as X-Carewatch-Idempotency-Key), so a mailbox (or the
clinic's system) can drop a resent copy.
SMTP 5xx replies are permanent; 4xx replies (a server busy, a recipient greylisted or their mailbox full) and
connection failures are transient. A refused recipient is classified by its reply code like any other reply.
"""

from __future__ import annotations

import json
import re
import smtplib
import ssl
from email.message import EmailMessage

from alerts.notify.base import FHIR_JSON, DeliveryError, Message, PermanentDeliveryError, TransientDeliveryError

TIMEOUT_S = 15.0  # an SMTP server slower than this counts as down (retried)


class EmailChannel:
    name = "email"

    def __init__(
        self, host: str, port: int, sender: str, username: str | None = None, password: str | None = None,
        starttls: bool = False, timeout_s: float = TIMEOUT_S,
    ) -> None:  # fmt: skip
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout_s = timeout_s

    def compose(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = message.address
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<{re.sub(r'[^A-Za-z0-9.-]', '.', message.idempotency_key)}@carewatch>"
        mail["X-Carewatch-Idempotency-Key"] = message.idempotency_key
        mail.set_content(message.text)
        name = "bundle.fhir.json" if message.content_type == FHIR_JSON else "alert.json"
        maintype, subtype = message.content_type.split("/", 1)
        mail.add_attachment(
            json.dumps(message.payload, indent=1).encode(), maintype=maintype, subtype=subtype, filename=name
        )
        return mail

    def send(self, message: Message) -> None:
        if "@" not in message.address:
            raise PermanentDeliveryError(f"not an e-mail address: {message.address!r}")
        mail = self.compose(message)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentDeliveryError(f"SMTP authentication failed: {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused as exc:  # {address: (code, reply)}; one recipient per message
            code = max(code for code, _ in exc.recipients.values())
            raise _by_code(code, f"recipient refused: {exc.recipients}") from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, f"SMTP {exc.smtp_code} {exc.smtp_error!r}") from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, disconnected, timed out
            raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from None


def _by_code(code: int, error: str) -> DeliveryError:
    """SMTP 5xx is permanent; 4xx (451 greylisted, 452 mailbox full, 421 busy) is transient."""
    return (PermanentDeliveryError if code >= 500 else TransientDeliveryError)(error)
