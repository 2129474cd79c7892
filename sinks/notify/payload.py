"""What a notification says: the webhook body, its signature, and the e-mail text."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from agents.milestones import Milestone, MilestoneKind
from sinks.outbox import OutboxEntry

SIGNATURE_HEADER = "X-Casebus-Signature"
DELIVERY_HEADER = "X-Casebus-Delivery"


def milestone_fields(milestone: Milestone) -> dict[str, Any]:
    return {
        "milestone": milestone.kind.value,
        "key": milestone.key,
        "case_id": milestone.case_id,
        "site_id": milestone.site_id,
        "status": milestone.status.value,
        "sample_id": milestone.sample_id,
        "stage": milestone.stage,
        "occurred_at": milestone.occurred_at.isoformat(timespec="milliseconds"),
        "details": dict(milestone.details),
    }


def webhook_body(entry: OutboxEntry) -> bytes:
    """The JSON body POSTed to a webhook; the same bytes on every attempt of a delivery."""
    body = {"delivery_id": str(entry.delivery_id), **milestone_fields(entry.milestone)}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    """The `X-Casebus-Signature` value: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


_HEADLINES = {
    MilestoneKind.CASE_REGISTERED: "Case {case} registered at {site}",
    MilestoneKind.SAMPLE_RECEIVED: "Sample {sample} of case {case} received by the central lab",
    MilestoneKind.QA_FAILED: "QA failed for sample {sample} of case {case}: send a new sample",
    MilestoneKind.QA_PASSED: "Case {case} passed QA",
    MilestoneKind.REVIEW_COMPLETE: "Central review of case {case} is complete",
    MilestoneKind.OVERDUE: "Case {case} is overdue at stage {stage}",
    MilestoneKind.ORPHAN_OVERDUE: "Events of case {case} wait for a registration that is overdue",
}


def headline(milestone: Milestone) -> str:
    return _HEADLINES[milestone.kind].format(
        case=milestone.case_id,
        site=milestone.site_id,
        sample=milestone.sample_id or "-",
        stage=milestone.stage or "-",
    )


def email_text(entry: OutboxEntry) -> str:
    """A plain-text message a coordinator can read, with every fact of the milestone."""
    m = entry.milestone
    lines = [
        headline(m) + ".",
        "",
        f"Case:        {m.case_id}",
        f"Site:        {m.site_id}",
        f"Milestone:   {m.kind.value}",
        f"Case status: {m.status.value}",
        f"When:        {m.occurred_at.isoformat(timespec='minutes')} (UTC)",
    ]
    if m.sample_id:
        lines.append(f"Sample:      {m.sample_id}")
    if m.stage:
        lines.append(f"Stage:       {m.stage}")
    lines += [
        f"{name.replace('_', ' ').capitalize()}: {value}"
        for name, value in sorted(m.details.items())
        if value
    ]
    lines += [
        "",
        f"Delivery id: {entry.delivery_id} (the same on a repeated message)",
        "-- casebus, MASTER KEY Asia case backbone",
    ]
    return "\n".join(lines) + "\n"
