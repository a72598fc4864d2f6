"""The event log's rules: what a domain event message becomes as a row, and replay headers.

docs/insight.md §Event log. A domain event on the events stream is a JSON
object with a `kind` (its subject's last tokens) and, for an event's own
happenings, an integer `event_id`. Pure: the persistence worker (rows) and
`bilten replay` (headers) apply it; tests check it without a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from bilten.protocol import domain_events as de
from bilten.protocol.errors import BadRequest
from bilten.protocol.mail import MAIL_REQUESTED

# Headers of a replayed message (docs/insight.md §Replay): which run, and where
# the original was stored (its stream sequence), so a rebuild can de-duplicate.
HDR_REPLAY_RUN = "Bilten-Replay-Run"
HDR_REPLAY_SEQ = "Bilten-Replay-Seq"
HDR_REPLAY_OCCURRED = "Bilten-Replay-Occurred-At"
HDR_REPLAY_COUNT = "Bilten-Replay-Count"  # on the run's closing `end` message
# The original's `Nats-Msg-Id` (its outbox row), when it had one: analytics key facts by it.
HDR_REPLAY_MSG_ID = "Bilten-Replay-Msg-Id"

# Kinds whose payload carries credentials (sign-in and reset links): logged without them.
_REDACTED = {MAIL_REQUESTED: "vars"}
NOT_RECORDED = "(not recorded)"
_BIGINT_END = 2**63  # event ids are PostgreSQL bigints; a larger number is not one

DOMAIN_EVENTS: dict[str, str] = {
    "events.created": "an event was created (`event`: the event as `events.get` returns it)",
    "events.updated": "an event's fields changed (`event`: the event after the change)",
    "events.deleted": "an event was deleted (`org_id`: its organization)",
    "checkin.decided": "a scan was decided, online or synced from a device (`scan`: the verdict)",
    "checkin.revised": "a stored verdict changed when an offline scan synced (`scan`)",
    "mail.requested": "an e-mail was queued for the mail worker (`to`, `template`, `locale`)",
    de.ORDER_CREATED: "a hold was confirmed into an order (`order`: id, buyer, tickets, amount)",
    de.TICKET_ISSUED: "a ticket was issued, by `tickets.issue` or an order (`ticket`)",
    de.TICKET_REVOKED: "a valid ticket was revoked (`ticket`)",
    de.HOLD_PLACED: "seats or places were held (`hold`: id, count, time)",
    de.HOLD_RELEASED: "a hold was released by its buyer or an organizer (`hold`)",
    de.HOLD_EXPIRED: "a hold ran out and the sweeper gave it back (`hold`)",
    de.HOLD_CONFIRMED: "a hold became an order (`hold`)",
    de.POLL_VOTED: "a vote was accepted (`poll_id`, `session_id`, `ballot_id`; no voter)",
    de.QA_ASKED: "a question was asked (`question_id`, `session_id`; no text, no asker)",
    de.QA_MODERATED: "a moderation action changed a question (`question_id`, `action`)",
    de.ANNOUNCEMENT_SENT: "an announcement was published on the event's channel",
    de.SIGNED_IN: "an account started a session (`sub`, `org_id` when in one organization)",
}
"""Every domain event kind published, and what its payload says (fields: docs/insight.md)."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One domain event as the event log records it."""

    kind: str
    event_id: int | None
    payload: dict[str, Any]
    redacted: bool = False  # a secret of the payload was replaced by NOT_RECORDED


def parse_domain_event(data: bytes) -> LogEntry:
    """The row of one domain event; `BadRequest` when it is not one (it can never be)."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"malformed domain event: {error}") from None
    if not isinstance(body, dict) or not isinstance(body.get("kind"), str) or not body["kind"]:
        raise BadRequest("malformed domain event: no kind")
    if b"\\u0000" in data and _has_nul(body):  # PostgreSQL's jsonb cannot hold one
        raise BadRequest("malformed domain event: a NUL character")
    kind: str = body["kind"]
    secret = _REDACTED.get(kind)
    redacted = secret is not None and secret in body
    if redacted:
        body = {**body, secret: NOT_RECORDED}
    event_id = body.get("event_id")
    is_id = type(event_id) is int and 0 < event_id < _BIGINT_END
    return LogEntry(kind, event_id if is_id else None, body, redacted)


# A message id is part of unique keys (the event log's, a webhook's deliveries'), and a
# PostgreSQL index entry holds 2704 bytes at most: ours are far shorter than this.
MAX_MSG_ID_BYTES = 512


def checked_msg_id(msg_id: str | None) -> str | None:
    """A domain event's message id, or `BadRequest` when it is too long to be keyed by."""
    if msg_id is not None and len(msg_id.encode()) > MAX_MSG_ID_BYTES:
        raise BadRequest(f"message id of {len(msg_id.encode())} bytes (at most {MAX_MSG_ID_BYTES})")
    return msg_id


def _has_nul(value: object) -> bool:
    """Whether a NUL character is in any string of a decoded JSON value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
