"""Webhook rules (protocol/webhooks.py) and signatures (protocol/webhook_signature.py), pure."""

from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest

from bilten.clients.sdk import verify_webhook
from bilten.protocol.errors import BadRequest, BadSignature, BadWebhookUrl
from bilten.protocol.webhook_signature import (
    HDR_SIGNATURE,
    HDR_TIMESTAMP,
    REPLAY_WINDOW_S,
    sign,
    signed_headers,
    verify,
)
from bilten.protocol.webhooks import (
    RetryPolicy,
    UrlPolicy,
    encode_body,
    next_attempt_in,
    parse_kinds,
    parse_url,
    refused_address,
    retry_delay,
    subscribable_kinds,
    subscribed,
)

STRICT = UrlPolicy()
DEV = UrlPolicy(allow_http=True, allow_private=True)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://crm.example.org/hook", "not_https"),
        ("ftp://crm.example.org/hook", "malformed"),
        ("https:///no-host", "malformed"),
        ("crm.example.org/hook", "malformed"),
        ("https://user:pw@crm.example.org/hook", "credentials"),
        ("https://crm.example.org/hook#part", "malformed"),
        ("https://crm.example.org/a b", "malformed"),
        ("https://crm.example.org:99999/", "malformed"),
        ("https://127.0.0.1/hook", "private_address"),
        ("https://10.1.2.3/hook", "private_address"),
        ("https://169.254.169.254/latest/meta-data", "private_address"),
        ("https://[::1]/hook", "private_address"),
        ("https://[::ffff:127.0.0.1]/hook", "private_address"),
        ("https://[fd00::1]/hook", "private_address"),
        ("https://0.0.0.0/hook", "private_address"),
        ("https://100.64.0.1/hook", "private_address"),
        ("https://" + "a" * 2100 + ".org/", "malformed"),
        ("", "malformed"),
    ],
)
def test_refused_urls_name_their_reason(url: str, reason: str) -> None:
    with pytest.raises(BadWebhookUrl) as refused:
        parse_url(url, STRICT)
    assert refused.value.code == "bad_webhook_url"
    assert refused.value.details == {"reason": reason, "field": "url"}


@pytest.mark.parametrize("value", [None, 42, ["https://a.org"]])
def test_a_url_that_is_not_text_is_malformed(value: object) -> None:
    with pytest.raises(BadWebhookUrl):
        parse_url(value, STRICT)


def test_accepted_urls_and_where_they_connect() -> None:
    target = parse_url("https://crm.example.org/bilten?x=1", STRICT)
    assert (target.host, target.port, target.tls) == ("crm.example.org", 443, True)
    assert parse_url("https://8.8.8.8:8443/", STRICT).port == 8443
    # The development settings let plain HTTP and this machine through.
    local = parse_url("http://127.0.0.1:9000/hook", DEV)
    assert (local.host, local.port, local.tls) == ("127.0.0.1", 9000, False)


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("127.0.0.1", True),
        ("192.168.1.1", True),
        ("172.16.0.1", True),
        ("169.254.169.254", True),
        ("224.0.0.1", True),
        ("::1", True),
        ("fe80::1%eth0", True),
        ("::ffff:10.0.0.1", True),
    ],
)
def test_refused_addresses(address: str, refused: bool) -> None:
    assert refused_address(address, STRICT) is refused
    assert refused_address(address, DEV) is False


def test_kinds() -> None:
    kinds = subscribable_kinds()
    assert "checkin.decided" in kinds and "events.updated" in kinds
    assert "mail.requested" not in kinds  # carries sign-in links: never sent out
    assert parse_kinds(["checkin.decided", "events.updated"]) == (
        "checkin.decided",
        "events.updated",
    )
    assert parse_kinds(["*"]) == ("*",)
    assert subscribed(("*",), "events.created") and not subscribed(("*",), "mail.requested")
    assert subscribed(("events.updated",), "events.updated")
    assert not subscribed(("events.updated",), "events.created")


@pytest.mark.parametrize(
    "value",
    [
        [],
        "checkin.decided",
        ["checkin.unknown"],
        ["mail.requested"],
        ["*", "events.updated"],
        ["events.updated", "events.updated"],
        [7],
        ["events.updated"] * 65,
    ],
)
def test_bad_kinds_are_bad_requests_naming_the_field(value: object) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_kinds(value)
    assert refused.value.details["field"] == "kinds"


