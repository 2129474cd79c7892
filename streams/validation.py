"""The `INVALID_FIELD` rules of the wire contract, as pure functions.

The publisher runs them before sending and the worker runs them after decoding, so that both
sides refuse exactly the same events for exactly the same reasons. Nothing here does I/O: the
known sites and the current time are parameters.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from streams.events import Event, QaOutcome, QaResult, SampleReceived, event_type

ID_PATTERN: Final = re.compile(r"[A-Z0-9][A-Z0-9-]{2,39}")
EARLIEST_OCCURRED_AT: Final = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE_SKEW: Final = timedelta(minutes=5)
DV200_RANGE: Final = (0.0, 100.0)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One broken rule: the field path (e.g. `qa_result.dv200_percent`) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ValidationError(Exception):
    """An event breaks one or more field rules; `str()` is one readable line."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__(reason_of(self.errors))


def reason_of(errors: Iterable[FieldError]) -> str:
    """All errors as one human-readable line, in rule order."""
    return "; ".join(str(error) for error in errors)


def validate_event(
    event: Event,
    *,
    sites: Container[str],
    now: datetime,
    key: bytes | str | None = None,
) -> list[FieldError]:
    """Every broken field rule of `event`, empty when it is valid.

    `key` is the record key when there is one (the worker passes it; the publisher derives the
    key from the case id, so it never disagrees).
    """
    slug = event_type(event).value
    checks = [
        check_site(event.site_id, sites, f"{slug}.site_id"),
        check_id(event.case_id, f"{slug}.case_id"),
        check_occurred_at(event.occurred_at, now, f"{slug}.occurred_at"),
    ]
    if isinstance(event, SampleReceived | QaResult):
        checks.append(check_id(event.sample_id, f"{slug}.sample_id"))
    if isinstance(event, QaResult):
        checks.extend(check_qa_result(event))
    if key is not None:
        checks.append(check_key(key, event.case_id))
    return [error for error in checks if error is not None]


def ensure_valid(
    event: Event, *, sites: Container[str], now: datetime, key: bytes | str | None = None
) -> None:
    """Raise `ValidationError` when `event` breaks any field rule."""
    errors = validate_event(event, sites=sites, now=now, key=key)
    if errors:
        raise ValidationError(errors)


def check_site(site_id: str, sites: Container[str], path: str) -> FieldError | None:
    if site_id in sites:
        return None
    return FieldError(path, f"{site_id!r} is not a site of the registry")


def check_id(value: str, path: str) -> FieldError | None:
    if ID_PATTERN.fullmatch(value):
        return None
    return FieldError(
        path, f"{value!r} does not match ^[A-Z0-9][A-Z0-9-]{{2,39}}$ (3 to 40 of A-Z, 0-9, '-')"
    )


def check_occurred_at(occurred_at: datetime, now: datetime, path: str) -> FieldError | None:
    if occurred_at.tzinfo is None:
        return FieldError(path, "has no timezone offset")
    if occurred_at < EARLIEST_OCCURRED_AT:
        return FieldError(path, f"{_iso(occurred_at)} is before 2000-01-01")
    if occurred_at > now + MAX_FUTURE_SKEW:
        return FieldError(
            path, f"{_iso(occurred_at)} is more than 5 minutes in the future (now {_iso(now)})"
        )
    return None


def check_qa_result(event: QaResult) -> list[FieldError]:
    errors: list[FieldError] = []
    low, high = DV200_RANGE
    dv200 = event.dv200_percent
    # Written as "not inside" so that NaN is refused too.
    if dv200 is not None and not low <= dv200 <= high:
        errors.append(FieldError("qa_result.dv200_percent", f"{dv200} is outside 0..100"))
    dna_yield = event.dna_yield_ng
    if dna_yield is not None and not (dna_yield >= 0 and math.isfinite(dna_yield)):
        problem = "is negative" if dna_yield < 0 else "is not a finite number"
        errors.append(FieldError("qa_result.dna_yield_ng", f"{dna_yield} {problem}"))
    reason = event.failure_reason
    if event.outcome is QaOutcome.FAILED and (reason is None or not reason.strip()):
        errors.append(FieldError("qa_result.failure_reason", "required when outcome is FAILED"))
    return errors


def check_key(key: bytes | str, case_id: str) -> FieldError | None:
    if isinstance(key, bytes):
        try:
            key = key.decode("utf-8")
        except UnicodeDecodeError:
            return FieldError("key", f"record key {key!r} is not UTF-8")
    if key == case_id:
        return None
    return FieldError("key", f"record key {key!r} is not the case id {case_id!r}")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")
