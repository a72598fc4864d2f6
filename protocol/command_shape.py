"""The shape of one row of the command table (protocol/commands.py).

Apart from the table so that groups of rows can live in modules of their own
(protocol/account_commands.py) and the table still be one dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bilten.protocol.tokens import Role

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
# How a caller proves who they are (docs/accounts.md): a bearer token (REST or
# WebSocket), the session cookie of a signed-in account (REST), the attendee
# session cookie of a signed-in attendee (REST), or nothing.
Auth = Literal["token", "session", "attendee", "public"]


@dataclass(frozen=True, slots=True)
class Command:
    """One method: roles allowed, where it runs, and its REST mirror.

    `worker` names the worker whose queue group serves it over NATS; None means
    the hub answers it itself. Path parameters (`{event_id}`) and, for GET, the
    query string become params; so does the JSON body.
    """

    method: str
    summary: str
    roles: frozenset[Role]
    http: HttpMethod
    path: str
    worker: str | None
    created: bool = False  # REST answers 201 instead of 200
    # Safe to resend to another worker after a timeout (idempotent by a nonce).
    retry: bool = False
    # Time budget when longer than the default request timeout (bulk commands).
    timeout_s: float | None = None
    # The params, declared once as JSON Schema properties (protocol/schema.py): they both
    # validate every call and produce the OpenAPI document. Path parameters are required.
    params: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    # What a successful call answers, as JSON Schema (protocol/results.py): the REST
    # success body and the WebSocket `result`, published in the OpenAPI document.
    result: Mapping[str, Any] = field(default_factory=dict)
    auth: Auth = "token"
    # Counted against a per-caller limit: may answer `rate_limited` (429, `details.retry_after`).
    limited: bool = False
