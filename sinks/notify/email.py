"""E-mail channel: a plain-text message over SMTP (STARTTLS and login when configured).

A recipient the server refuses with a 5xx reply, or any other 5xx reply, fails the delivery
at once with the server's reply recorded; 4xx replies and connection problems are retried.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from sinks.notify.channel import Channel, DeliveryError
from sinks.notify.payload import DELIVERY_HEADER, email_text, headline
from sinks.notify_config import SmtpSettings
from sinks.outbox import OutboxEntry


class EmailChannel(Channel):
    def __init__(self, smtp: SmtpSettings, to: tuple[str, ...]) -> None:
        self.smtp = smtp
        self.to = to

    async def send(self, entry: OutboxEntry) -> None:
        # smtplib blocks; a thread keeps the event loop (and the ingest agent) free.
        await asyncio.to_thread(self._send, self.message(entry))

    def message(self, entry: OutboxEntry) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.smtp.sender
        message["To"] = ", ".join(self.to)
        message["Subject"] = f"[casebus] {headline(entry.milestone)}"
        message["Message-ID"] = make_msgid(idstring=str(entry.delivery_id), domain="casebus")
        message[DELIVERY_HEADER] = str(entry.delivery_id)
        message.set_content(email_text(entry))
        return message

    def _send(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout_s) as smtp:
                if self.smtp.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.smtp.username is not None and self.smtp.password is not None:
                    smtp.login(self.smtp.username.reveal(), self.smtp.password.reveal())
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            raise _refusal(error.recipients) from error
        except smtplib.SMTPResponseException as error:
            reply = _text(error.smtp_error)
            raise DeliveryError(
                f"SMTP server replied {error.smtp_code} {reply}", permanent=error.smtp_code >= 500
            ) from error
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError(f"SMTP {type(error).__name__}: {error}") from error
        if refused:
            # Some recipients have the message: sending again would repeat it to them.
            raise _refusal(refused, permanent=True)


def _refusal(
    refused: dict[str, tuple[int, bytes]], *, permanent: bool | None = None
) -> DeliveryError:
    replies = "; ".join(
        f"{address}: {code} {_text(reply)}" for address, (code, reply) in sorted(refused.items())
    )
    lasting = all(code >= 500 for code, _ in refused.values())
    return DeliveryError(
        f"SMTP server refused {replies}", permanent=lasting if permanent is None else permanent
    )


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
