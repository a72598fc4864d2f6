"""The command table: every rpc method, who may call it, and its REST route.

One table serves both transports (docs/protocol.md §Commands): the WebSocket
`rpc` frame and the REST API resolve a method here, check the caller's role,
and run the same handler, so no command is written twice. The NATS messages
between hub and workers (`CommandRequest` / reply) are encoded here too.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, get_args

import orjson

from bilten.protocol import results
from bilten.protocol.account_commands import ACCOUNT_COMMANDS
from bilten.protocol.allocation import (
    MAX_HOLD_SEATS,
    MAX_ROW_SEATS,
    MAX_ROWS,
    MAX_SECTIONS,
    MAX_TTL_S,
)
from bilten.protocol.analytics_commands import ANALYTICS_COMMANDS
from bilten.protocol.api_key_commands import API_KEY_COMMANDS
from bilten.protocol.attendee_commands import ATTENDEE_COMMANDS
from bilten.protocol.checkin import GATE
from bilten.protocol.checkin import NONCE as NONCE_TEXT
from bilten.protocol.command_shape import Command
from bilten.protocol.device_commands import DEVICE_COMMANDS
from bilten.protocol.errors import (
    BadRequest,
    BiltenError,
    Forbidden,
    Internal,
    UnknownMethod,
    error_from_wire,
)
from bilten.protocol.export_commands import EXPORT_COMMANDS
from bilten.protocol.mail import EMAIL_PATTERN, MAX_ADDRESS
from bilten.protocol.offline import DEVICE, MAX_SYNC_SCANS
from bilten.protocol.params import MAX_ID
from bilten.protocol.poll_commands import POLL_COMMANDS
from bilten.protocol.qa_commands import QA_COMMANDS
from bilten.protocol.schema import validate_params
from bilten.protocol.tokens import MAX_GATES, MAX_TOKEN_EVENTS, ROLES, Claims, Role
from bilten.protocol.webhook_commands import WEBHOOK_COMMANDS

ALL_ROLES: frozenset[Role] = frozenset(get_args(Role))
ORGANIZERS: frozenset[Role] = frozenset({"organizer", "service"})
STAFF: frozenset[Role] = frozenset({"staff", "organizer", "service"})
BUYERS: frozenset[Role] = frozenset({"attendee", "organizer", "service"})
_PATH_PARAM = re.compile(r"{(\w+)}")


def _schema(**props: Any) -> dict[str, Any]:
    return props


# Shared declarations. The bounds are what the workers accept (docs/protocol.md §Commands),
# taken from the modules that parse them wherever such a module exists.
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
CURSOR = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
IDENT = {"type": "string", "pattern": GATE.pattern}  # gates, and subs and orgs of tokens
NONCE = {"type": "string", "pattern": NONCE_TEXT.pattern}
CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$"}
TIME = {"type": "string", "format": "date-time", "maxLength": 64}
MAX_TOKEN_TTL_S = 30 * 86400


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def _ints(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


_EVENT_FIELDS = _schema(
    name=_text(200),
    starts_at=TIME,
    ends_at=TIME,
    timezone={
        "type": "string",
        "maxLength": 64,
        "example": "Europe/Sarajevo",
        "pattern": "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$",
    },
    locale={
        "type": "string",
        "maxLength": 35,
        "example": "bs-BA",
        "pattern": "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
    },
    currency=CURRENCY,
)
_SCAN = _schema(
    code=_text(512),
    gate=IDENT,
    direction={"type": "string", "enum": ["in", "out"]},
    scanned_at=TIME,
    nonce=NONCE,
)
_ROW = {
    "type": "object",
    "required": ["name", "seats"],
    "additionalProperties": False,
    "properties": {
        "name": _text(64),
        "ticket_type_id": ID,
        "seats": {
            "oneOf": [
                _ints(1, MAX_ROW_SEATS),
                {"type": "array", "minItems": 1, "maxItems": MAX_ROW_SEATS, "items": _text(16)},
            ]
        },
    },
}
_SECTION = {
    "type": "object",
    "required": ["name", "rows"],
    "additionalProperties": False,
    "properties": {
        "name": _text(64),
        "ticket_type_id": ID,
        "rows": {"type": "array", "minItems": 1, "maxItems": MAX_ROWS, "items": _ROW},
    },
}
_PLACES = _schema(
    ticket_type_id=ID, section=_text(64), section_id=ID, quantity=_ints(1, MAX_HOLD_SEATS)
)

COMMANDS: dict[str, Command] = {
    c.method: c
    for c in (
        Command(
            "events.create",
            "Create an event in the caller's organization.",
            ORGANIZERS,
            "POST",
            "/api/v1/events",
            "events",
            created=True,
            params=_EVENT_FIELDS,
            result=results.EVENT,
            required=tuple(_EVENT_FIELDS),
        ),
        Command(
            "events.list",
            "List the events the caller's token covers.",
            ALL_ROLES,
            "GET",
            "/api/v1/events",
            "events",
            result=results.page("events", results.EVENT),
            params=_schema(limit=_ints(1, 500), after=CURSOR),
        ),
        Command(
            "events.get",
            "Read one event.",
            ALL_ROLES,
            "GET",
            "/api/v1/events/{event_id}",
            "events",
            result=results.EVENT,
            params=_schema(event_id=ID),
        ),
        Command(
            "events.update",
            "Change an event's fields.",
            ORGANIZERS,
            "PATCH",
            "/api/v1/events/{event_id}",
            "events",
            result=results.EVENT,
            params={"event_id": ID, **_EVENT_FIELDS},
        ),
        Command(
            "tokens.create",
            "Mint a scoped token (viewer, staff, attendee) for own events.",
            ORGANIZERS,
            "POST",
            "/api/v1/tokens",
            None,
            created=True,
            result=results.TOKEN,
            params=_schema(
                role={"type": "string", "enum": list(ROLES)},
                sub=IDENT,
                org=IDENT,
                events={
                    "oneOf": [
                        {"type": "array", "minItems": 1, "maxItems": MAX_TOKEN_EVENTS, "items": ID},
                        {"const": "*"},
                    ]
                },
                gates={"type": "array", "maxItems": MAX_GATES, "items": IDENT},
                ttl_s=_ints(1, MAX_TOKEN_TTL_S),
            ),
            required=("role", "sub", "events"),
        ),
        Command(
            "channels.publish",
            "Publish a message to a channel (announcements).",
            ORGANIZERS,
            "POST",
            "/api/v1/channels/{channel}/publish",
            None,
            result=results.PUBLISHED,
            params=_schema(
                channel={"type": "string", "minLength": 1, "maxLength": 128},
                data={},
                idempotency_key={"type": "string", "pattern": "^[\\x21-\\x7e]{1,128}$"},
            ),
            required=("data",),
        ),
        Command(
            "presence.get",
            "Online attendees of an event, across all hubs.",
            ORGANIZERS,
            "GET",
            "/api/v1/events/{event_id}/presence",
            None,
            result=results.PRESENCE,
            params=_schema(event_id=ID),
        ),
        Command(
            "tickettypes.create",
            "Create a ticket type (price in minor units).",
            ORGANIZERS,
            "POST",
            "/api/v1/events/{event_id}/ticket-types",
            "tickets",
            result=results.TICKET_TYPE,
            created=True,
            params=_schema(
                event_id=ID,
                name=_text(200),
                price_minor=_ints(0, 10**12),
                currency=CURRENCY,
                quota={"type": ["integer", "null"], "minimum": 0, "maximum": 10**7},
            ),
            required=("name", "price_minor"),
        ),
        Command(
            "tickettypes.list",
            "List an event's ticket types.",
            ALL_ROLES,
            "GET",
            "/api/v1/events/{event_id}/ticket-types",
            "tickets",
            result=results.obj(ticket_types=results.array(results.TICKET_TYPE)),
            params=_schema(event_id=ID),
        ),
        Command(
            "tickets.issue",
            "Issue tickets with signed codes.",
            ORGANIZERS,
            "POST",
            "/api/v1/events/{event_id}/tickets",
            "tickets",
            created=True,
            result=results.ISSUED,
            params=_schema(
                event_id=ID,
                ticket_type_id=ID,
                count=_ints(1, 1000),
                holder=_text(200),
                owner_sub=IDENT,
            ),
            required=("ticket_type_id", "holder"),
        ),
        Command(
            "tickets.get",
            "Read a ticket and its code.",
            ALL_ROLES,
            "GET",
            "/api/v1/tickets/{ticket_id}",
            "tickets",
            result=results.TICKET,
            params=_schema(ticket_id=ID),
        ),
        Command(
            "tickets.revoke",
            "Revoke a ticket: it admits no one from now on.",
            ORGANIZERS,
            "POST",
            "/api/v1/tickets/{ticket_id}/revoke",
            "tickets",
            result=results.TICKET,
            params=_schema(ticket_id=ID),
        ),
        Command(
            "gates.set",
            "Set the event's gates and whether re-entry is allowed.",
            ORGANIZERS,
            "PUT",
            "/api/v1/events/{event_id}/gates",
            "tickets",
            result=results.GATES,
            params=_schema(
                event_id=ID,
                gates={"type": "array", "minItems": 1, "maxItems": 100, "items": IDENT},
                allow_reentry={"type": "boolean"},
            ),
            required=("gates",),
        ),
        Command(
            "checkin.scan",
            "Decide one scan at a gate.",
            STAFF,
            "POST",
            "/api/v1/events/{event_id}/checkins",
            "checkin",
            retry=True,
            result=results.VERDICT,
            params=_schema(event_id=ID, **_SCAN),
            required=("code", "gate"),
        ),
        Command(
            "checkin.list",
            "Decided scans of an event (conflicts=1: conflicts only).",
            STAFF,
            "GET",
            "/api/v1/events/{event_id}/checkins",
            "checkin",
            result=results.SCANS,
            params=_schema(
                event_id=ID,
                conflicts={"type": ["boolean", "integer"], "minimum": 0, "maximum": 1},
                after=CURSOR,
            ),
        ),
        Command(
            "checkin.bundle",
            "What a door device needs to decide scans offline.",
            STAFF,
            "GET",
            "/api/v1/events/{event_id}/checkin-bundle",
            "checkin",
            retry=True,
            result=results.BUNDLE,
            timeout_s=30.0,
            params=_schema(event_id=ID, nonce=NONCE),
        ),
        Command(
            "checkin.sync",
            "Upload scans a device decided offline (idempotent by nonce).",
            STAFF,
            "POST",
            "/api/v1/events/{event_id}/checkins/sync",
            "checkin",
            result=results.SYNCED,
            retry=True,
            timeout_s=60.0,
            params=_schema(
                event_id=ID,
                device={"type": "string", "pattern": DEVICE.pattern},
                nonce=NONCE,
                scans={
                    "type": "array",
                    "maxItems": MAX_SYNC_SCANS,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["code", "gate", "scanned_at", "nonce", "verdict"],
                        "properties": {
                            **_SCAN,
                            "verdict": {"type": "string", "enum": ["ok", "rejected"]},
                        },
                    },
                },
            ),
            required=("device", "scans"),
        ),
        # Allocation (docs/allocation.md): seat maps, holds, orders, waiting lists.
        Command(
            "seats.create",
            "Add sections, rows and seats to the event's map.",
            ORGANIZERS,
            "POST",
            "/api/v1/events/{event_id}/seats",
            "allocation",
            result=results.SEATS_CREATED,
            created=True,
            timeout_s=120.0,
            params=_schema(
                event_id=ID,
                sections={
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_SECTIONS,
                    "items": _SECTION,
                },
            ),
            required=("sections",),
        ),
        Command(
            "seats.map",
            "The seat map: sections, rows, seats and their states.",
            ALL_ROLES,
            "GET",
            "/api/v1/events/{event_id}/seats",
            "allocation",
            result=results.SEAT_MAP,
            params=_schema(event_id=ID),
        ),
        Command(
            "seats.configure",
            "Hold ttl, per-attendee cap and expiry warning of an event.",
            ORGANIZERS,
            "PUT",
            "/api/v1/events/{event_id}/allocation",
            "allocation",
            result=results.ALLOCATION,
            params=_schema(
                event_id=ID,
                hold_ttl_s=_ints(10, 86400),
                hold_limit=_ints(1, 1000),
                warn_s=_ints(0, 3600),
            ),
        ),
        Command(
            "seats.hold",
            "Hold chosen seats, the best available, or GA places.",
            BUYERS,
            "POST",
            "/api/v1/events/{event_id}/holds",
            "allocation",
            retry=True,
            result=results.one_of(results.HOLD, results.HOLD_REFUSED),
            params=_schema(
                event_id=ID,
                seat_ids={
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_HOLD_SEATS,
                    "uniqueItems": True,
                    "items": ID,
                },
                **_PLACES,
                together={"type": "boolean"},
                ttl_s=_ints(1, MAX_TTL_S),
                nonce=NONCE,
            ),
        ),
        Command(
            "seats.release",
            "Give a hold's seats back now.",
            BUYERS,
            "DELETE",
            "/api/v1/holds/{hold_id}",
            "allocation",
            retry=True,
            result=results.HOLD,
            params=_schema(hold_id=ID, nonce=NONCE),
        ),
        Command(
            "seats.confirm",
            "Turn a live hold into an order with tickets (idempotent).",
            BUYERS,
            "POST",
            "/api/v1/holds/{hold_id}/confirm",
            "allocation",
            retry=True,
            result=results.one_of(results.ORDER, results.CONFIRM_REFUSED),
            params=_schema(
                hold_id=ID,
                holder=_text(200),
                email={"type": "string", "maxLength": MAX_ADDRESS, "pattern": EMAIL_PATTERN},
                nonce=NONCE,
            ),
        ),
        Command(
            "seats.waitlist.join",
            "Wait for a sold-out ticket type or section.",
            BUYERS,
            "POST",
            "/api/v1/events/{event_id}/waitlist",
            "allocation",
            created=True,
            result=results.WAITING,
            params=_schema(event_id=ID, **_PLACES),
        ),
        # Reading back what was set (docs/protocol.md §Commands), and deleting an empty event.
        # Pages: `limit` (default 100) and `after`, the `next` of the previous page.
        Command(
            "gates.list",
            "The event's gates and whether re-entry is allowed.",
            STAFF,
            "GET",
            "/api/v1/events/{event_id}/gates",
            "tickets",
            result=results.GATES,
            params=_schema(event_id=ID),
        ),
        Command(
            "tickettypes.update",
            "Change a ticket type's name, price or quota.",
            ORGANIZERS,
            "PATCH",
            "/api/v1/events/{event_id}/ticket-types/{ticket_type_id}",
            "tickets",
            result=results.TICKET_TYPE,
            params=_schema(
                event_id=ID,
                ticket_type_id=ID,
                name=_text(200),
                price_minor=_ints(0, 10**12),
                quota={"type": ["integer", "null"], "minimum": 0, "maximum": 10**7},
            ),
        ),
        Command(
            "tickets.list",
            "The event's tickets by id; `q` finds holders by part of a name.",
            ORGANIZERS,
            "GET",
            "/api/v1/events/{event_id}/tickets",
            "tickets",
            result=results.page("tickets", results.TICKET),
            params=_schema(event_id=ID, limit=_ints(1, 500), after=CURSOR, q=_text(200)),
        ),
        Command(
            "orders.list",
            "The event's orders (an attendee's own), with tickets.",
            BUYERS,
            "GET",
            "/api/v1/events/{event_id}/orders",
            "allocation",
            result=results.page("orders", results.OWNED_ORDER),
            params=_schema(event_id=ID, limit=_ints(1, 500), after=CURSOR),
        ),
        Command(
            "orders.get",
            "One order with its tickets (its owner or an organizer).",
            BUYERS,
            "GET",
            "/api/v1/orders/{order_id}",
            "allocation",
            result=results.OWNED_ORDER,
            params=_schema(order_id=ID),
        ),
        Command(
            "holds.list",
            "The event's holds (an attendee's own), by id.",
            BUYERS,
            "GET",
            "/api/v1/events/{event_id}/holds",
            "allocation",
            result=results.page("holds", results.LISTED_HOLD),
            params=_schema(
                event_id=ID,
                limit=_ints(1, 500),
                after=CURSOR,
                status={"type": "string", "enum": ["held", "released", "expired", "confirmed"]},
            ),
        ),
        Command(
            "checkin.inside",
            "Who is inside now: holder, type, gate of entry, since.",
            STAFF,
            "GET",
            "/api/v1/events/{event_id}/inside",
            "checkin",
            result=results.INSIDE,
            params=_schema(event_id=ID, limit=_ints(1, 500), after=CURSOR, gate=IDENT),
        ),
        Command(
            "events.delete",
            "Delete an event without tickets, orders or live holds.",
            ORGANIZERS,
            "DELETE",
            "/api/v1/events/{event_id}",
            "events",
            result=results.DELETED,
            params=_schema(event_id=ID),
        ),
    )
}

COMMANDS.update((c.method, c) for c in ACCOUNT_COMMANDS)
COMMANDS.update((c.method, c) for c in ATTENDEE_COMMANDS)
COMMANDS.update((c.method, c) for c in DEVICE_COMMANDS)
COMMANDS.update((c.method, c) for c in API_KEY_COMMANDS)
COMMANDS.update((c.method, c) for c in QA_COMMANDS)
COMMANDS.update((c.method, c) for c in POLL_COMMANDS)
COMMANDS.update((c.method, c) for c in EXPORT_COMMANDS)
COMMANDS.update((c.method, c) for c in ANALYTICS_COMMANDS)
COMMANDS.update((c.method, c) for c in WEBHOOK_COMMANDS)

# Internal requests between hub and workers, not reachable by clients.
INTERNAL_EVENT_OWNER = "events.owner"


def path_params(command: Command) -> tuple[str, ...]:
    """The names in the command's REST path (`{event_id}`): always required."""
    return tuple(_PATH_PARAM.findall(command.path))


