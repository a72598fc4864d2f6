"""The command table's rows for attendees (docs/accounts.md §Attendees).

Two public commands ask for and redeem a sign-in link; the rest take the
attendee session cookie that redeeming sets (`auth="attendee"`), never the
organizers' one, on REST only. All run in the accounts worker; the hub sets
and clears the cookie and mints the connection token (hub/sessions.py).
"""

from __future__ import annotations

from typing import Any

from bilten.protocol import results
from bilten.protocol.account_commands import DONE, SIGNED_OUT, TOKEN
from bilten.protocol.accounts import MAX_EMAIL
from bilten.protocol.attendees import MAX_ORDER_PAGE, MAX_TICKET_PAGE
from bilten.protocol.checkin import GATE
from bilten.protocol.command_shape import Command
from bilten.protocol.params import MAX_ID
from bilten.protocol.tokens import MAX_TOKEN_EVENTS

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_AFTER = {"type": "integer", "minimum": 0, "maximum": MAX_ID}

ATTENDEE = results.obj(
    attendee=results.obj(id=results.ID, email=results.TEXT, created_at=results.TIME)
)
_WHERE = {"event_name": results.TEXT, "org": results.TEXT, "starts_at": results.TIME}
ATTENDEE_ORDER = results.extend(results.ORDER, **_WHERE)
ATTENDEE_TICKET = results.extend(results.TICKET, order_id=results.ID, qr_svg=results.TEXT, **_WHERE)


def _page(largest: int) -> dict[str, Any]:
    return {"limit": {"type": "integer", "minimum": 1, "maximum": largest}, "after": _AFTER}


def _attendee(method: str, summary: str, http: Any, path: str, **more: Any) -> Command:
    return Command(method, summary, frozenset(), http, path, "accounts", auth="attendee", **more)


ATTENDEE_COMMANDS: tuple[Command, ...] = (
    Command(
        "auth.link.request",
        "Mail a sign-in link to see the orders of an e-mail address (same answer for any).",
        frozenset(),
        "POST",
        "/api/v1/auth/signin-link",
        "accounts",
        auth="public",
        params={
            "email": {"type": "string", "minLength": 3, "maxLength": MAX_EMAIL},
            "locale": {"type": "string", "enum": ["en", "tr"]},
        },
        required=("email",),
        result=DONE,
    ),
    Command(
        "auth.link.redeem",
        "Sign in as an attendee with a sign-in link's token: sets the attendee cookie.",
        frozenset(),
        "POST",
        "/api/v1/auth/signin-link/redeem",
        "accounts",
        auth="public",
        params={"token": {"type": "string", "pattern": "^[A-Za-z0-9_-]{20,128}$"}},
        required=("token",),
        result=ATTENDEE,
    ),
    _attendee(
        "attendee.me", "The signed-in attendee.", "GET", "/api/v1/attendee/me", result=ATTENDEE
    ),
    _attendee(
        "attendee.orders",
        "The attendee's orders in every event, with their tickets, by id.",
        "GET",
        "/api/v1/attendee/orders",
        params=_page(MAX_ORDER_PAGE),
        result=results.page("orders", ATTENDEE_ORDER),
    ),
    _attendee(
        "attendee.tickets",
        "The attendee's tickets in every event, with codes and QR codes (SVG), by id.",
        "GET",
        "/api/v1/attendee/tickets",
        params=_page(MAX_TICKET_PAGE),
        result=results.page("tickets", ATTENDEE_TICKET),
    ),
    _attendee(
        "attendee.token",
        "An attendee connection token (minutes): events one holds, or the listed ones.",
        "POST",
        "/api/v1/attendee/tokens",
        created=True,
        params={
            "org": {"type": "string", "pattern": GATE.pattern},
            "events": {
                "type": ["array", "null"],
                "minItems": 1,
                "maxItems": MAX_TOKEN_EVENTS,
                "items": _ID,
            },
        },
        result=TOKEN,
    ),
    _attendee(
        "attendee.signout",
        "End this attendee session.",
        "POST",
        "/api/v1/attendee/signout",
        result=SIGNED_OUT,
    ),
)
