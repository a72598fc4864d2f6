"""What every command answers, as JSON Schema: the shared pieces of the results.

Each command in the command table declares its `result` next to its params
(protocol/commands.py), built from the pieces here; the OpenAPI document
publishes them as the success response of each route, and a test drives every
command through a live hub and validates the answers against them
(docs/protocol.md §Commands). The shapes are the ones the workers build:
`workers/events.event_json`, `workers/ticket_types.type_json`,
`workers/tickets.ticket_json`, `protocol/checkin.ScanVerdict.to_wire`,
`workers/holds.hold_json`, `workers/orders.order_json`,
`workers/seatmap.seat_map`, `protocol/offline.encode_bundle`.

Every field a worker always sends is `required`, with its type; a value that
may be absent is declared nullable rather than optional. Objects leave
`additionalProperties` open: a result may gain fields without breaking
clients, which are to ignore fields they do not know. The test
(tests/hub/test_openapi_results.py) closes every object, so a field a worker
sends that is not declared here fails it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from bilten.protocol.checkin import REASONS
from bilten.protocol.tokens import Role

Schema = dict[str, Any]

ID: Schema = {"type": "integer", "minimum": 1}
COUNT: Schema = {"type": "integer", "minimum": 0}
TEXT: Schema = {"type": "string"}
TIME: Schema = {"type": "string", "format": "date-time"}
CURRENCY: Schema = {"type": "string", "pattern": "^[A-Z]{3}$"}
BOOL: Schema = {"type": "boolean"}


def nullable(schema: Schema) -> Schema:
    """`schema`, or null (an enum gains null too)."""
    out = {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        out["enum"] = [*schema["enum"], None]
    return out


def obj(optional: Mapping[str, Schema] | None = None, **required: Schema) -> Schema:
    """An object with these fields always present, and `optional` ones sometimes."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def array(items: Schema) -> Schema:
    """A list of `items`."""
    return {"type": "array", "items": items}


def page(name: str, item: Schema, **more: Schema) -> Schema:
    """A page of a listing: `{name: [item, …], "next": id|null}` (docs/protocol.md)."""
    return obj(**more, **{name: array(item)}, next=nullable(ID))


def extend(base: Schema, **required: Schema) -> Schema:
    """`base` with more fields, always present (a listing adds its owner, say)."""
    return {
        **base,
        "required": [*base["required"], *required],
        "properties": {**base["properties"], **required},
    }


def one_of(*forms: Schema) -> Schema:
    """Exactly one of these forms (told apart by their `status`)."""
    return {"oneOf": list(forms)}


def const(value: Any) -> Schema:
    """Always this value."""
    return {"const": value}


def enum(*values: str) -> Schema:
    """One of these strings."""
    return {"type": "string", "enum": list(values)}


def pairs(item: Schema) -> Schema:
    """A list of `[value, count]` runs (docs/allocation.md §Seat maps).

    Both entries are `item`: tuple schemas (`prefixItems`) trip OpenAPI tools.
    """
    return array({"type": "array", "minItems": 2, "maxItems": 2, "items": item})


EVENT = obj(
    id=ID,
    org=TEXT,
    name=TEXT,
    starts_at=TIME,
    ends_at=TIME,
    timezone=TEXT,
    locale=TEXT,
    currency=CURRENCY,
    created_at=TIME,
    updated_at=TIME,
)
TICKET_TYPE = obj(
    id=ID,
    event_id=ID,
    name=TEXT,
    price_minor=COUNT,
    currency=CURRENCY,
    quota=nullable(COUNT),
    seated=BOOL,
    held=COUNT,
    sold=COUNT,
    remaining=nullable(COUNT),
)
TICKET = obj(
    id=ID, event_id=ID, ticket_type_id=ID, holder=TEXT, state=enum("valid", "revoked"), code=TEXT
)
GATES = obj(event_id=ID, gates=array(TEXT), allow_reentry=BOOL)

# docs/checkin.md §Verdicts. `revised_at` only on a verdict a later sync changed.
VERDICT = obj(
    {"revised_at": TIME},
    status=enum("ok", "rejected", "conflict"),
    reason=nullable(enum(*REASONS, "device_rejected")),
    ticket=nullable(obj(id=ID, holder=TEXT, type=TEXT, state=enum("valid", "revoked"))),
    previous=nullable(obj(gate=TEXT, at=TIME)),
    gate=TEXT,
    direction=enum("in", "out"),
    scanned_at=TIME,
    nonce=TEXT,
    code=TEXT,
    event_id=ID,
    offline=BOOL,
    device=nullable(TEXT),
    inside=COUNT,
)

