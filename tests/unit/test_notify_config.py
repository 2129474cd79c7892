"""The subscriptions file: parsed and checked at start, refused with its line and reason."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from agents.milestones import MilestoneKind, milestone_for_overdue
from agents.model import CaseStatus
from sinks.notify.backoff import next_attempt_at, retry_delay_s
from sinks.notify_config import (
    TOPIC_SUBSCRIBER,
    DeliverySettings,
    NotifyConfigError,
    load_notify_config,
    parse_notify_config,
)

pytestmark = pytest.mark.unit

SITES = {"MY-SGH", "TH-RAMA"}
ENV = {"SGH_HOOK_SECRET": "s3cret-value", "SMTP_USER": "u", "SMTP_PASSWORD": "p"}

GOOD = """\
smtp: {host: 127.0.0.1, port: 25, username_env: SMTP_USER, password_env: SMTP_PASSWORD}
subscriptions:
  - name: sgh-coordinator
    channel: webhook
    url: https://hooks.example.org/casebus
    secret_env: SGH_HOOK_SECRET
    sites: [MY-SGH]
    milestones: [QA_FAILED, REVIEW_COMPLETE]
  - name: central-lab
    channel: email
    to: [lab@example.org]
    milestones: [CASE_REGISTERED, SAMPLE_RECEIVED]
"""


def parse(text: str, env: dict[str, str] | None = None) -> object:
    return parse_notify_config(text, "notify.yaml", ENV if env is None else env, SITES)


def refusal(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(NotifyConfigError) as caught:
        parse(text, env)
    return str(caught.value)


def test_the_documented_shape_parses() -> None:
    config = parse_notify_config(GOOD, "notify.yaml", ENV, SITES)
    assert [s.name for s in config.subscriptions] == ["sgh-coordinator", "central-lab"]
    assert config.smtp is not None and config.smtp.port == 25
    assert config.subscriptions[0].secret is not None
    assert config.subscriptions[0].secret.reveal() == "s3cret-value"


def test_secrets_never_show_in_the_config_repr() -> None:
    assert "s3cret-value" not in repr(parse(GOOD))


def test_routing_follows_sites_and_milestones_and_always_includes_the_topic() -> None:
    config = parse_notify_config(GOOD, "notify.yaml", ENV, SITES)
    overdue = milestone_for_overdue("C-1", "MY-SGH", "QA", CaseStatus.REGISTERED, datetime.now(UTC))
    assert [r.subscriber for r in config.recipients(overdue)] == [TOPIC_SUBSCRIBER]
    assert MilestoneKind.QA_FAILED in (config.subscriptions[0].milestones or ())


def test_unset_variable_means_no_subscribers() -> None:
    assert load_notify_config({}).subscriptions == ()


def test_unknown_key_is_refused_with_its_line() -> None:
    message = refusal(GOOD.replace("    sites: [MY-SGH]", "    sitez: [MY-SGH]"))
    assert "notify.yaml, line 7" in message and "unknown key 'sitez'" in message


def test_yaml_syntax_error_is_refused_with_its_line() -> None:
    message = refusal("subscriptions:\n  - name: [unclosed\n")
    assert "line 3" in message and "not valid YAML" in message


def test_missing_secret_variable_is_refused_naming_the_variable() -> None:
    message = refusal(GOOD, {"SMTP_USER": "u", "SMTP_PASSWORD": "p"})
    assert "line 6" in message and "SGH_HOOK_SECRET is not set" in message


def test_unknown_site_is_refused() -> None:
    message = refusal(GOOD.replace("[MY-SGH]", "[XX-NOPE]"))
    assert "line 7" in message and "unknown site 'XX-NOPE'" in message


def test_unknown_milestone_is_refused() -> None:
    assert "line 12" in refusal(GOOD.replace("SAMPLE_RECEIVED]", "SAMPLE_LOST]"))


def test_email_without_smtp_is_refused() -> None:
    text = "subscriptions:\n  - name: lab\n    channel: email\n    to: [lab@example.org]\n"
    assert "line 2" in refusal(text) and "smtp" in refusal(text)


def test_duplicate_names_are_refused() -> None:
    text = GOOD + "  - name: central-lab\n    channel: email\n    to: [x@example.org]\n"
    assert "used twice" in refusal(text)


def test_delivery_settings_are_checked() -> None:
    assert "line 1" in refusal("delivery: {max_attempts: 0}\nsubscriptions: []\n")


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    settings = DeliverySettings(base_delay_s=10, max_delay_s=60)
    rng = random.Random(1)
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (4, 60), (9, 60)]:
        delay = retry_delay_s(attempts, settings, rng)
        assert ceiling / 2 <= delay <= ceiling


def test_no_retry_after_the_last_attempt() -> None:
    settings = DeliverySettings(max_attempts=3)
    now = datetime.now(UTC)
    assert next_attempt_at(2, settings, now, random.Random(1)) is not None
    assert next_attempt_at(3, settings, now, random.Random(1)) is None
