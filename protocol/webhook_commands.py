"""The command table's rows for webhooks (docs/webhooks.md §Commands), and their results.

All run in the webhooks worker. Organizers and services manage their
organization's webhooks with a token; a token limited to some events reaches
only the webhooks filtered to one of them.
"""

from __future__ import annotations

from typing import Any

from bilten.protocol import results
from bilten.protocol.command_shape import Command
from bilten.protocol.params import MAX_ID
from bilten.protocol.tokens import Role
from bilten.protocol.webhooks import ANY_KIND, MAX_DESCRIPTION, MAX_KINDS, MAX_URL

_ORGANIZERS: frozenset[Role] = frozenset({"organizer", "service"})
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_CURSOR = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
_URL = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_URL,
    "example": "https://crm.example.org/bilten",
}
_KINDS = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_KINDS,
    "items": {"type": "string", "minLength": 1, "maxLength": 64},
    "example": ["checkin.decided"],
    "description": f'Domain event kinds (docs/insight.md), or ["{ANY_KIND}"] for all.',
}
_DESCRIPTION = {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION}
_LIMIT = {"type": "integer", "minimum": 1, "maximum": 500}

WEBHOOK = results.obj(
    id=results.ID,
    url=results.TEXT,
    kinds=results.array(results.TEXT),
    event_id=results.nullable(results.ID),
    description=results.nullable(results.TEXT),
    status=results.enum("active", "paused"),
    failures=results.COUNT,
    pending=results.COUNT,
    paused_at=results.nullable(results.TIME),
    created_at=results.TIME,
    updated_at=results.TIME,
)
ATTEMPT = results.obj(
    id=results.ID,
    delivery_id=results.ID,
    kind=results.TEXT,
    event_id=results.nullable(results.ID),
    attempt=results.ID,
    outcome=results.enum("delivered", "failed"),
    delivery_status=results.enum("pending", "delivered", "failed"),
    response_code=results.nullable(results.ID),
    response_body=results.nullable(results.TEXT),
    duration_ms=results.COUNT,
    error=results.nullable(results.TEXT),
    at=results.TIME,
    next_attempt_at=results.nullable(results.TIME),
)


def _webhooks(method: str, summary: str, http: Any, path: str, **more: Any) -> Command:
    return Command(method, summary, _ORGANIZERS, http, path, "webhooks", **more)


_ONE = "/api/v1/webhooks/{webhook_id}"

WEBHOOK_COMMANDS: tuple[Command, ...] = (
    _webhooks(
        "webhooks.create",
        "Register an HTTPS endpoint for event kinds; the signing secret is shown this once.",
        "POST",
        "/api/v1/webhooks",
        created=True,
        params={"url": _URL, "kinds": _KINDS, "event_id": _ID, "description": _DESCRIPTION},
        required=("url", "kinds"),
        result=results.extend(WEBHOOK, secret=results.TEXT),
    ),
    _webhooks(
        "webhooks.list",
        "The organization's webhooks by id (event_id: those filtered to that event).",
        "GET",
        "/api/v1/webhooks",
        params={"event_id": _ID, "limit": _LIMIT, "after": _CURSOR},
        result=results.page("webhooks", WEBHOOK),
    ),
    _webhooks(
        "webhooks.get",
        "One webhook, without its secret.",
        "GET",
        _ONE,
        params={"webhook_id": _ID},
        result=WEBHOOK,
    ),
    _webhooks(
        "webhooks.update",
        "Change a webhook's URL, kinds, event filter or description.",
        "PATCH",
        _ONE,
        params={
            "webhook_id": _ID,
            "url": _URL,
            "kinds": _KINDS,
            "event_id": _ID,
            "description": _DESCRIPTION,
        },
        result=WEBHOOK,
    ),
    _webhooks(
        "webhooks.delete",
        "Delete a webhook, its pending deliveries and its attempt log.",
        "DELETE",
        _ONE,
        params={"webhook_id": _ID},
        result=results.obj(webhook_id=results.ID, deleted=results.const(True)),
    ),
    _webhooks(
        "webhooks.resume",
        "Resume a paused webhook: its pending deliveries are sent again now.",
        "POST",
        f"{_ONE}/resume",
        params={"webhook_id": _ID},
        result=results.extend(WEBHOOK, requeued=results.COUNT),
    ),
    _webhooks(
        "webhooks.rotate_secret",
        "Replace a webhook's signing secret; the new one is shown this once.",
        "POST",
        f"{_ONE}/rotate-secret",
        params={"webhook_id": _ID},
        result=results.extend(WEBHOOK, secret=results.TEXT),
    ),
    _webhooks(
        "webhooks.test",
        "Send a signed `webhooks.ping` now and answer how the endpoint took it (logged).",
        "POST",
        f"{_ONE}/test",
        params={"webhook_id": _ID},
        timeout_s=75.0,  # beyond the longest attempt BILTEN_WEBHOOK_TIMEOUT allows
        result=ATTEMPT,
    ),
    _webhooks(
        "webhooks.deliveries",
        "A webhook's attempt log, newest first; `before`: the `next` of the previous page.",
        "GET",
        f"{_ONE}/deliveries",
        params={"webhook_id": _ID, "limit": _LIMIT, "before": _CURSOR},
        result=results.page("attempts", ATTEMPT),
    ),
)
