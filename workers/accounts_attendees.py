"""The accounts worker's attendee commands: sign-in links, attendee sessions, orders, tickets.

docs/accounts.md §Attendees. Asking for a link does the same work for every
address, orders or not: it counts against the limits, stores a link and
queues the mail. So neither the answer, nor its timing, nor the mailbox tells
anyone whether an address bought something; an address without orders signs
in to an empty list. Attendee sessions live in their own table and cookie:
the organizers' session lookup (workers/accounts_store.py) never sees them.
What a signed-in attendee reads is workers/attendee_reads.py.
"""

from __future__ import annotations

import hashlib
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from bilten.infra import outbox
from bilten.infra.keys import RedisKeys
from bilten.protocol import domain_events
from bilten.protocol.accounts import SESSION_MAX_S, SESSION_TTL_S, normalize_email
from bilten.protocol.attendees import (
    DEFAULT_PAGE,
    LINK_LIMITS,
    SIGNIN_LINK_TTL_S,
    attendee_sub,
)
from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest, Forbidden, NotFound, Unauthorized
from bilten.protocol.mail import MAIL_REQUESTED, MailRequest, parse_email, resolve_locale
from bilten.protocol.params import MAX_ID, parse_int
from bilten.protocol.tokens import MAX_TOKEN_EVENTS
from bilten.workers import accounts_limits as limits
from bilten.workers import accounts_store as store
from bilten.workers import attendee_reads as reads
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.runner import CommandHandler


async def count_request(
    redis: aioredis.Redis, keys: RedisKeys, email: str, address: str | None
) -> None:
    """Count a link request against its e-mail and client address; RateLimited when over."""
    scopes = [("email", hashlib.sha256(email.encode()).hexdigest())]
    if address:
        scopes.append(("address", address))
    windows = [
        (keys.signin_links(scope, who), LINK_LIMITS[scope].count, LINK_LIMITS[scope].per_s)
        for scope, who in scopes
    ]
    await limits.count_hits(redis, windows, "too many sign-in links asked for: wait")


async def request_link(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """auth.link.request: mail a sign-in link to the address, whoever it is; answer the same."""
    email = parse_email(normalize_email(request.params["email"]))
    await count_request(ctx.deps.redis, ctx.deps.keys, email, request.address)
    secret, token_hash = store.new_secret()
    mail = MailRequest(
        to=email,
        template="signin_link",
        locale=resolve_locale(request.params.get("locale") or "en"),
        vars={"link": f"{ctx.settings.public_url}/signin#token={secret}"},
    )
    async with ctx.pg.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO attendee_links (token_hash, email, expires_at)"
            " VALUES ($1, $2, now() + make_interval(secs => $3))",
            token_hash,
            email,
            float(SIGNIN_LINK_TTL_S),
        )
        row = await outbox.enqueue(conn, MAIL_REQUESTED, mail.to_payload())
    ctx.publisher.submit([row])
    return {"done": True}


def _attendee(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "attendee": {
            "id": row["id"],
            "email": row["email"],
            "created_at": row["created_at"].isoformat(),
        }
    }


