"""Turnaround clocks: how long a case has waited in its current stage, and whether it is late.

A clock runs while a case waits for someone else to act:

| status | stage | started at | target |
| --- | --- | --- | --- |
| REGISTERED | awaiting sample | `registered_at` | 14 days |
| QA_FAILED | awaiting sample | the latest sample's deciding (failed) QA result | 14 days |
| SAMPLE_RECEIVED | awaiting QA | the latest sample's received time | 5 days |
| QA_PASSED | awaiting review | `qa_passed_at` | 21 days |

REVIEW_COMPLETE stops the clock. A case is overdue once `now` is strictly past its due time
(exactly at the target it is still on time). Events held for an unregistered case (orphans)
have their own clock: they are overdue once held strictly longer than the grace period.

Everything here is a pure function of the case's accepted events, the targets and `now`, so
the worker, the dashboard and the tests compute the very same clocks.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from agents.errors import CaseRuleError
from agents.model import CaseStatus
from agents.samples import latest_sample, samples_of
from agents.status import derive_status
from streams.events import Event


class Stage(enum.StrEnum):
    """What a case (or an orphan) is waiting for."""

    AWAITING_SAMPLE = "awaiting_sample"
    AWAITING_QA = "awaiting_qa"
    AWAITING_REVIEW = "awaiting_review"
    ORPHAN = "orphan"  # held events whose registration has not arrived


#: The stages of registered cases, in pipeline order.
CASE_STAGES: Final = (Stage.AWAITING_SAMPLE, Stage.AWAITING_QA, Stage.AWAITING_REVIEW)


class ClockConfigError(ValueError):
    """A turnaround target setting is malformed; the message names the setting."""


#: Environment variables of the targets, in hours (fractions allowed).
TARGET_VARIABLES: Final = {
    Stage.AWAITING_SAMPLE: "CASEBUS_TARGET_AWAITING_SAMPLE_HOURS",
    Stage.AWAITING_QA: "CASEBUS_TARGET_AWAITING_QA_HOURS",
    Stage.AWAITING_REVIEW: "CASEBUS_TARGET_AWAITING_REVIEW_HOURS",
    Stage.ORPHAN: "CASEBUS_ORPHAN_GRACE_HOURS",
}


@dataclass(frozen=True, slots=True)
class Targets:
    """The turnaround target of each stage; `orphan_grace` is the orphans' one."""

    awaiting_sample: timedelta = timedelta(days=14)
    awaiting_qa: timedelta = timedelta(days=5)
    awaiting_review: timedelta = timedelta(days=21)
    orphan_grace: timedelta = timedelta(hours=72)

    def of(self, stage: Stage) -> timedelta:
        return {
            Stage.AWAITING_SAMPLE: self.awaiting_sample,
            Stage.AWAITING_QA: self.awaiting_qa,
            Stage.AWAITING_REVIEW: self.awaiting_review,
            Stage.ORPHAN: self.orphan_grace,
        }[stage]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Targets:
        """The defaults, overridden by any `TARGET_VARIABLES` set (hours, > 0) in `env`."""
        defaults = cls()
        hours = {stage: _hours(env, name) for stage, name in TARGET_VARIABLES.items()}
        return cls(
            awaiting_sample=hours[Stage.AWAITING_SAMPLE] or defaults.awaiting_sample,
            awaiting_qa=hours[Stage.AWAITING_QA] or defaults.awaiting_qa,
            awaiting_review=hours[Stage.AWAITING_REVIEW] or defaults.awaiting_review,
            orphan_grace=hours[Stage.ORPHAN] or defaults.orphan_grace,
        )


def _hours(env: Mapping[str, str], name: str) -> timedelta | None:
    text = (env.get(name) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ClockConfigError(f"{name}={text!r}: expected a number of hours") from None
    if not value > 0 or value == float("inf"):
        raise ClockConfigError(f"{name}={text!r}: expected a positive, finite number of hours")
    return timedelta(hours=value)


@dataclass(frozen=True, slots=True)
class Clock:
    """The running clock of one case (or orphan case) in one stage."""

    case_id: str
    stage: Stage
    started_at: datetime
    due_at: datetime

    def is_overdue(self, now: datetime) -> bool:
        """Strictly past the due time: exactly at the target is still on time."""
        return now > self.due_at


def case_clock(accepted: Iterable[Event], targets: Targets) -> Clock | None:
    """The clock of a registered case from its accepted events; None when it is not waiting.

    None also for a case without registration (see `orphan_clock`). Raises `CaseRuleError`
    when the events cannot belong to one case, as `derive_status` does.
    """
    events = list(accepted)
    row = derive_status(events)
    if row is None or row.status is CaseStatus.REVIEW_COMPLETE:
        return None
    stage, started_at = _stage_and_start(row.status, events, row.registered_at, row.qa_passed_at)
    return Clock(row.case_id, stage, started_at, started_at + targets.of(stage))


def _stage_and_start(
    status: CaseStatus,
    events: list[Event],
    registered_at: datetime,
    qa_passed_at: datetime | None,
) -> tuple[Stage, datetime]:
    if status is CaseStatus.REGISTERED:
        return Stage.AWAITING_SAMPLE, registered_at
    if status is CaseStatus.QA_PASSED and qa_passed_at is not None:
        return Stage.AWAITING_REVIEW, qa_passed_at
    latest = latest_sample(samples_of(events))
    if status is CaseStatus.SAMPLE_RECEIVED and latest is not None:
        return Stage.AWAITING_QA, latest.received_at
    if status is CaseStatus.QA_FAILED and latest is not None and latest.deciding_result:
        return Stage.AWAITING_SAMPLE, latest.deciding_result.occurred_at
    # derive_status guarantees the fields above for each status; this is a broken invariant.
    raise CaseRuleError(f"status {status} lacks the time its clock starts from")


def orphan_clock(case_id: str, held_since: datetime, targets: Targets) -> Clock:
    """The clock of events held for `case_id`, which has no registration since `held_since`."""
    return Clock(case_id, Stage.ORPHAN, held_since, held_since + targets.orphan_grace)
