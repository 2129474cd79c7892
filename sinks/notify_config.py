"""Notification subscriptions: the YAML file named by `CASEBUS_NOTIFY_CONFIG`.

The file is read and checked once, at start; a bad file is refused with its line and the
reason. Secrets (webhook signing keys, SMTP credentials) are never in the file: it names the
environment variables that hold them, and those must be set. Shape (README, "Notifications"):

    smtp: {host: 127.0.0.1, port: 25, starttls: false, username_env: SMTP_USER,
           password_env: SMTP_PASSWORD, sender: casebus@example.org, timeout_s: 10}
    delivery: {max_attempts: 8, base_delay_s: 30, max_delay_s: 3600, timeout_s: 10,
               poll_interval_s: 2, batch_size: 500}
    subscriptions:
      - name: sgh-coordinator
        channel: webhook
        url: https://hooks.example.org/casebus
        secret_env: SGH_HOOK_SECRET
        sites: [MY-SGH]                          # optional: all sites when absent
        milestones: [QA_FAILED, REVIEW_COMPLETE] # optional: all milestones when absent
      - name: central-lab
        channel: email
        to: [lab@example.org]

Without the variable there are no subscribers, but every milestone still goes on the
`P.notifications` topic (the built-in subscriber `TOPIC_SUBSCRIBER`).
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import yaml

from agents.milestones import Milestone, MilestoneKind
from infra.config import ConfigError

ENV_VAR: Final = "CASEBUS_NOTIFY_CONFIG"

#: The outbox subscriber that stands for the `P.notifications` topic; '@' keeps it apart
#: from every name a file may give.
TOPIC_SUBSCRIBER: Final = "@topic"

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_ENV_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ADDRESS: Final = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")

_T = TypeVar("_T")


class NotifyConfigError(ConfigError):
    """The subscriptions file is unreadable or wrong; the message names the line and why."""


class ChannelKind(enum.StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"
    TOPIC = "topic"


class Secret:
    """A value read from the environment that must never reach a log or a message."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int = 25
    starttls: bool = False
    username: Secret | None = None
    password: Secret | None = None
    sender: str = "casebus@localhost"
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """Retry policy: attempt n waits about base * 2**(n-1) (capped, with jitter)."""

    max_attempts: int = 8
    base_delay_s: float = 30.0
    max_delay_s: float = 3600.0
    timeout_s: float = 10.0
    poll_interval_s: float = 2.0
    batch_size: int = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    name: str
    channel: ChannelKind
    url: str | None = None
    secret: Secret | None = None
    to: tuple[str, ...] = ()
    sites: frozenset[str] | None = None
    milestones: frozenset[MilestoneKind] | None = None

    def wants(self, milestone: Milestone) -> bool:
        return (self.sites is None or milestone.site_id in self.sites) and (
            self.milestones is None or milestone.kind in self.milestones
        )


@dataclass(frozen=True, slots=True)
class Recipient:
    """One outbox row to write for a milestone: who gets it, over which channel."""

    subscriber: str
    channel: ChannelKind


TOPIC_RECIPIENT: Final = Recipient(TOPIC_SUBSCRIBER, ChannelKind.TOPIC)


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    subscriptions: tuple[Subscription, ...] = ()
    smtp: SmtpSettings | None = None
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    source: str = "(no subscriptions file)"

    def recipients(self, milestone: Milestone) -> tuple[Recipient, ...]:
        """The topic, then every subscription that wants `milestone`."""
        wanted = (Recipient(s.name, s.channel) for s in self.subscriptions if s.wants(milestone))
        return (TOPIC_RECIPIENT, *wanted)

    def subscription(self, name: str) -> Subscription | None:
        return next((s for s in self.subscriptions if s.name == name), None)


def load_notify_config(
    env: Mapping[str, str] | None = None, sites: Container[str] | None = None
) -> NotifyConfig:
    """The configuration named by `CASEBUS_NOTIFY_CONFIG`; no subscribers when it is unset."""
    env = os.environ if env is None else env
    path = (env.get(ENV_VAR) or "").strip()
    if not path:
        return NotifyConfig()
    return parse_notify_config(_read(Path(path)), path, env, sites)


def parse_notify_config(
    text: str, source: str, env: Mapping[str, str], sites: Container[str] | None = None
) -> NotifyConfig:
    """Parse and check a subscriptions file; raise `NotifyConfigError` naming the line."""
    if sites is None:
        from infra.sites import SiteRegistry

        sites = SiteRegistry.load()
    return _Parser(source, env, sites).document(_compose(text, source))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise NotifyConfigError(f"{ENV_VAR}={path}: cannot read the file: {error}") from error


def _compose(text: str, source: str) -> yaml.Node:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f"line {mark.line + 1}" if mark is not None else "somewhere"
        raise NotifyConfigError(f"{source}, {line}: not valid YAML: {error.problem}") from error
    except yaml.YAMLError as error:
        raise NotifyConfigError(f"{source}: not valid YAML: {error}") from error
    if node is None:
        raise NotifyConfigError(f"{source}, line 1: the file is empty; expected 'subscriptions:'")
    return node


