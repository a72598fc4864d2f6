"""The command table: every rpc method, who may call it, and its REST route.

One table serves both transports (docs/protocol.md §Commands): the WebSocket
`rpc` frame and the REST API resolve a method here, check the caller's role,
and run the same handler, so no command is written twice. The NATS messages
between hub and workers (`CommandRequest` / reply) are encoded here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from bilten.protocol.errors import (
    BadRequest,
    BiltenError,
    Forbidden,
    Internal,
    UnknownMethod,
    error_from_wire,
)
from bilten.protocol.tokens import Claims, Role

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
ALL_ROLES: frozenset[Role] = frozenset({"organizer", "staff", "attendee", "service"})
ORGANIZERS: frozenset[Role] = frozenset({"organizer", "service"})
STAFF: frozenset[Role] = frozenset({"staff", "organizer", "service"})
BUYERS: frozenset[Role] = frozenset({"attendee", "organizer", "service"})


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
    params: Mapping[str, Any] = field(default_factory=dict)  # JSON Schema properties


def _schema(**props: Any) -> dict[str, Any]:
    return props


_EVENT_FIELDS = _schema(
    name={"type": "string", "minLength": 1, "maxLength": 200},
    starts_at={"type": "string", "format": "date-time"},
    ends_at={"type": "string", "format": "date-time"},
    timezone={"type": "string", "example": "Europe/Sarajevo"},
    locale={"type": "string", "example": "bs-BA"},
    currency={"type": "string", "pattern": "^[A-Z]{3}$"},
)

COMMANDS: dict[str, Command] = {
    c.method: c
    for c in (
        Command("events.create", "Create an event in the caller's organization.", ORGANIZERS,
                "POST", "/api/v1/events", "events", created=True, params=_EVENT_FIELDS),
        Command("events.list", "List the events the caller's token covers.", ALL_ROLES,
                "GET", "/api/v1/events", "events",
                params=_schema(limit={"type": "integer", "minimum": 1, "maximum": 500},
                               after={"type": "integer"})),
        Command("events.get", "Read one event.", ALL_ROLES,
                "GET", "/api/v1/events/{event_id}", "events",
                params=_schema(event_id={"type": "integer"})),
        Command("events.update", "Change an event's fields.", ORGANIZERS,
                "PATCH", "/api/v1/events/{event_id}", "events",
                params={"event_id": {"type": "integer"}, **_EVENT_FIELDS}),
        Command("tokens.create", "Mint a scoped token for staff or attendees of own events.",
                ORGANIZERS, "POST", "/api/v1/tokens", None, created=True,
                params=_schema(role={"type": "string",
                                     "enum": ["organizer", "staff", "attendee", "service"]},
                               sub={"type": "string"},
                               events={"oneOf": [{"type": "array",
                                                  "items": {"type": "integer"}},
                                                 {"const": "*"}]},
                               gates={"type": "array", "items": {"type": "string"}},
                               ttl_s={"type": "integer"})),
        Command("channels.publish", "Publish a message to a channel (announcements).",
                ORGANIZERS, "POST", "/api/v1/channels/{channel}/publish", None,
                params=_schema(channel={"type": "string"}, data={}, idempotency_key={
                    "type": "string", "pattern": "^[\\x21-\\x7e]{1,128}$"})),
        Command("presence.get", "Online attendees of an event, across all hubs.", ORGANIZERS,
                "GET", "/api/v1/events/{event_id}/presence", None,
                params=_schema(event_id={"type": "integer"})),
        Command("tickettypes.create", "Create a ticket type (price in minor units).",
                ORGANIZERS, "POST", "/api/v1/events/{event_id}/ticket-types", "tickets",
                created=True, params=_schema(
                    event_id={"type": "integer"}, name={"type": "string"},
                    price_minor={"type": "integer", "minimum": 0},
                    currency={"type": "string", "pattern": "^[A-Z]{3}$"},
                    quota={"type": ["integer", "null"], "minimum": 0})),
        Command("tickettypes.list", "List an event's ticket types.", ALL_ROLES,
                "GET", "/api/v1/events/{event_id}/ticket-types", "tickets",
                params=_schema(event_id={"type": "integer"})),
        Command("tickets.issue", "Issue tickets with signed codes.", ORGANIZERS,
                "POST", "/api/v1/events/{event_id}/tickets", "tickets", created=True,
                params=_schema(event_id={"type": "integer"}, ticket_type_id={"type": "integer"},
                               count={"type": "integer", "minimum": 1, "maximum": 1000},
                               holder={"type": "string"}, owner_sub={"type": "string"})),
        Command("tickets.get", "Read a ticket and its code.", ALL_ROLES,
                "GET", "/api/v1/tickets/{ticket_id}", "tickets",
                params=_schema(ticket_id={"type": "integer"})),
        Command("tickets.revoke", "Revoke a ticket: it admits no one from now on.", ORGANIZERS,
                "POST", "/api/v1/tickets/{ticket_id}/revoke", "tickets",
                params=_schema(ticket_id={"type": "integer"})),
        Command("gates.set", "Set the event's gates and whether re-entry is allowed.",
                ORGANIZERS, "PUT", "/api/v1/events/{event_id}/gates", "tickets",
                params=_schema(event_id={"type": "integer"},
                               gates={"type": "array", "items": {"type": "string"}},
                               allow_reentry={"type": "boolean"})),
        Command("checkin.scan", "Decide one scan at a gate.", STAFF,
                "POST", "/api/v1/events/{event_id}/checkins", "checkin", retry=True,
                params=_schema(event_id={"type": "integer"}, code={"type": "string"},
                               gate={"type": "string"},
                               direction={"type": "string", "enum": ["in", "out"]},
                               scanned_at={"type": "string", "format": "date-time"},
                               nonce={"type": "string"})),
        Command("checkin.list", "Decided scans of an event (conflicts=1: conflicts only).",
                STAFF, "GET", "/api/v1/events/{event_id}/checkins", "checkin",
                params=_schema(event_id={"type": "integer"}, conflicts={"type": "integer"},
                               after={"type": "integer"})),
        Command("checkin.bundle", "What a door device needs to decide scans offline.", STAFF,
                "GET", "/api/v1/events/{event_id}/checkin-bundle", "checkin", retry=True,
                timeout_s=30.0,
                params=_schema(event_id={"type": "integer"})),
        Command("checkin.sync", "Upload scans a device decided offline (idempotent by nonce).",
                STAFF, "POST", "/api/v1/events/{event_id}/checkins/sync", "checkin",
                retry=True, timeout_s=60.0, params=_schema(
                    event_id={"type": "integer"}, device={"type": "string"},
                    scans={"type": "array", "maxItems": 1000, "items": {
                        "type": "object",
                        "required": ["code", "gate", "scanned_at", "nonce", "verdict"],
                        "properties": {
                            "code": {"type": "string"}, "gate": {"type": "string"},
                            "direction": {"type": "string", "enum": ["in", "out"]},
                            "scanned_at": {"type": "string", "format": "date-time"},
                            "nonce": {"type": "string"},
                            "verdict": {"type": "string", "enum": ["ok", "rejected"]}}}})),
        # Allocation (docs/allocation.md): seat maps, holds, orders, waiting lists.
        Command("seats.create", "Add sections, rows and seats to the event's map.",
                ORGANIZERS, "POST", "/api/v1/events/{event_id}/seats", "allocation",
                created=True, params=_schema(
                    event_id={"type": "integer"},
                    sections={"type": "array", "items": {"type": "object"}})),
        Command("seats.map", "The seat map: sections, rows, seats and their states.", ALL_ROLES,
                "GET", "/api/v1/events/{event_id}/seats", "allocation",
                params=_schema(event_id={"type": "integer"})),
        Command("seats.configure", "Hold ttl, per-attendee cap and expiry warning of an event.",
                ORGANIZERS, "PUT", "/api/v1/events/{event_id}/allocation", "allocation",
                params=_schema(event_id={"type": "integer"},
                               hold_ttl_s={"type": "integer", "minimum": 10},
                               hold_limit={"type": "integer", "minimum": 1},
                               warn_s={"type": "integer", "minimum": 0})),
        Command("seats.hold", "Hold chosen seats, the best available, or GA places.", BUYERS,
                "POST", "/api/v1/events/{event_id}/holds", "allocation", retry=True,
                params=_schema(event_id={"type": "integer"},
                               seat_ids={"type": "array", "items": {"type": "integer"}},
                               ticket_type_id={"type": "integer"}, section={"type": "string"},
                               section_id={"type": "integer"},
                               quantity={"type": "integer", "minimum": 1},
                               together={"type": "boolean"},
                               ttl_s={"type": "integer", "minimum": 1},
                               nonce={"type": "string"})),
        Command("seats.release", "Give a hold's seats back now.", BUYERS,
                "DELETE", "/api/v1/holds/{hold_id}", "allocation", retry=True,
                params=_schema(hold_id={"type": "integer"})),
        Command("seats.confirm", "Turn a live hold into an order with tickets (idempotent).",
                BUYERS, "POST", "/api/v1/holds/{hold_id}/confirm", "allocation", retry=True,
                params=_schema(hold_id={"type": "integer"}, holder={"type": "string"})),
        Command("seats.waitlist.join", "Wait for a sold-out ticket type or section.", BUYERS,
                "POST", "/api/v1/events/{event_id}/waitlist", "allocation", created=True,
                params=_schema(event_id={"type": "integer"}, ticket_type_id={"type": "integer"},
                               section={"type": "string"}, section_id={"type": "integer"},
                               quantity={"type": "integer", "minimum": 1})),
    )
}

# Internal requests between hub and workers, not reachable by clients.
INTERNAL_EVENT_OWNER = "events.owner"


def resolve(method: str, claims: Claims) -> Command:
    """The command for `method`, after checking the caller's role may call it."""
    command = COMMANDS.get(method)
    if command is None:
        raise UnknownMethod(f"no method {method!r}")
    if claims.role not in command.roles:
        raise Forbidden(f"role {claims.role!r} may not call {method}")
    return command


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """What the hub sends a worker: the method, validated caller, and params."""

    method: str
    claims: Claims
    params: dict[str, Any]


