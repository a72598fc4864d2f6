"""Webhooks' rules: what a subscription names, which addresses it may reach, the body, the backoff.

docs/webhooks.md. Pure: the webhooks worker applies these when a webhook is
written (commands) and again before every attempt (delivery), and tests check
them without a server. Signing and verifying is protocol/webhook_signature.py.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson

from bilten.protocol.errors import BadRequest, BadWebhookUrl
from bilten.protocol.event_log import DOMAIN_EVENTS
from bilten.protocol.mail import MAIL_REQUESTED

ANY_KIND = "*"
# Kinds never sent out: a mail request carries sign-in and reset links.
PRIVATE_KINDS = frozenset({MAIL_REQUESTED})
# The kind of the body `webhooks.test` sends; never a domain event.
PING = "webhooks.ping"
MAX_URL = 2048
MAX_KINDS = 64
MAX_DESCRIPTION = 200
SECRET_PREFIX = "whsec_"
# What a delivery's attempt log keeps of a receiver's answer, and what is read of it.
MAX_RESPONSE_READ = 4096
MAX_RESPONSE_KEPT = 1024

DeliveryStatus = Literal["pending", "delivered", "failed"]
WebhookStatus = Literal["active", "paused"]
UrlProblem = Literal["malformed", "not_https", "credentials", "private_address"]


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """What a deployment lets webhooks reach beyond public HTTPS (development, tests)."""

    allow_http: bool = False
    allow_private: bool = False


def subscribable_kinds() -> list[str]:
    """Every domain event kind a webhook may subscribe to, sorted."""
    return sorted(kind for kind in DOMAIN_EVENTS if kind not in PRIVATE_KINDS)


def parse_kinds(value: object) -> tuple[str, ...]:
    """The kinds of a subscription: known kinds without repeats, or `("*",)` for all."""
    if not isinstance(value, list) or not value or len(value) > MAX_KINDS:
        raise BadRequest(f"kinds must be a list of 1 to {MAX_KINDS} event kinds", field="kinds")
    known = set(subscribable_kinds())
    kinds: list[str] = []
    for kind in value:
        if kind == ANY_KIND:
            if len(value) != 1:
                raise BadRequest('"*" subscribes to every kind: list it alone', field="kinds")
        elif not isinstance(kind, str) or kind not in known:
            raise BadRequest(
                f"unknown event kind {str(kind)[:64]!r}", field="kinds", kinds=sorted(known)
            )
        if kind in kinds:
            raise BadRequest(f"kind {kind!r} is listed twice", field="kinds")
        kinds.append(kind)
    return tuple(kinds)


def subscribed(kinds: tuple[str, ...] | list[str], kind: str) -> bool:
    """Whether a subscription to `kinds` receives events of `kind`."""
    if kind in PRIVATE_KINDS:
        return False
    return kind in kinds or ANY_KIND in kinds


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook URL that passed `parse_url`: where to connect."""

    url: str
    host: str
    port: int
    tls: bool


def parse_url(value: object, policy: UrlPolicy) -> Target:
    """A webhook URL, checked: HTTPS (HTTP only when allowed), a host, no credentials.

    A host that is an IP address is checked here too (`refused_address`);
    a name is checked when it is resolved, on every attempt.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        raise BadWebhookUrl(f"url must be text of 1 to {MAX_URL} characters", "malformed")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise BadWebhookUrl("url is not a URL", "malformed") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BadWebhookUrl("url must be https://host/path", "malformed")
    if parts.scheme == "http" and not policy.allow_http:
        raise BadWebhookUrl("url must use https:// (plain http is refused)", "not_https")
    if parts.username is not None or parts.password is not None:
        raise BadWebhookUrl("url must not carry a user name or password", "credentials")
    if any(c.isspace() or ord(c) < 0x20 for c in value) or parts.fragment:
        raise BadWebhookUrl("url must not hold white space or a #fragment", "malformed")
    host = parts.hostname
    if _is_ip(host) and refused_address(host, policy):
        raise BadWebhookUrl(f"url names a non-public address {host}", "private_address")
    tls = parts.scheme == "https"
    return Target(value, host, port or (443 if tls else 80), tls)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def refused_address(address: str, policy: UrlPolicy) -> bool:
    """Whether an attempt may not connect to `address` (SSRF): loopback, private,
    link-local, multicast, reserved or unspecified, unless the policy allows them."""
    if policy.allow_private:
        return False
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 scope is no part of it
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, within a window counted from the event."""

    base_s: float = 30.0
    max_s: float = 3600.0
    window_s: float = 86400.0


def retry_delay(attempt: int, policy: RetryPolicy, jitter: float) -> float:
    """The wait after failed attempt number `attempt` (1, 2, …): the capped doubling of
    `base_s`, its upper half spread by `jitter` (0 ≤ jitter < 1) so that receivers
    coming back are not met by every retry at once."""
    delay = min(policy.max_s, policy.base_s * 2.0 ** min(attempt - 1, 62))
    return delay / 2 + delay / 2 * jitter


def next_attempt_in(attempt: int, age_s: float, policy: RetryPolicy, jitter: float) -> float | None:
    """Seconds until the next attempt after failed attempt `attempt` of a delivery
    `age_s` old, or None: the next would fall outside the window (give up)."""
    delay = retry_delay(attempt, policy, jitter)
    return None if age_s + delay > policy.window_s else delay


def encode_body(
    source: str, kind: str, event_id: int | None, occurred_at: str, data: dict[str, Any]
) -> bytes:
    """The JSON body of a delivery: the event's id, kind, event and time, and its payload."""
    return orjson.dumps(
        {"id": source, "kind": kind, "event_id": event_id, "occurred_at": occurred_at, "data": data}
    )
