"""Reading the `--as-of TIMESTAMP` option: ISO-8601 with an explicit offset."""

from __future__ import annotations

from datetime import UTC, datetime


class TimestampError(ValueError):
    """A timestamp option is not ISO-8601 with an offset; the message is one line for the user."""


def parse_as_of(text: str) -> datetime:
    """`text` (e.g. `2026-03-01T08:00:00+07:00` or `...Z`) as an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimestampError(
            f"--as-of {text!r} is not an ISO-8601 timestamp (e.g. 2026-03-01T08:00:00+07:00)"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise TimestampError(
            f"--as-of {text!r} has no UTC offset; add one, e.g. {text.strip()}Z or +07:00"
        )
    return moment.astimezone(UTC)
