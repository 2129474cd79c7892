"""Errors of the pure domain rules."""

from __future__ import annotations


class CaseRuleError(ValueError):
    """The events handed to a domain rule break its precondition (a bug in the caller).

    For example: events of two different cases in one evaluation, two events sharing an
    `event_id` (re-deliveries must be removed first), or two registrations among the accepted
    events of a case.
    """
