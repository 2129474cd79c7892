"""Webhook channel: an HTTP POST of the JSON body, signed with the subscriber's secret.

Headers: `X-Casebus-Signature: sha256=<hex HMAC-SHA256 of the raw body>` and
`X-Casebus-Delivery: <delivery id>`, the same id on every attempt. Any 2xx answer means
delivered; any other answer, a timeout or a refused connection is a failed attempt (retried).
"""

from __future__ import annotations

import asyncio
import http.client
import urllib.error
import urllib.request
from typing import Final

from sinks.notify.channel import Channel, DeliveryError
from sinks.notify.payload import DELIVERY_HEADER, SIGNATURE_HEADER, signature, webhook_body
from sinks.notify_config import Secret
from sinks.outbox import OutboxEntry

#: How much of a refusing receiver's answer is recorded.
BODY_EXCERPT: Final = 300


class WebhookChannel(Channel):
    def __init__(self, url: str, secret: Secret, timeout_s: float) -> None:
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s

    async def send(self, entry: OutboxEntry) -> None:
        body = webhook_body(entry)
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "casebus-notify",
                SIGNATURE_HEADER: signature(self.secret.reveal(), body),
                DELIVERY_HEADER: str(entry.delivery_id),
            },
        )
        # urllib blocks; a thread keeps the event loop (and the ingest agent) free.
        await asyncio.to_thread(self._post, request)

    def _post(self, request: urllib.request.Request) -> None:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read(BODY_EXCERPT)
        except urllib.error.HTTPError as error:
            excerpt = error.read(BODY_EXCERPT).decode("utf-8", "replace").strip()
            raise DeliveryError(f"HTTP {error.code} {error.reason}: {excerpt}") from error
        except urllib.error.URLError as error:
            raise DeliveryError(f"cannot reach the receiver: {error.reason}") from error
        except TimeoutError as error:
            raise DeliveryError(f"no answer within {self.timeout_s:g} s") from error
        except (OSError, http.client.HTTPException) as error:
            raise DeliveryError(f"{type(error).__name__}: {error}") from error