# docs/checkin.md §Offline bundle: id lists are delta-encoded (each entry at least 1).
_DELTAS = array(ID)
BUNDLE = obj(
    format=const(1),
    event_id=ID,
    generated_at=TIME,
    public_key=TEXT,
    gates=array(TEXT),
    allowed_gates=nullable(array(TEXT)),
    allow_reentry=BOOL,
    types=array(TEXT),
    tickets=obj(id=_DELTAS, type=array(COUNT), initials=array(TEXT)),
    revoked=_DELTAS,
    inside=obj(id=_DELTAS, gate=array({"type": "integer", "minimum": -1})),
    exited=_DELTAS,
)

# docs/allocation.md §Seat maps: ids and types as runs, states as run-length text.
SEAT_MAP = obj(
    event_id=ID,
    map_version=COUNT,
    seats=COUNT,
    sections=array(
        obj(
            id=ID,
            name=TEXT,
            rows=array(
                obj(
                    id=ID,
                    name=TEXT,
                    ids=pairs(ID),
                    labels=nullable(array(TEXT)),
                    types=pairs(nullable(ID)),
                    states={"type": "string", "pattern": "^([0-9]*[ahs])*$"},
                )
            ),
        )
    ),
    ga=array(
        obj(
            ticket_type_id=ID,
            quota=nullable(COUNT),
            held=COUNT,
            sold=COUNT,
            available=nullable(COUNT),
        )
    ),
    states=obj(available=const("a"), held=const("h"), sold=const("s")),
)
SEATS_CREATED = obj(event_id=ID, map_version=ID, sections=COUNT, rows=COUNT, seats=COUNT)
ALLOCATION = obj(event_id=ID, hold_ttl_s=ID, hold_limit=ID, warn_s=COUNT)

# docs/allocation.md §Holds. A refused hold is an answer, not an error: what was asked
# cannot be had now, and the details say why.
HOLD = obj(
    status=enum("held", "released", "expired", "confirmed"),
    hold_id=ID,
    event_id=ID,
    seat_ids=array(ID),
    ticket_type_id=nullable(ID),
    quantity=ID,
    amount_minor=COUNT,
    currency=CURRENCY,
    expires_at=TIME,
)
HOLD_REFUSED = obj(
    {
        "limit": ID,
        "taken": COUNT,
        "seat_ids": array(ID),
        "available": COUNT,
        "together": BOOL,
        "ticket_type_id": ID,
    },
    status=const("rejected"),
    reason=enum("limit_exceeded", "unavailable", "quota_exhausted"),
)
ORDER = obj(
    status=const("confirmed"),
    order_id=ID,
    hold_id=ID,
    event_id=ID,
    amount_minor=COUNT,
    currency=CURRENCY,
    seat_ids=array(ID),
    tickets=array(TICKET),
    created_at=TIME,
    email=nullable(TEXT),
)
CONFIRM_REFUSED = obj(status=const("rejected"), reason=enum("released", "expired"), hold_id=ID)
WAITING = obj(
    status=const("waiting"),
    waitlist_id=ID,
    position=ID,
    event_id=ID,
    ticket_type_id=nullable(ID),
    section_id=nullable(ID),
    quantity=ID,
)

# Named in the OpenAPI document's components, so client generators make one type each.
NAMED: Mapping[str, Schema] = {
    "Event": EVENT,
    "TicketType": TICKET_TYPE,
    "Ticket": TICKET,
    "ScanVerdict": VERDICT,
    "CheckinBundle": BUNDLE,
    "SeatMap": SEAT_MAP,
    "Hold": HOLD,
    "Order": ORDER,
}

# Results of one command each, too long to write in the command table.
TOKEN = obj(token=TEXT, expires_at=ID, role=enum(*get_args(Role)), sub=TEXT)
PUBLISHED = obj(channel=TEXT, offset=COUNT, epoch=TEXT, idempotency_key=TEXT)
PRESENCE = obj(event_id=ID, online=obj(attendee=COUNT, staff=COUNT, organizer=COUNT))
ISSUED = obj(tickets=array(TICKET), seat_ids=array(ID))
SCANS = page(
    "scans",
    extend(VERDICT, id=ID),
    inside=COUNT,
    inside_by_gate={"type": "object", "additionalProperties": COUNT},
)
SYNCED = obj(event_id=ID, device=TEXT, results=array(VERDICT), inside=COUNT)
INSIDE = page(
    "people",
    obj(ticket_id=ID, holder=TEXT, type=TEXT, gate=TEXT, since=TIME),
    event_id=ID,
    inside=COUNT,
)
OWNED_ORDER = extend(ORDER, owner_sub=TEXT)
LISTED_HOLD = extend(HOLD, owner_sub=TEXT, created_at=TIME)
DELETED = obj(event_id=ID, deleted=const(True))