def encode_request(request: CommandRequest) -> bytes:
    """NATS payload of a command request."""
    c = request.claims
    claims = {"sub": c.sub, "org": c.org, "role": c.role,
              "events": c.events if c.events == "*" else list(c.events),
              "gates": None if c.gates is None else list(c.gates), "exp": c.exp, "iat": c.iat}
    return orjson.dumps({"method": request.method, "claims": claims, "params": request.params})


def decode_request(data: bytes) -> CommandRequest:
    """Parse a command request; the hub already verified the token it came from."""
    try:
        body = orjson.loads(data)
        raw = body["claims"]
        events = raw["events"]
        claims = Claims(
            sub=str(raw["sub"]), org=str(raw["org"]), role=raw["role"],
            events="*" if events == "*" else tuple(int(e) for e in events),
            gates=None if raw.get("gates") is None else tuple(str(g) for g in raw["gates"]),
            exp=int(raw["exp"]), iat=int(raw["iat"]),
        )
        params = body.get("params") or {}
        if not isinstance(params, dict) or not isinstance(body["method"], str):
            raise TypeError("params must be an object")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise BadRequest(f"malformed command request: {error}") from None
    return CommandRequest(body["method"], claims, params)


def encode_reply(result: Any = None, error: BiltenError | None = None) -> bytes:
    """NATS payload of a reply: `{"result": …}` or `{"error": {code, message}}`."""
    if error is not None:
        return orjson.dumps({"error": error.to_wire()})
    return orjson.dumps({"result": result})


def decode_reply(data: bytes) -> Any:
    """The result of a reply, or raise the error it carries."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise Internal("malformed reply from worker") from None
    if not isinstance(body, dict):
        raise Internal("malformed reply from worker")
    if "error" in body:
        raise error_from_wire(body["error"])
    return body.get("result")