async def redeem_link(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """auth.link.redeem: use the link (once, before it expires) for a new attendee session.

    The secret goes back as `attendee_session`, which the hub moves into the
    attendee cookie and strips from the body.
    """
    async with ctx.pg.acquire() as conn, conn.transaction():
        # The row lock makes a second, concurrent use wait, then find it used.
        link = await conn.fetchrow(
            """UPDATE attendee_links SET used_at = now()
               WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
               RETURNING email, used_at""",
            store.digest(request.params["token"]),
        )
        if link is None:
            raise NotFound("the sign-in link is unknown, used or expired")
        email = link["email"]
        row = await conn.fetchrow(
            """INSERT INTO attendees (email) VALUES ($1)
               ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
               RETURNING id, email, created_at""",
            email,
        )
        assert row is not None  # INSERT … RETURNING
        secret, id_hash = store.new_secret()
        await conn.execute(
            "INSERT INTO attendee_sessions (id_hash, attendee_id, expires_at)"
            " VALUES ($1, $2, now() + make_interval(secs => $3))",
            id_hash,
            row["id"],
            float(SESSION_TTL_S),
        )
        told = await outbox.enqueue_many(
            conn, [domain_events.signed_in(attendee_sub(row["id"]), link["used_at"])]
        )
    ctx.publisher.submit(told)
    return {**_attendee(row), "attendee_session": secret}


async def signed_in(conn: Conn, request: CommandRequest) -> asyncpg.Record:
    """The attendee of the caller's session (id, email, created_at), its end pushed on."""
    row = await conn.fetchrow(
        """UPDATE attendee_sessions s SET last_used_at = now(),
               expires_at = least(s.created_at + make_interval(secs => $2),
                                  now() + make_interval(secs => $3))
           FROM attendees a
           WHERE s.id_hash = $1 AND s.expires_at > now() AND a.id = s.attendee_id
           RETURNING a.id, a.email, a.created_at""",
        store.session_hash(request),
        float(SESSION_MAX_S),
        float(SESSION_TTL_S),
    )
    if row is None:
        raise Unauthorized("not signed in as an attendee, or the session ended")
    return row


async def whoami(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """attendee.me: the signed-in attendee."""
    async with ctx.pg.acquire() as conn:
        return _attendee(await signed_in(conn, request))


def _page(request: CommandRequest) -> tuple[int, int]:
    return (
        parse_int(request.params, "limit", 1, MAX_ID, default=DEFAULT_PAGE),
        parse_int(request.params, "after", 0, MAX_ID, default=0),
    )


async def list_orders(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """attendee.orders: the orders confirmed with the attendee's address, with tickets."""
    limit, after = _page(request)
    async with ctx.pg.acquire() as conn:
        attendee = await signed_in(conn, request)
        shown = await reads.orders_of(conn, ctx.keys, attendee["email"], after, limit)
    return {"orders": shown, "next": shown[-1]["order_id"] if len(shown) == limit else None}


async def list_tickets(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """attendee.tickets: the tickets of the attendee's orders, with codes and QR codes."""
    limit, after = _page(request)
    async with ctx.pg.acquire() as conn:
        attendee = await signed_in(conn, request)
        tickets = await reads.tickets_of(conn, ctx.keys, attendee["email"], after, limit)
    shown = await reads.with_qr(tickets)  # after the connection is back in the pool
    return {"tickets": shown, "next": shown[-1]["id"] if len(shown) == limit else None}


async def token_grant(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """attendee.token: attendee claims for the organization's events the attendee holds
    tickets for (or the asked ones among them), for the hub to mint.

    An organization where the attendee has no order is refused like any
    other: the answer does not say whether it exists. Without `org`, the
    listed events are granted whether or not the attendee bought: an event's
    page (`/e/{event_id}`) is where a buyer follows it and buys.
    """
    org = request.params.get("org")
    asked = request.params.get("events")
    async with ctx.pg.acquire() as conn:
        attendee = await signed_in(conn, request)
        if org is None:
            return await _event_grant(conn, attendee, asked)
        rows = await conn.fetch(
            """SELECT DISTINCT o.event_id FROM orders o JOIN events e ON e.id = o.event_id
               WHERE lower(o.email) = $1 AND e.org_id = $2 ORDER BY o.event_id DESC""",
            attendee["email"],
            org,
        )
    held = [r["event_id"] for r in rows]
    if not held:
        raise Forbidden(f"no tickets in organization {org}", org=org)
    if asked is not None:
        outside = sorted(set(asked) - set(held))
        if outside:
            raise Forbidden(f"no tickets for event {outside[0]}", field="events")
    return {
        "sub": attendee_sub(attendee["id"]),
        "org": org,
        "role": "attendee",
        # The newest events, if someone holds tickets for more than a token may name.
        "events": asked if asked is not None else sorted(held[:MAX_TOKEN_EVENTS]),
        "gates": None,
    }


async def _event_grant(
    conn: Conn, attendee: asyncpg.Record, events: list[int] | None
) -> dict[str, Any]:
    """Claims for the listed events of one organization, bought from or not."""
    if not events:
        raise BadRequest("name the organization or the events", field="org")
    rows = await conn.fetch("SELECT id, org_id FROM events WHERE id = ANY($1::bigint[])", events)
    missing = sorted(set(events) - {r["id"] for r in rows})
    if missing:
        raise NotFound(f"no event {missing[0]}", field="events")
    orgs = {r["org_id"] for r in rows}
    if len(orgs) > 1:
        raise BadRequest("the events belong to several organizations", field="events")
    return {
        "sub": attendee_sub(attendee["id"]),
        "org": orgs.pop(),
        "role": "attendee",
        "events": sorted(set(events)),
        "gates": None,
    }


async def signout(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """attendee.signout: end this attendee session."""
    ended = await ctx.pg.execute(
        "DELETE FROM attendee_sessions WHERE id_hash = $1", store.session_hash(request)
    )
    return {"signed_out": int(ended.split()[-1])}


async def sweep(ctx: WorkerContext) -> None:
    """Delete ended attendee sessions and expired links (a periodic job)."""
    await ctx.pg.execute("DELETE FROM attendee_sessions WHERE expires_at < now()")
    await ctx.pg.execute("DELETE FROM attendee_links WHERE expires_at < now()")


HANDLERS: dict[str, CommandHandler] = {
    "auth.link.request": request_link,
    "auth.link.redeem": redeem_link,
    "attendee.me": whoami,
    "attendee.orders": list_orders,
    "attendee.tickets": list_tickets,
    "attendee.token": token_grant,
    "attendee.signout": signout,
}
