"""The webhooks worker: organizers' endpoints, and the deliveries to them.

docs/webhooks.md. Serves `webhooks.*` commands; its durable consumer records a
delivery for every domain event a webhook subscribes to, and its loop sends
them (workers/webhook_delivery.py), apart from every other worker, so a slow
receiver never slows the platform. A webhook belongs to an organization; a
token limited to some events reaches only webhooks filtered to one of them,
and any other organization's webhook looks absent (`not_found`).
"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest, BadWebhookUrl, Forbidden, NotFound
from bilten.protocol.params import MAX_ID, parse_int
from bilten.protocol.subjects import WEBHOOKS_CONSUMER
from bilten.protocol.tokens import Claims
from bilten.protocol.webhook_signature import HDR_DELIVERY_ID, HDR_WEBHOOK_ID, signed_headers
from bilten.protocol.webhooks import (
    MAX_DESCRIPTION,
    PING,
    SECRET_PREFIX,
    encode_body,
    parse_kinds,
    parse_url,
)
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.shape import Consumer, Periodic, Worker
from bilten.workers.webhook_delivery import (
    SWEEP_INTERVAL_S,
    AttemptRef,
    deliver,
    log_attempt,
    record,
    sweep,
)
from bilten.workers.webhook_http import open_sender, resolves_to_refused, url_policy

# How long registering a URL waits for its name to resolve before accepting it unchecked.
RESOLVE_TIMEOUT_S = 2.0
# A ping gets the attempt timeout, but never more than the command's own budget allows.
MAX_PING_S = 60.0

_COLUMNS = """id, org_id, url, kinds, event_id, description, status, failures, paused_at,
    created_at, updated_at,
    (SELECT count(*) FROM webhook_deliveries d
        WHERE d.webhook_id = webhooks.id AND d.status = 'pending') AS pending"""


def webhook_json(row: asyncpg.Record) -> dict[str, Any]:
    """A webhooks row as the API shows it (never its secret)."""
    return {
        "id": row["id"],
        "url": row["url"],
        "kinds": list(row["kinds"]),
        "event_id": row["event_id"],
        "description": row["description"],
        "status": row["status"],
        "failures": row["failures"],
        "pending": row["pending"],
        "paused_at": row["paused_at"].isoformat() if row["paused_at"] else None,
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


async def _reread(conn: Conn, webhook_id: int) -> asyncpg.Record:
    """The webhook as the caller's transaction just wrote it."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM webhooks WHERE id = $1", webhook_id)
    assert row is not None  # locked by this transaction
    return row


def _secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _visible(claims: Claims, row: asyncpg.Record) -> bool:
    if claims.role == "service":
        return True
    if row["org_id"] != claims.org:
        return False
    return claims.events == "*" or row["event_id"] in claims.events


async def _own(
    conn: Conn | asyncpg.Pool, claims: Claims, params: dict[str, Any], *, lock: bool = False
) -> Any:
    """The webhook `webhook_id` if the caller reaches it; else NotFound."""
    webhook_id = parse_int(params, "webhook_id", 1, MAX_ID)
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM webhooks WHERE id = $1{' FOR UPDATE' if lock else ''}",
        webhook_id,
    )
    if row is None or not _visible(claims, row):
        raise NotFound(f"no webhook {webhook_id}")
    return row


async def _checked_url(value: object, ctx: WorkerContext) -> str:
    """A URL `parse_url` accepts whose name, if it resolves now, resolves to public addresses."""
    policy = url_policy(ctx.settings)
    target = parse_url(value, policy)
    if not policy.allow_private:
        refused = await resolves_to_refused(target.host, policy, RESOLVE_TIMEOUT_S)
        if refused:
            raise BadWebhookUrl(refused, "private_address")
    return target.url


def _description(params: dict[str, Any]) -> str | None:
    value = params.get("description")
    if value is not None and (not isinstance(value, str) or len(value) > MAX_DESCRIPTION):
        raise BadRequest(
            f"description must be text of at most {MAX_DESCRIPTION} characters",
            field="description",
        )
    return value or None


async def _event_org(conn: Conn, params: dict[str, Any]) -> tuple[int, str]:
    event_id = parse_int(params, "event_id", 1, MAX_ID)
    org = await conn.fetchval("SELECT org_id FROM events WHERE id = $1", event_id)
    if org is None:
        raise NotFound(f"no event {event_id}")
    return event_id, org