def check_params(
    command: Command, params: Mapping[str, Any], *, text: Collection[str] = ()
) -> dict[str, Any]:
    """The params of a call, checked against the command's one declaration.

    `text` names params that arrived as text (REST path and query string):
    those may spell integers and booleans (protocol/schema.py).
    """
    return validate_params(
        command.params, (*path_params(command), *command.required), params, text=text
    )


def resolve(method: str, claims: Claims) -> Command:
    """The command for `method`, after checking the caller's role may call it."""
    command = COMMANDS.get(method)
    if command is None:
        raise UnknownMethod(f"no method {method!r}")
    if command.auth != "token":
        raise Forbidden(f"{method} is called over REST at {command.path}, not with a token")
    if claims.role not in command.roles:
        raise Forbidden(f"role {claims.role!r} may not call {method}")
    return command


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """What the hub sends a worker: the method, validated caller, and params.

    Session and public commands (`Command.auth`) carry `ANONYMOUS` claims, the
    SHA-256 of the caller's session cookie (if any) and the client's address
    (for rate limits), never the cookie itself.

    `budget_s` is how long the asker waits for the answer: a worker that
    reaches the request only after that runs nothing and answers `timeout`.
    `sent_at` is the hub's clock (seconds since the epoch) when the call came:
    the time of what it records when its caller gave none (a scan's `scanned_at`).
    """

    method: str
    claims: Claims
    params: dict[str, Any]
    session: str | None = None
    address: str | None = None
    budget_s: float | None = None
    sent_at: float | None = None


