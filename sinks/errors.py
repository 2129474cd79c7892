"""The store's own exceptions: driver errors never cross the store's boundary.

The worker tells them apart to decide what to do: `StoreUnavailable` is transient (pause and
retry the same batch), `StoreIntegrityError` means the batch contradicts what is stored,
and any other `StoreError` is a fault to report.
"""

from __future__ import annotations


class StoreError(Exception):
    """A store operation failed; the message says which operation, on which database, and why."""


class StoreUnavailable(StoreError):
    """The database can not be reached right now: connection refused or lost, database locked.

    Nothing of the failed operation was committed; retrying it later is safe.
    """


class StoreIntegrityError(StoreError):
    """A write broke a uniqueness or other integrity rule; nothing of that batch was stored."""


class StoreNotEmpty(StoreError):
    """The database already holds data where an empty one is required (for example a replay)."""


class UnsupportedDatabaseUrl(StoreError):
    """The database URL names a scheme or driver that casebus has no store for."""
