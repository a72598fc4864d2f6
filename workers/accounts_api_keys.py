"""API keys: created, listed and revoked by owners; resolved for hubs (docs/accounts.md).

A key is shown once, when created; the table keeps the SHA-256 of its
secret. Hubs send the key's id and that digest (never the secret) and cache
the answer briefly (protocol/api_keys.API_KEY_CACHE_S), which bounds how
often the last use is written. A revocation is pushed to every hub, which
forgets the key before the revoking call is answered.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from bilten.protocol.accounts import check_manages
from bilten.protocol.api_keys import INTERNAL_API_KEY, api_key_sub, format_key, new_secret
from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import NotFound, Unauthorized
from bilten.workers import accounts_store as store
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.runner import CommandHandler

_COLUMNS = "id, name, role, events, created_at, last_used_at, revoked_at"


def key_json(row: asyncpg.Record) -> dict[str, Any]:
    """An api_keys row as the API shows it (never its secret)."""
    return {
        "id": row["id"],
        "name": row["name"],
        "role": row["role"],
        "events": row["events"],
        "created_at": row["created_at"].isoformat(),
        "last_used_at": row["last_used_at"] and row["last_used_at"].isoformat(),
        "revoked_at": row["revoked_at"] and row["revoked_at"].isoformat(),
    }


async def _owner(conn: Conn, request: CommandRequest) -> tuple[str, int]:
    org = request.params["org"]
    account_id = await store.session_account(conn, request)
    check_manages(await store.role_in(conn, org, account_id), "apikeys.manage", org)
    return org, account_id


async def create(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """orgs.apikeys.create: a new key; listed events must be the organization's."""
    events: list[int] | None = request.params.get("events")
    secret = new_secret()
    async with ctx.pg.acquire() as conn, conn.transaction():
        org, actor = await _owner(conn, request)
        if events is not None:
            theirs = await conn.fetchval(
                "SELECT count(*) FROM events WHERE id = ANY($1::bigint[]) AND org_id = $2",
                events,
                org,
            )
            if theirs != len(set(events)):
                raise NotFound(f"not every listed event is one of {org}'s", field="events")
        row = await conn.fetchrow(
            f"""INSERT INTO api_keys (org_id, name, role, events, secret_hash, created_by)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}""",
            org,
            request.params["name"],
            request.params["role"],
            events,
            store.digest(secret),
            actor,
        )
        assert row is not None
        await store.audit(conn, "apikey.created", request, org=org, actor=actor, key_id=row["id"])
    return {**key_json(row), "key": format_key(row["id"], secret)}


async def list_keys(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """orgs.apikeys.list: every key of the organization, revoked ones included."""
    async with ctx.pg.acquire() as conn:
        org, _ = await _owner(conn, request)
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM api_keys WHERE org_id = $1 ORDER BY id", org
        )
    return {"api_keys": [key_json(r) for r in rows]}


async def revoke(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """orgs.apikeys.revoke: mark the key revoked and have every hub refuse it from its next
    request on."""
    key_id = request.params["key_id"]
    async with ctx.pg.acquire() as conn, conn.transaction():
        org, actor = await _owner(conn, request)
        row = await conn.fetchrow(
            f"""UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
                WHERE id = $1 AND org_id = $2 RETURNING {_COLUMNS}""",
            key_id,
            org,
        )
        if row is None:
            raise NotFound(f"no API key {key_id} in organization {org}", key_id=key_id)
        await store.audit(conn, "apikey.revoked", request, org=org, actor=actor, key_id=key_id)
    # After the commit: a hub that forgets the key and asks again is refused.
    await store.revoke_bearer(ctx, org, api_key_sub(key_id))
    return key_json(row)


async def resolve(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """apikeys.resolve (internal): what a live key grants; records its use.

    The digest is compared in SQL: not constant time, but a SHA-256 of a
    256-bit secret gives a timing attacker nothing to work towards.
    """
    try:
        digest = bytes.fromhex(request.params["digest"])
    except (KeyError, TypeError, ValueError):
        raise Unauthorized("malformed API key") from None
    row = await ctx.pg.fetchrow(
        """UPDATE api_keys SET last_used_at = now()
           WHERE id = $1 AND secret_hash = $2 AND revoked_at IS NULL
           RETURNING org_id, role, events""",
        request.params.get("key_id"),
        digest,
    )
    if row is None:
        raise Unauthorized("unknown or revoked API key")
    return {"org": row["org_id"], "role": row["role"], "events": row["events"]}


HANDLERS: dict[str, CommandHandler] = {
    "orgs.apikeys.create": create,
    "orgs.apikeys.list": list_keys,
    "orgs.apikeys.revoke": revoke,
    INTERNAL_API_KEY: resolve,
}