MAX_SENT_MS = 253_402_300_799_999  # the end of 9999, as tokens' times

# The claims of a call made without a token: they reach nothing.
ANONYMOUS = Claims(sub="anonymous", org="-", role="attendee", events=(), gates=None, exp=0, iat=0)


def encode_request(request: CommandRequest) -> bytes:
    """NATS payload of a command request."""
    c = request.claims
    claims = {
        "sub": c.sub,
        "org": c.org,
        "role": c.role,
        "events": c.events if c.events == "*" else list(c.events),
        "gates": None if c.gates is None else list(c.gates),
        "exp": c.exp,
        "iat": c.iat,
    }
    body: dict[str, Any] = {"method": request.method, "claims": claims, "params": request.params}
    if request.session is not None:
        body["session"] = request.session
    if request.address is not None:
        body["address"] = request.address
    if request.budget_s is not None:
        body["budget_ms"] = round(request.budget_s * 1000)
    if request.sent_at is not None:
        body["sent_ms"] = round(request.sent_at * 1000)
    return orjson.dumps(body)


def decode_request(data: bytes) -> CommandRequest:
    """Parse a command request; the hub already verified the token it came from."""
    try:
        body = orjson.loads(data)
        raw = body["claims"]
        events = raw["events"]
        claims = Claims(
            sub=str(raw["sub"]),
            org=str(raw["org"]),
            role=raw["role"],
            events="*" if events == "*" else tuple(int(e) for e in events),
            gates=None if raw.get("gates") is None else tuple(str(g) for g in raw["gates"]),
            exp=int(raw["exp"]),
            iat=int(raw["iat"]),
        )
        params = body.get("params") or {}
        if not isinstance(params, dict) or not isinstance(body["method"], str):
            raise TypeError("params must be an object")
        session, address = body.get("session"), body.get("address")
        if not isinstance(session, str | None) or not isinstance(address, str | None):
            raise TypeError("session and address must be strings")
        budget_ms = body.get("budget_ms")
        if budget_ms is not None and (type(budget_ms) is not int or budget_ms <= 0):
            raise TypeError("budget_ms must be a positive integer")
        sent_ms = body.get("sent_ms")
        if sent_ms is not None and (type(sent_ms) is not int or not 0 <= sent_ms <= MAX_SENT_MS):
            raise TypeError("sent_ms must be milliseconds since the epoch")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise BadRequest(f"malformed command request: {error}") from None
    budget_s = None if budget_ms is None else budget_ms / 1000
    sent_at = None if sent_ms is None else sent_ms / 1000
    return CommandRequest(body["method"], claims, params, session, address, budget_s, sent_at)


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
