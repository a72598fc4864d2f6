"""The tickets worker: ticket types, issued tickets, gates, and the events' signing keys.

Codes are not stored: Ed25519 signatures are deterministic, so a ticket's
code is re-derived from the event key whenever it is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from bilten.core.deps import Deps
from bilten.protocol.checkin import GATE
from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest, Forbidden, NotFound
from bilten.protocol.events import parse_event_id
from bilten.protocol.params import parse_int
from bilten.protocol.tickets import TicketRef, sign_code
from bilten.workers.runner import CommandHandler

MAX_ISSUE = 1000


@dataclass(frozen=True, slots=True)
class EventKey:
    """An event's signing key pair."""

    private: Ed25519PrivateKey
    public: Ed25519PublicKey


class KeyRing:
    """Event keys, created on first use and cached (they never change)."""

    def __init__(self) -> None:
        self._keys: dict[int, EventKey] = {}

    async def get(self, pg: asyncpg.Pool | asyncpg.Connection, event_id: int, *,
                  create: bool = False) -> EventKey | None:
        """The event's key pair; with `create`, made if the event has none yet."""
        key = self._keys.get(event_id)
        if key is not None:
            return key
        if create:
            fresh = Ed25519PrivateKey.generate()
            await pg.execute(
                "INSERT INTO event_keys (event_id, private_key, public_key) VALUES ($1, $2, $3)"
                " ON CONFLICT (event_id) DO NOTHING", event_id,
                fresh.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
                fresh.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        raw = await pg.fetchval("SELECT private_key FROM event_keys WHERE event_id = $1",
                                event_id)
        if raw is None:
            return None
        private = Ed25519PrivateKey.from_private_bytes(bytes(raw))
        key = self._keys[event_id] = EventKey(private, private.public_key())
        return key


def ticket_json(row: asyncpg.Record, key: EventKey) -> dict[str, Any]:
    """A ticket as the API shows it, with its code."""
    return {
        "id": row["id"], "event_id": row["event_id"], "ticket_type_id": row["ticket_type_id"],
        "holder": row["holder"], "state": row["state"],
        "code": sign_code(key.private, TicketRef(row["event_id"], row["id"])),
    }


def _text(params: dict[str, Any], name: str, limit: int = 200) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit \
            or any(ord(c) < 32 for c in value):
        raise BadRequest(f"{name} must be text of 1-{limit} characters", field=name)
    return value.strip()


async def create_type(request: CommandRequest, deps: Deps) -> dict[str, Any]:
    """tickettypes.create: a ticket type with a price in minor units and optional quota."""
    params = request.params
    event_id = parse_event_id(params)
    name = _text(params, "name")
    price = parse_int(params, "price_minor", 0, 10**12)
    quota = None if params.get("quota") is None else parse_int(params, "quota", 0, 10**7)
    currency = params.get("currency")
    if currency is not None and (not isinstance(currency, str) or len(currency) != 3
                                 or not currency.isupper() or not currency.isalpha()):
        raise BadRequest("currency must be an ISO 4217 code", field="currency")
    row = await deps.pg.fetchrow(
        """INSERT INTO ticket_types (event_id, name, price_minor, currency, quota)
           SELECT id, $2, $3, COALESCE($4, currency), $5 FROM events WHERE id = $1
           RETURNING id, event_id, name, price_minor, currency, quota""",
        event_id, name, price, currency, quota)
    if row is None:
        raise NotFound(f"no event {event_id}")
    return dict(row)


async def list_types(request: CommandRequest, deps: Deps) -> dict[str, Any]:
    """tickettypes.list: the event's ticket types."""
    rows = await deps.pg.fetch(
        "SELECT id, event_id, name, price_minor, currency, quota FROM ticket_types"
        " WHERE event_id = $1 ORDER BY id", parse_event_id(request.params))
    return {"ticket_types": [dict(row) for row in rows]}


async def issue(request: CommandRequest, deps: Deps, keys: KeyRing) -> dict[str, Any]:
    """tickets.issue: `count` tickets of a type for a holder, with their codes."""
    params = request.params
    event_id = parse_event_id(params)
    type_id = parse_int(params, "ticket_type_id", 1, 2**63 - 1)
    count = parse_int(params, "count", 1, MAX_ISSUE, default=1)
    holder = _text(params, "holder")
    owner_sub = None if params.get("owner_sub") is None else _text(params, "owner_sub", 64)
    async with deps.pg.acquire() as conn, conn.transaction():
        if not await conn.fetchval(
                "SELECT 1 FROM ticket_types WHERE id = $1 AND event_id = $2", type_id, event_id):
            raise NotFound(f"no ticket type {type_id} in event {event_id}")
        tickets = await issue_in(conn, keys, event_id, [type_id] * count, holder, owner_sub)
    return {"tickets": tickets}


async def issue_in(conn: asyncpg.Connection, keys: KeyRing, event_id: int,
                   type_ids: Sequence[int], holder: str, owner_sub: str | None
                   ) -> list[dict[str, Any]]:
    """Issue one ticket per entry of `type_ids` in the caller's transaction, with codes.

    Each gets its `ticket_presence` row, so it can be scanned at the door once
    the transaction commits. The types must belong to the event.
    """
    key = await keys.get(conn, event_id, create=True)
    assert key is not None
    rows = await conn.fetch(
        """INSERT INTO tickets (event_id, ticket_type_id, holder, owner_sub)
           SELECT $1, t.type_id, $3, $4 FROM unnest($2::bigint[]) WITH ORDINALITY AS t(type_id, n)
           ORDER BY t.n
           RETURNING id, event_id, ticket_type_id, holder, state""",
        event_id, list(type_ids), holder, owner_sub)
    await conn.execute(
        "INSERT INTO ticket_presence (ticket_id) SELECT unnest($1::bigint[])",
        [row["id"] for row in rows])
    return [ticket_json(row, key) for row in rows]


async def _ticket(request: CommandRequest, deps: Deps) -> asyncpg.Record:
    ticket_id = parse_int(request.params, "ticket_id", 1, 2**63 - 1)
    row = await deps.pg.fetchrow(
        """SELECT t.id, t.event_id, t.ticket_type_id, t.holder, t.state, t.owner_sub, e.org_id
           FROM tickets t JOIN events e ON e.id = t.event_id WHERE t.id = $1""", ticket_id)
    claims = request.claims
    if row is None:
        raise NotFound(f"no ticket {ticket_id}")
    if claims.role == "service":
        return row
    if not claims.covers_event(row["event_id"], row["org_id"]):
        raise NotFound(f"no ticket {ticket_id}")
    if claims.role not in ("organizer",) and row["owner_sub"] != claims.sub:
        raise Forbidden("only the organizer or the ticket's owner may see it")
    return row


async def get(request: CommandRequest, deps: Deps, keys: KeyRing) -> dict[str, Any]:
    """tickets.get: one ticket with its code (organizer, service, or its owner)."""
    row = await _ticket(request, deps)
    key = await keys.get(deps.pg, row["event_id"])
    assert key is not None
    return ticket_json(row, key)


async def revoke(request: CommandRequest, deps: Deps, keys: KeyRing) -> dict[str, Any]:
    """tickets.revoke: the ticket no longer admits anyone (idempotent)."""
    row = await _ticket(request, deps)
    if request.claims.role not in ("organizer", "service"):
        raise Forbidden("only organizers revoke tickets")
    row = await deps.pg.fetchrow(
        """UPDATE tickets SET state = 'revoked', revoked_at = COALESCE(revoked_at, now())
           WHERE id = $1 RETURNING id, event_id, ticket_type_id, holder, state""", row["id"])
    key = await keys.get(deps.pg, row["event_id"])
    assert key is not None
    return ticket_json(row, key)


async def set_gates(request: CommandRequest, deps: Deps) -> dict[str, Any]:
    """gates.set: the event's gate names (and whether re-entry is allowed)."""
    params = request.params
    event_id = parse_event_id(params)
    gates = params.get("gates")
    if not isinstance(gates, list) or not gates or len(gates) > 100 or not all(
            isinstance(g, str) and GATE.match(g) for g in gates):
        raise BadRequest("gates must be 1-100 names of [A-Za-z0-9_-]", field="gates")
    reentry = params.get("allow_reentry")
    if reentry is not None and not isinstance(reentry, bool):
        raise BadRequest("allow_reentry must be true or false", field="allow_reentry")
    async with deps.pg.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM gates WHERE event_id = $1 AND name <> ALL($2::text[])",
                           event_id, gates)
        await conn.execute("INSERT INTO gates (event_id, name) SELECT $1, unnest($2::text[])"
                           " ON CONFLICT DO NOTHING", event_id, sorted(set(gates)))
        allow = await conn.fetchval(
            "UPDATE events SET allow_reentry = COALESCE($2, allow_reentry) WHERE id = $1"
            " RETURNING allow_reentry", event_id, reentry)
    return {"event_id": event_id, "gates": sorted(set(gates)), "allow_reentry": allow}


def handlers(keys: KeyRing) -> dict[str, CommandHandler]:
    """The tickets worker's command handlers, sharing one key ring."""

    async def issue_(r: CommandRequest, d: Deps) -> Any:
        return await issue(r, d, keys)

    async def get_(r: CommandRequest, d: Deps) -> Any:
        return await get(r, d, keys)

    async def revoke_(r: CommandRequest, d: Deps) -> Any:
        return await revoke(r, d, keys)

    return {"tickettypes.create": create_type, "tickettypes.list": list_types,
            "tickets.issue": issue_, "tickets.get": get_, "tickets.revoke": revoke_,
            "gates.set": set_gates}
