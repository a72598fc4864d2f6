"""The command table's rows for API keys (docs/accounts.md §API keys).

Owners create, list and revoke their organization's keys with their
session; the key itself is then a bearer credential on REST. All run in the
accounts worker.
"""

from __future__ import annotations

from typing import Any

from bilten.protocol import results
from bilten.protocol.api_keys import KEY_ROLES
from bilten.protocol.checkin import GATE
from bilten.protocol.command_shape import Command
from bilten.protocol.params import MAX_ID
from bilten.protocol.tokens import MAX_TOKEN_EVENTS

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_IDENT = {"type": "string", "pattern": GATE.pattern}
_EVENTS = {"type": ["array", "null"], "minItems": 1, "maxItems": MAX_TOKEN_EVENTS, "items": _ID}

API_KEY = results.obj(
    id=results.ID,
    name=results.TEXT,
    role=results.enum(*KEY_ROLES),
    events=results.nullable(results.array(results.ID)),
    created_at=results.TIME,
    last_used_at=results.nullable(results.TIME),
    revoked_at=results.nullable(results.TIME),
)


def _session(method: str, summary: str, http: Any, path: str, **more: Any) -> Command:
    return Command(method, summary, frozenset(), http, path, "accounts", auth="session", **more)


API_KEY_COMMANDS: tuple[Command, ...] = (
    _session(
        "orgs.apikeys.create",
        "Create an API key for integrations; the key is shown this once (owners).",
        "POST",
        "/api/v1/orgs/{org}/api-keys",
        created=True,
        params={
            "org": _IDENT,
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "role": {"type": "string", "enum": list(KEY_ROLES)},
            "events": _EVENTS,
        },
        required=("name", "role"),
        result=results.extend(API_KEY, key=results.TEXT),
    ),
    _session(
        "orgs.apikeys.list",
        "The organization's API keys, without their secrets (owners).",
        "GET",
        "/api/v1/orgs/{org}/api-keys",
        params={"org": _IDENT},
        result=results.obj(api_keys=results.array(API_KEY)),
    ),
    _session(
        "orgs.apikeys.revoke",
        "Revoke an API key: every hub refuses it from its next request on (owners).",
        "DELETE",
        "/api/v1/orgs/{org}/api-keys/{key_id}",
        params={"org": _IDENT, "key_id": _ID},
        result=API_KEY,
    ),
)
