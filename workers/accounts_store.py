"""The accounts worker's PostgreSQL and Redis state: sessions, links, members, audit, revocations.

Secrets (session ids, invitation and reset tokens) are random, handed out
once and stored as SHA-256 digests only (docs/accounts.md §Security). The
hub sends the digest of the session cookie, never the cookie itself.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from datetime import datetime
from typing import Any

from bilten.protocol.accounts import (
    CONNECTION_TOKEN_TTL_S,
    SESSION_MAX_S,
    SESSION_TTL_S,
    MemberRole,
    Revocation,
    account_sub,
)
from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import NotFound, Unauthorized
from bilten.workers.context import Conn, WorkerContext

# A revocation outlives every token it can refuse, and some clock skew between hosts.
REVOCATION_KEEP_S = CONNECTION_TOKEN_TTL_S + 120


def new_secret() -> tuple[str, bytes]:
    """A random secret (URL-safe, 256 bits) and the digest to store."""
    secret = secrets.token_urlsafe(32)
    return secret, digest(secret)


def digest(secret: str) -> bytes:
    """The stored form of a secret."""
    return hashlib.sha256(secret.encode()).digest()


async def create_session(conn: Conn, account_id: int) -> str:
    """A new session of the account; returns the secret for the cookie."""
    secret, id_hash = new_secret()
    await conn.execute(
        "INSERT INTO sessions (id_hash, account_id, expires_at)"
        " VALUES ($1, $2, now() + make_interval(secs => $3))",
        id_hash,
        account_id,
        float(SESSION_TTL_S),
    )
    return secret


def session_hash(request: CommandRequest) -> bytes:
    """The digest of the caller's session, as the hub sent it; Unauthorized without one."""
    if not request.session:
        raise Unauthorized("not signed in")
    try:
        return bytes.fromhex(request.session)
    except ValueError:
        raise Unauthorized("not signed in") from None


async def session_account(conn: Conn, request: CommandRequest) -> int:
    """The signed-in account, after pushing its session's end (sliding, within SESSION_MAX_S)."""
    account_id: int | None = await conn.fetchval(
        """UPDATE sessions SET last_used_at = now(),
               expires_at = least(created_at + make_interval(secs => $2),
                                  now() + make_interval(secs => $3))
           WHERE id_hash = $1 AND expires_at > now() RETURNING account_id""",
        session_hash(request),
        float(SESSION_MAX_S),
        float(SESSION_TTL_S),
    )
    if account_id is None:
        raise Unauthorized("not signed in, or the session ended")
    return account_id


async def audit(
    conn: Conn,
    action: str,
    request: CommandRequest,
    *,
    org: str | None = None,
    account: int | None = None,
    actor: int | None = None,
    **detail: Any,
) -> None:
    """Record one act in the audit log (never with a secret in `detail`)."""
    await conn.execute(
        "INSERT INTO account_audit (org_id, account_id, actor_id, action, address, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        org,
        account,
        actor,
        action,
        request.address,
        detail,
    )


async def me(conn: Conn, account_id: int) -> dict[str, Any]:
    """The account and its memberships, as auth.me answers."""
    account = await conn.fetchrow(
        "SELECT id, email, created_at FROM accounts WHERE id = $1", account_id
    )
    if account is None:
        raise Unauthorized("the account no longer exists")
    rows = await conn.fetch(
        """SELECT m.org_id, o.name, m.role, m.events, m.gates FROM memberships m
           JOIN organizations o ON o.id = m.org_id WHERE m.account_id = $1 ORDER BY m.org_id""",
        account_id,
    )
    return {
        "account": {
            "id": account["id"],
            "email": account["email"],
            "created_at": account["created_at"].isoformat(),
        },
        "memberships": [
            {
                "org": r["org_id"],
                "name": r["name"],
                "role": r["role"],
                "events": r["events"],
                "gates": r["gates"],
            }
            for r in rows
        ],
    }


async def role_in(conn: Conn, org: str, account_id: int) -> MemberRole | None:
    """The account's role in `org`, or None if it is not a member."""
    role: MemberRole | None = await conn.fetchval(
        "SELECT role FROM memberships WHERE org_id = $1 AND account_id = $2", org, account_id
    )
    return role


async def redeem_link(conn: Conn, kind: str, token: str) -> dict[str, Any]:
    """Use a one-time link (row locked, marked used); NotFound if unknown, used or expired."""
    row = await conn.fetchrow(
        """UPDATE account_links SET used_at = now()
           WHERE token_hash = $1 AND kind = $2 AND used_at IS NULL AND expires_at > now()
           RETURNING id, email, org_id, role, events, gates, created_by""",
        digest(token),
        kind,
    )
    if row is None:
        raise NotFound(f"the {kind.replace('_', ' ')} link is unknown, used or expired")
    return dict(row)


async def create_link(
    conn: Conn, kind: str, email: str, ttl_s: int, **fields: Any
) -> tuple[str, int, datetime]:
    """A new one-time link; returns its secret, id and expiry."""
    secret, token_hash = new_secret()
    row = await conn.fetchrow(
        """INSERT INTO account_links
               (token_hash, kind, email, org_id, role, events, gates, created_by, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))
           RETURNING id, expires_at""",
        token_hash,
        kind,
        email,
        fields.get("org"),
        fields.get("role"),
        fields.get("events"),
        fields.get("gates"),
        fields.get("created_by"),
        float(ttl_s),
    )
    assert row is not None
    return secret, row["id"], row["expires_at"]


async def sweep(ctx: WorkerContext) -> None:
    """Delete ended sessions, expired links and pairings (a periodic job): only live ones stay."""
    await ctx.pg.execute("DELETE FROM sessions WHERE expires_at < now()")
    await ctx.pg.execute("DELETE FROM account_links WHERE expires_at < now()")
    await ctx.pg.execute("DELETE FROM device_pairings WHERE expires_at < now()")


async def revoke_tokens(ctx: WorkerContext, org: str, account_id: int) -> None:
    """Refuse the account's connection tokens for `org` issued until now, on every hub."""
    await revoke_bearer(ctx, org, account_sub(account_id))


async def revoke_bearer(
    ctx: WorkerContext, org: str, sub: str, *, until: int | None = None
) -> None:
    """Refuse `sub`'s tokens for `org` issued before `until` (Unix seconds; None: until
    now), on every hub, which also forget the key if `sub` is an API key's.

    Entries older than any token they could refuse are dropped here; a
    device's entry is scored with its token's expiry, so it stays while needed.
    """
    if until is None:
        # `iat` is whole seconds: tokens issued before the next second are refused, so none
        # minted earlier in this second escapes (one minted later in it is refused too).
        until = math.floor(time.time()) + 1
    now = time.time()
    key = ctx.deps.keys.revoked()
    async with ctx.deps.redis.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {f"{org}|{sub}": until})
        pipe.zremrangebyscore(key, "-inf", now - REVOCATION_KEEP_S)
        await pipe.execute()
    # Every hub applies it at once; the set above is what a hub that missed it re-reads.
    await ctx.nc.publish(ctx.subjects.revocations(), Revocation(f"{org}|{sub}", until).encode())
