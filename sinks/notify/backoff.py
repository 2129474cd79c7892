"""When to try a failed delivery again: exponential backoff with jitter."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sinks.notify_config import DeliverySettings


def retry_delay_s(attempts: int, settings: DeliverySettings, rng: random.Random) -> float:
    """Seconds to wait after `attempts` failed attempts: base * 2**(attempts-1), capped at
    `max_delay_s`, then drawn uniformly from its upper half so that receivers that come back
    are not hit by every waiting delivery at the same instant."""
    ceiling = min(settings.max_delay_s, settings.base_delay_s * 2 ** min(attempts - 1, 62))
    return rng.uniform(ceiling / 2, ceiling)


def next_attempt_at(
    attempts: int, settings: DeliverySettings, now: datetime, rng: random.Random
) -> datetime | None:
    """When to try again after `attempts` failed attempts; None when they are all used up."""
    if attempts >= settings.max_attempts:
        return None
    return now + timedelta(seconds=retry_delay_s(attempts, settings, rng))
