"""What a delivery channel does, and when the delivery loop calls it.

One channel object serves one subscriber (or the `P.notifications` topic). The delivery loop
(`sinks.notify.loop`) owns the lifecycle: `start`, then any number of `send`s (several may run
at once), then `close`. No hook ever runs inside an ingest batch or a database transaction.
"""

from __future__ import annotations

import abc

from sinks.outbox import OutboxEntry


class DeliveryError(Exception):
    """An attempt failed. `reason` is recorded as the delivery's `last_error` (no secrets).

    `permanent` means retrying can not help (an SMTP 5xx refusal): the delivery is `failed`
    at once instead of after the configured number of attempts.
    """

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Channel(abc.ABC):
    """Sends deliveries to one receiver."""

    async def start(self) -> None:  # noqa: B027 (most channels have nothing to open)
        """Runs once when the delivery loop starts, before its first `send`."""

    @abc.abstractmethod
    async def send(self, entry: OutboxEntry) -> None:
        """Runs once per attempt of a due delivery, with `entry.attempts` already counting it.

        Returns only when the receiver has accepted the notification; raises `DeliveryError`
        otherwise. Must give up within the configured timeout, and never block the event loop.
        """

    async def close(self) -> None:  # noqa: B027 (most channels have nothing to release)
        """Runs once when the delivery loop stops, after its last `send` has ended."""