class _Parser:
    """Walks the YAML node tree, so that every error can name the line it is about."""

    def __init__(self, source: str, env: Mapping[str, str], sites: Container[str]) -> None:
        self.source = source
        self.env = env
        self.sites = sites

    def error(self, node: yaml.Node, reason: str) -> NotifyConfigError:
        return NotifyConfigError(f"{self.source}, line {node.start_mark.line + 1}: {reason}")

    def document(self, node: yaml.Node) -> NotifyConfig:
        top = self.mapping(node, "the file", {"smtp", "delivery", "subscriptions"})
        smtp = self.smtp(top["smtp"]) if "smtp" in top else None
        delivery = self.delivery(top["delivery"]) if "delivery" in top else DeliverySettings()
        subscriptions = self.subscriptions(top.get("subscriptions"), node, smtp)
        return NotifyConfig(tuple(subscriptions), smtp, delivery, self.source)

    # -- sections ---------------------------------------------------------------------------

    def smtp(self, node: yaml.Node) -> SmtpSettings:
        keys = {"host", "port", "starttls", "username_env", "password_env", "sender", "timeout_s"}
        fields = self.mapping(node, "smtp", keys)
        if "host" not in fields:
            raise self.error(node, "smtp: 'host' is required")
        username = self.secret(fields["username_env"]) if "username_env" in fields else None
        password = self.secret(fields["password_env"]) if "password_env" in fields else None
        if (username is None) != (password is None):
            raise self.error(node, "smtp: give both username_env and password_env, or neither")
        defaults = SmtpSettings(host="")
        return SmtpSettings(
            host=self.text(fields["host"], "smtp.host"),
            port=self.number(fields.get("port"), "smtp.port", int, defaults.port, 1, 65535),
            starttls=self.flag(fields.get("starttls"), "smtp.starttls", defaults.starttls),
            username=username,
            password=password,
            sender=self.address(fields["sender"]) if "sender" in fields else defaults.sender,
            timeout_s=self.number(
                fields.get("timeout_s"), "smtp.timeout_s", float, defaults.timeout_s, 0.1, 600
            ),
        )

    def delivery(self, node: yaml.Node) -> DeliverySettings:
        d = DeliverySettings()
        f = self.mapping(node, "delivery", set(DeliverySettings.__dataclass_fields__))
        settings = DeliverySettings(
            max_attempts=self.number(
                f.get("max_attempts"), "delivery.max_attempts", int, d.max_attempts, 1, 100
            ),
            base_delay_s=self.number(
                f.get("base_delay_s"), "delivery.base_delay_s", float, d.base_delay_s, 0, 86400
            ),
            max_delay_s=self.number(
                f.get("max_delay_s"), "delivery.max_delay_s", float, d.max_delay_s, 0, 604800
            ),
            timeout_s=self.number(
                f.get("timeout_s"), "delivery.timeout_s", float, d.timeout_s, 0.1, 600
            ),
            poll_interval_s=self.number(
                f.get("poll_interval_s"),
                "delivery.poll_interval_s",
                float,
                d.poll_interval_s,
                0.01,
                3600,
            ),
            batch_size=self.number(
                f.get("batch_size"), "delivery.batch_size", int, d.batch_size, 1, 10000
            ),
        )
        if settings.max_delay_s < settings.base_delay_s:
            raise self.error(node, "delivery: max_delay_s is less than base_delay_s")
        return settings

    def subscriptions(
        self, node: yaml.Node | None, top: yaml.Node, smtp: SmtpSettings | None
    ) -> list[Subscription]:
        if node is None:
            raise self.error(top, "'subscriptions' is required (a list, may be empty)")
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, "'subscriptions' must be a list")
        found: list[Subscription] = []
        for item in node.value:
            subscription = self.subscription(item)
            if any(s.name == subscription.name for s in found):
                raise self.error(item, f"subscription name {subscription.name!r} is used twice")
            if subscription.channel is ChannelKind.EMAIL and smtp is None:
                raise self.error(item, f"{subscription.name}: e-mail needs an 'smtp' section")
            found.append(subscription)
        return found

    def subscription(self, node: yaml.Node) -> Subscription:
        keys = {"name", "channel", "url", "secret_env", "to", "sites", "milestones"}
        fields = self.mapping(node, "a subscription", keys)
        for required in ("name", "channel"):
            if required not in fields:
                raise self.error(node, f"a subscription needs '{required}'")
        name = self.text(fields["name"], "name")
        if not _NAME.match(name):
            raise self.error(fields["name"], f"name {name!r}: use letters, digits, '.', '_' or '-'")
        channel = self.choice(fields["channel"], ChannelKind, f"{name}: channel")
        sites = self.sites_of(fields["sites"], name) if "sites" in fields else None
        milestones = self.kinds(fields["milestones"], name) if "milestones" in fields else None
        if channel is ChannelKind.WEBHOOK:
            return self.webhook(node, fields, name, sites, milestones)
        if channel is ChannelKind.EMAIL:
            return self.email(node, fields, name, sites, milestones)
        raise self.error(fields["channel"], f"{name}: channel must be webhook or email")

    def webhook(
        self,
        node: yaml.Node,
        fields: dict[str, yaml.Node],
        name: str,
        sites: frozenset[str] | None,
        milestones: frozenset[MilestoneKind] | None,
    ) -> Subscription:
        self.refuse(fields, name, "to", "webhook")
        for required in ("url", "secret_env"):
            if required not in fields:
                raise self.error(node, f"{name}: a webhook needs '{required}'")
        url = self.text(fields["url"], f"{name}: url")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.error(fields["url"], f"{name}: url {url!r} is not an http(s) URL")
        secret = self.secret(fields["secret_env"])
        return Subscription(
            name=name,
            channel=ChannelKind.WEBHOOK,
            url=url,
            secret=secret,
            sites=sites,
            milestones=milestones,
        )

    def email(
        self,
        node: yaml.Node,
        fields: dict[str, yaml.Node],
        name: str,
        sites: frozenset[str] | None,
        milestones: frozenset[MilestoneKind] | None,
    ) -> Subscription:
        self.refuse(fields, name, "url", "email")
        self.refuse(fields, name, "secret_env", "email")
        if "to" not in fields:
            raise self.error(node, f"{name}: e-mail needs 'to' (a list of addresses)")
        to = tuple(self.address(item) for item in self.items(fields["to"], f"{name}: to"))
        return Subscription(
            name=name, channel=ChannelKind.EMAIL, to=to, sites=sites, milestones=milestones
        )

    # -- values -----------------------------------------------------------------------------

    def mapping(self, node: yaml.Node, what: str, allowed: set[str]) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping of keys to values")
        fields: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = self.text(key_node, f"a key of {what}")
            if key not in allowed:
                expected = ", ".join(sorted(allowed))
                raise self.error(key_node, f"unknown key {key!r} in {what} (known: {expected})")
            if key in fields:
                raise self.error(key_node, f"key {key!r} is given twice in {what}")
            fields[key] = value_node
        return fields

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return node
        return yaml.SafeLoader("").construct_object(node)

    def text(self, node: yaml.Node, what: str) -> str:
        value = self.scalar(node)
        if not isinstance(value, str) or not value.strip():
            raise self.error(node, f"{what} must be a non-empty string")
        return value.strip()

    def items(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise self.error(node, f"{what} must be a non-empty list")
        return list(node.value)

    def flag(self, node: yaml.Node | None, what: str, default: bool) -> bool:
        if node is None:
            return default
        value = self.scalar(node)
        if not isinstance(value, bool):
            raise self.error(node, f"{what} must be true or false")
        return value

    def number(
        self,
        node: yaml.Node | None,
        what: str,
        kind: Callable[[Any], _T],
        default: _T,
        low: float,
        high: float,
    ) -> _T:
        if node is None:
            return default
        value = self.scalar(node)
        whole = kind is int
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
            raise self.error(node, f"{what} must be {'a whole' if whole else 'a'} number")
        if not low <= value <= high:
            raise self.error(node, f"{what} must be between {low:g} and {high:g}, not {value}")
        return kind(value)

    def choice(self, node: yaml.Node, kinds: type[enum.StrEnum], what: str) -> Any:
        value = self.text(node, what)
        if value not in {k.value for k in kinds}:
            known = ", ".join(k.value for k in kinds if k.value != ChannelKind.TOPIC)
            raise self.error(node, f"{what} {value!r} is not one of: {known}")
        return kinds(value)

    def kinds(self, node: yaml.Node, name: str) -> frozenset[MilestoneKind]:
        items = self.items(node, f"{name}: milestones")
        return frozenset(self.choice(item, MilestoneKind, f"{name}: milestone") for item in items)

    def sites_of(self, node: yaml.Node, name: str) -> frozenset[str]:
        codes: set[str] = set()
        for item in self.items(node, f"{name}: sites"):
            code = self.text(item, f"{name}: site")
            if code not in self.sites:
                raise self.error(item, f"{name}: unknown site {code!r} (not in the site registry)")
            codes.add(code)
        return frozenset(codes)

    def address(self, node: yaml.Node) -> str:
        address = self.text(node, "an e-mail address")
        if not _ADDRESS.match(address):
            raise self.error(node, f"{address!r} is not an e-mail address")
        return address

    def secret(self, node: yaml.Node) -> Secret:
        variable = self.text(node, "an environment variable name")
        if not _ENV_NAME.match(variable):
            raise self.error(node, f"{variable!r} is not an environment variable name")
        value = self.env.get(variable)
        if not value:
            raise self.error(node, f"environment variable {variable} is not set (or is empty)")
        return Secret(value)

    def refuse(self, fields: dict[str, yaml.Node], name: str, key: str, channel: str) -> None:
        if key in fields:
            raise self.error(fields[key], f"{name}: '{key}' does not apply to {channel}")