def test_backoff_doubles_to_its_cap_with_jitter_in_the_upper_half() -> None:
    policy = RetryPolicy(base_s=30, max_s=3600, window_s=86400)
    assert [retry_delay(n, policy, 1.0) for n in (1, 2, 3)] == [30, 60, 120]
    assert [retry_delay(n, policy, 0.0) for n in (1, 2, 3)] == [15, 30, 60]
    assert retry_delay(20, policy, 0.5) == 2700  # capped at max_s: 3600 / 2 + 900
    assert retry_delay(10_000, policy, 1.0) == 3600  # no overflow however many attempts


def test_a_delivery_is_given_up_when_its_next_attempt_would_leave_the_window() -> None:
    policy = RetryPolicy(base_s=30, max_s=3600, window_s=86400)
    assert next_attempt_in(1, 0.0, policy, 1.0) == 30
    assert next_attempt_in(30, 86400 - 3600, policy, 1.0) == 3600  # just fits
    assert next_attempt_in(30, 86400 - 3599, policy, 1.0) is None
    # With the defaults a day of failures is about 30 attempts, never fewer than 25.
    age, attempts = 0.0, 0
    while (delay := next_attempt_in(attempts + 1, age, policy, 1.0)) is not None:
        age, attempts = age + delay, attempts + 1
    assert 25 <= attempts <= 35, attempts


def test_the_body_names_the_event_and_carries_its_payload() -> None:
    body = encode_body("99", "events.updated", 4, "2027-06-01T17:00:00+00:00", {"x": 1})
    assert orjson.loads(body) == {
        "id": "99",
        "kind": "events.updated",
        "event_id": 4,
        "occurred_at": "2027-06-01T17:00:00+00:00",
        "data": {"x": 1},
    }


SECRET = "whsec_test-secret"
BODY = b'{"id":"1","kind":"events.updated"}'
NOW = 1_811_790_131


def test_the_signature_is_the_documented_hmac() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == expected
    assert signed_headers(SECRET, NOW, BODY) == {
        HDR_TIMESTAMP: str(NOW),
        HDR_SIGNATURE: f"v1={expected}",
    }


def test_verify_accepts_a_signed_body_within_the_window() -> None:
    headers = signed_headers(SECRET, NOW, BODY)
    assert verify(SECRET, BODY, headers, NOW) == NOW
    assert verify(SECRET, BODY, headers, NOW + REPLAY_WINDOW_S) == NOW
    assert verify(SECRET, BODY, headers, NOW - REPLAY_WINDOW_S) == NOW  # a clock behind
    # Several signatures (a receiver's old and new secret, say): one match is enough.
    both = {**headers, HDR_SIGNATURE: f"v1={'0' * 64} {headers[HDR_SIGNATURE]}"}
    assert verify(SECRET, BODY, both, NOW) == NOW
    assert verify_webhook(SECRET, BODY, headers, now=NOW + 1) == NOW


SIGNED = signed_headers(SECRET, NOW, BODY)
SIGNATURE = SIGNED[HDR_SIGNATURE]


@pytest.mark.parametrize(
    ("secret", "body", "headers", "now", "reason"),
    [
        ("whsec_other", BODY, SIGNED, NOW, "mismatch"),
        (SECRET, BODY + b" ", SIGNED, NOW, "mismatch"),
        (SECRET, BODY, {HDR_TIMESTAMP: str(NOW + 1), HDR_SIGNATURE: SIGNATURE}, NOW, "mismatch"),
        (SECRET, BODY, SIGNED, NOW + REPLAY_WINDOW_S + 1, "stale"),
        (SECRET, BODY, SIGNED, NOW - REPLAY_WINDOW_S - 1, "stale"),
        (SECRET, BODY, {HDR_TIMESTAMP: str(NOW)}, NOW, "missing"),
        (SECRET, BODY, {HDR_SIGNATURE: SIGNATURE}, NOW, "missing"),
        (SECRET, BODY, {HDR_TIMESTAMP: "-5", HDR_SIGNATURE: SIGNATURE}, NOW, "malformed"),
        (SECRET, BODY, {HDR_TIMESTAMP: "\uff11\uff12", HDR_SIGNATURE: SIGNATURE}, NOW, "malformed"),
        (SECRET, BODY, {HDR_TIMESTAMP: str(NOW), HDR_SIGNATURE: "v0=00"}, NOW, "malformed"),
    ],
)
def test_verify_refuses_with_a_reason(
    secret: str, body: bytes, headers: dict[str, str], now: int, reason: str
) -> None:
    with pytest.raises(BadSignature) as refused:
        verify(secret, body, headers, now)
    assert refused.value.code == "bad_signature"
    assert refused.value.details["reason"] == reason
