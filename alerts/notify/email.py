"""The e-mail channel: plain-text mail over SMTP, the machine-readable body (JSON or a FHIR Bundle) attached.

The Message-ID derives from the idempotency key (also sent as X-Carewatch-Idempotency-Key), so a mailbox (or the
clinic's system) can drop a resent copy.
SMTP 5xx replies and refused addresses are permanent; 4xx replies and connection failures are transient.
"""

from __future__ import annotations

import json
import re
import smtplib
import ssl
from email.message import EmailMessage

from alerts.notify.base import FHIR_JSON, Message, PermanentDeliveryError, TransientDeliveryError

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
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentDeliveryError(f"recipient refused: {exc.recipients}") from None
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.smtp_code} {exc.smtp_error!r}"
            raise (PermanentDeliveryError if exc.smtp_code >= 500 else TransientDeliveryError)(error) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, disconnected, timed out
            raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from None