async def create(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """webhooks.create: a new webhook; the answer carries its secret, this once."""
    params, claims = request.params, request.claims
    kinds = parse_kinds(params.get("kinds"))
    description = _description(params)
    url = await _checked_url(params.get("url"), ctx)
    if params.get("event_id") is None and not claims.covers_every_event():
        raise Forbidden("a token limited to some events registers webhooks for one of them")
    secret = _secret()
    async with ctx.pg.acquire() as conn:
        event_id, org = (
            await _event_org(conn, params)
            if params.get("event_id") is not None
            else (None, claims.org)
        )
        row = await conn.fetchrow(
            f"""INSERT INTO webhooks (org_id, url, kinds, event_id, description, secret)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}""",
            org,
            url,
            list(kinds),
            event_id,
            description,
            secret,
        )
    assert row is not None  # RETURNING gives the inserted row
    return {**webhook_json(row), "secret": secret}


async def list_webhooks(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """webhooks.list: the caller's webhooks by id, paged by `after`."""
    params, claims = request.params, request.claims
    limit = parse_int(params, "limit", 1, 500, default=100)
    after = parse_int(params, "after", 0, MAX_ID, default=0)
    args: list[Any] = [after, limit]
    where = "id > $1"
    if params.get("event_id") is not None:
        args.append(parse_int(params, "event_id", 1, MAX_ID))
        where += f" AND event_id = ${len(args)}"
    elif claims.events != "*" and claims.role != "service":
        args.append(list(claims.events))
        where += f" AND event_id = ANY(${len(args)}::bigint[])"
    if claims.role != "service":
        args.append(claims.org)
        where += f" AND org_id = ${len(args)}"
    rows = await ctx.pg.fetch(
        f"SELECT {_COLUMNS} FROM webhooks WHERE {where} ORDER BY id LIMIT $2", *args
    )
    found = [webhook_json(row) for row in rows]
    return {"webhooks": found, "next": found[-1]["id"] if len(found) == limit else None}


async def get(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """webhooks.get: one webhook."""
    return webhook_json(await _own(ctx.pg, request.claims, request.params))


async def update(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """webhooks.update: change the URL, kinds, event filter or description."""
    params = request.params
    kinds = parse_kinds(params["kinds"]) if "kinds" in params else None
    url = await _checked_url(params["url"], ctx) if "url" in params else None
    async with ctx.pg.acquire() as conn, conn.transaction():
        row = await _own(conn, request.claims, params, lock=True)
        event_id = row["event_id"]
        if params.get("event_id") is not None:
            event_id, org = await _event_org(conn, params)
            if org != row["org_id"]:
                raise BadRequest("event_id names another organization's event", field="event_id")
        description = _description(params) if "description" in params else row["description"]
        await conn.execute(
            """UPDATE webhooks SET url = coalesce($2, url), kinds = coalesce($3, kinds),
                    event_id = $4, description = $5, updated_at = now() WHERE id = $1""",
            row["id"],
            url,
            None if kinds is None else list(kinds),
            event_id,
            description,
        )
        changed = await _reread(conn, row["id"])
    return webhook_json(changed)


async def delete(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """webhooks.delete: the webhook, its deliveries and their attempts."""
    async with ctx.pg.acquire() as conn, conn.transaction():
        row = await _own(conn, request.claims, request.params, lock=True)
        await conn.execute("DELETE FROM webhooks WHERE id = $1", row["id"])
    return {"webhook_id": row["id"], "deleted": True}


async def resume(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """webhooks.resume: active again, failures forgotten, pending deliveries due now."""
    async with ctx.pg.acquire() as conn, conn.transaction():
        row = await _own(conn, request.claims, request.params, lock=True)
        await conn.execute(
            """UPDATE webhooks SET status = 'active', failures = 0, paused_at = NULL,
                    updated_at = now() WHERE id = $1""",
            row["id"],
        )
        requeued = await conn.execute(
            """UPDATE webhook_deliveries SET next_attempt_at = now()
                WHERE webhook_id = $1 AND status = 'pending'""",
            row["id"],
        )
        changed = await _reread(conn, row["id"])
    return {**webhook_json(changed), "requeued": int(requeued.split()[-1])}


async def rotate_secret(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """webhooks.rotate_secret: a new secret signs every attempt from now on."""
    secret = _secret()
    async with ctx.pg.acquire() as conn, conn.transaction():
        row = await _own(conn, request.claims, request.params, lock=True)
        await conn.execute(
            "UPDATE webhooks SET secret = $2, updated_at = now() WHERE id = $1", row["id"], secret
        )
        changed = await _reread(conn, row["id"])
    return {**webhook_json(changed), "secret": secret}


_ATTEMPT_COLUMNS = """a.id, a.delivery_id, d.kind, d.event_id, a.attempt, a.outcome,
    d.status AS delivery_status, a.response_code, a.response_body, a.duration_ms, a.error,
    a.at, a.next_attempt_at"""


def attempt_json(row: asyncpg.Record) -> dict[str, Any]:
    """One logged attempt as the API shows it."""
    return {
        **{k: row[k] for k in ("id", "delivery_id", "kind", "event_id", "attempt", "outcome")},
        **{k: row[k] for k in ("delivery_status", "response_code", "response_body")},
        **{k: row[k] for k in ("duration_ms", "error")},
        "at": row["at"].isoformat(),
        "next_attempt_at": row["next_attempt_at"].isoformat() if row["next_attempt_at"] else None,
    }


async def test(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """webhooks.test: send a signed ping now, paused or not; logged, never retried or counted."""
    row = await _own(ctx.pg, request.claims, request.params)
    source = f"ping:{uuid.uuid4().hex}"
    body = encode_body(source, PING, None, datetime.now(UTC).isoformat(), {"webhook_id": row["id"]})
    async with ctx.pg.acquire() as conn, conn.transaction():
        secret = await conn.fetchval("SELECT secret FROM webhooks WHERE id = $1", row["id"])
        delivery_id = await conn.fetchval(
            # `failed` until answered: a ping cut short by a crash is never pending.
            """INSERT INTO webhook_deliveries (webhook_id, source, kind, body, status,
                    attempts, occurred_at)
                VALUES ($1, $2, $3, $4, 'failed', 1, now()) RETURNING id""",
            row["id"],
            source,
            PING,
            body.decode(),
        )
    headers = {
        "Content-Type": "application/json",
        HDR_WEBHOOK_ID: str(row["id"]),
        HDR_DELIVERY_ID: str(delivery_id),
        **signed_headers(secret, int(time.time()), body),
    }
    settings = ctx.settings.replace(
        webhook_timeout_s=min(ctx.settings.webhook_timeout_s, MAX_PING_S)
    )
    async with open_sender(settings) as sender:
        outcome = await sender.post(row["url"], headers, body)
    async with ctx.pg.acquire() as conn, conn.transaction():
        await log_attempt(
            conn, AttemptRef(delivery_id, row["id"], 1), outcome, datetime.now(UTC), None
        )
        await conn.execute(
            "UPDATE webhook_deliveries SET status = $2 WHERE id = $1",
            delivery_id,
            "delivered" if outcome.delivered else "failed",
        )
        logged = await conn.fetchrow(
            f"""SELECT {_ATTEMPT_COLUMNS} FROM webhook_attempts a
                JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE a.delivery_id = $1""",
            delivery_id,
        )
    assert logged is not None  # written just above
    return attempt_json(logged)


async def deliveries(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """webhooks.deliveries: the webhook's attempts, newest first, paged by `before`."""
    params = request.params
    row = await _own(ctx.pg, request.claims, params)
    limit = parse_int(params, "limit", 1, 500, default=100)
    before = parse_int(params, "before", 0, MAX_ID, default=0)  # 0: from the newest
    rows = await ctx.pg.fetch(
        f"""SELECT {_ATTEMPT_COLUMNS} FROM webhook_attempts a
            JOIN webhook_deliveries d ON d.id = a.delivery_id
            WHERE a.webhook_id = $1 AND ($2 = 0 OR a.id < $2) ORDER BY a.id DESC LIMIT $3""",
        row["id"],
        before,
        limit,
    )
    attempts = [attempt_json(r) for r in rows]
    return {"attempts": attempts, "next": attempts[-1]["id"] if len(attempts) == limit else None}


WORKER = Worker(
    "webhooks",
    commands={
        "webhooks.create": create,
        "webhooks.list": list_webhooks,
        "webhooks.get": get,
        "webhooks.update": update,
        "webhooks.delete": delete,
        "webhooks.resume": resume,
        "webhooks.rotate_secret": rotate_secret,
        "webhooks.test": test,
        "webhooks.deliveries": deliveries,
    },
    consumers=(Consumer(WEBHOOKS_CONSUMER, record),),
    periodic=(Periodic("webhooks sweep", SWEEP_INTERVAL_S, sweep),),
    loops=(deliver,),
)
"""Webhooks: commands, the events consumer recording deliveries, the delivery loop, and
the sweep of old settled deliveries."""
