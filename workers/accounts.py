"""The accounts worker: sign-up, sign-in, sessions, passwords and connection-token grants.

docs/accounts.md. Serves the public and session commands of
protocol/account_commands.py; organizations' members, invitations and audit
are in workers/accounts_orgs.py. A sign-in answers the session's secret
once, for the hub to put in the cookie; the database keeps its digest.
"""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg

from bilten.infra import outbox
from bilten.protocol.accounts import (
    GRANTS,
    RESET_TTL_S,
    account_sub,
    check_password,
    normalize_email,
)
from bilten.protocol.commands import CommandRequest
from bilten.protocol.domain_events import signed_in
from bilten.protocol.errors import BadCredentials, EmailTaken, Forbidden
from bilten.workers import accounts_api_keys as api_keys
from bilten.workers import accounts_attendees as attendees
from bilten.workers import accounts_devices as devices
from bilten.workers import accounts_limits as limits
from bilten.workers import accounts_orgs as orgs
from bilten.workers import accounts_store as store
from bilten.workers.accounts_passwords import PASSWORDS, common_passwords
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.runner import CommandHandler

DONE = {"done": True}


async def signup(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """auth.signup: a new account owning a new organization, signed in."""
    email = normalize_email(request.params["email"])
    password = check_password(request.params["password"], email, common_passwords())
    hashed = await PASSWORDS.hash(password)
    org = "org-" + secrets.token_hex(8)  # generated: never one an operator's tokens name
    try:
        async with ctx.pg.acquire() as conn, conn.transaction():
            account_id = await conn.fetchval(
                "INSERT INTO accounts (email, password_hash) VALUES ($1, $2) RETURNING id",
                email,
                hashed,
            )
            await conn.execute(
                "INSERT INTO organizations (id, name) VALUES ($1, $2)",
                org,
                request.params["organization"],
            )
            await conn.execute(
                "INSERT INTO memberships (org_id, account_id, role) VALUES ($1, $2, 'owner')",
                org,
                account_id,
            )
            await store.audit(conn, "signup", request, org=org, account=account_id)
            session, told = await _start_session(conn, account_id, org)
            me = {**await store.me(conn, account_id), "session": session}
    except asyncpg.UniqueViolationError:
        raise EmailTaken("an account with this e-mail address exists", field="email") from None
    ctx.publisher.submit(told)
    return me


async def signin(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """auth.signin: a session for the right password; one argon2 verification either way."""
    email = normalize_email(request.params["email"])
    await limits.check(ctx.deps.redis, ctx.deps.keys, email, request.address)
    row = await ctx.pg.fetchrow("SELECT id, password_hash FROM accounts WHERE email = $1", email)
    stored = None if row is None else row["password_hash"]
    ok = await PASSWORDS.verify(stored, request.params["password"])
    if row is None or not ok:
        await limits.failed(ctx.deps.redis, ctx.deps.keys, email, request.address)
        async with ctx.pg.acquire() as conn:
            account = None if row is None else row["id"]
            await store.audit(conn, "signin.failed", request, account=account, email=email)
        raise BadCredentials("wrong e-mail address or password")
    async with ctx.pg.acquire() as conn, conn.transaction():
        await limits.succeeded(ctx.deps.redis, ctx.deps.keys, email)
        if PASSWORDS.needs_rehash(row["password_hash"]):
            await conn.execute(
                "UPDATE accounts SET password_hash = $2 WHERE id = $1",
                row["id"],
                await PASSWORDS.hash(request.params["password"]),
            )
        await store.audit(conn, "signin", request, account=row["id"])
        session, told = await _start_session(conn, row["id"])
        me = {**await store.me(conn, row["id"]), "session": session}
    ctx.publisher.submit(told)
    return me


async def _start_session(
    conn: Conn, account_id: int, org_id: str | None = None
) -> tuple[str, list[int]]:
    """A new session and its `accounts.signed_in` event (`org_id`: the organization it was
    started in, by a sign-up or an accepted invitation); the secret and the outbox ids."""
    session = await store.create_session(conn, account_id)
    at = await conn.fetchval("SELECT now()")
    told = await outbox.enqueue_many(conn, [signed_in(account_sub(account_id), at, org_id)])
    return session, told


async def whoami(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """auth.me: the signed-in account and its memberships."""
    async with ctx.pg.acquire() as conn:
        return await store.me(conn, await store.session_account(conn, request))


async def signout(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """auth.signout: end this session."""
    ended = await ctx.pg.execute(
        "DELETE FROM sessions WHERE id_hash = $1", store.session_hash(request)
    )
    return {"signed_out": int(ended.split()[-1])}


async def signout_all(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """auth.signout.all: end every session of the account."""
    async with ctx.pg.acquire() as conn, conn.transaction():
        account_id = await store.session_account(conn, request)
        ended = await conn.execute("DELETE FROM sessions WHERE account_id = $1", account_id)
        await store.audit(conn, "signout.all", request, account=account_id)
    return {"signed_out": int(ended.split()[-1])}


async def change_password(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """auth.password: a new password, given the current one; other sessions end."""
    async with ctx.pg.acquire() as conn:
        account_id = await store.session_account(conn, request)
        row = await conn.fetchrow(
            "SELECT email, password_hash FROM accounts WHERE id = $1", account_id
        )
    assert row is not None  # sessions go with their account (ON DELETE CASCADE)
    await limits.check(ctx.deps.redis, ctx.deps.keys, row["email"], request.address)
    if not await PASSWORDS.verify(row["password_hash"], request.params["password"]):
        await limits.failed(ctx.deps.redis, ctx.deps.keys, row["email"], request.address)
        raise BadCredentials("the current password is wrong", field="password")
    new = check_password(request.params["new_password"], row["email"], common_passwords())
    hashed = await PASSWORDS.hash(new)
    async with ctx.pg.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE accounts SET password_hash = $2 WHERE id = $1", account_id, hashed
        )
        ended = await conn.execute(
            "DELETE FROM sessions WHERE account_id = $1 AND id_hash <> $2",
            account_id,
            store.session_hash(request),
        )
        await store.audit(conn, "password.changed", request, account=account_id)
    return {"signed_out": int(ended.split()[-1])}


async def token_grant(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """auth.token: the claims the member's role earns in `org`, for the hub to mint.

    protocol/accounts.GRANTS maps the role to token claims; a door member's
    events and gates narrow the token, and asked-for events must lie within them.
    """
    org = request.params["org"]
    async with ctx.pg.acquire() as conn:
        account_id = await store.session_account(conn, request)
        member = await conn.fetchrow(
            "SELECT role, events, gates FROM memberships WHERE org_id = $1 AND account_id = $2",
            org,
            account_id,
        )
    if member is None:
        raise Forbidden(f"not a member of organization {org}", org=org)
    grant = GRANTS[member["role"]]
    allowed = member["events"] if grant.limited else None
    asked = request.params.get("events")
    if asked is not None and allowed is not None and not set(asked) <= set(allowed):
        outside = sorted(set(asked) - set(allowed))
        raise Forbidden(f"the membership does not cover event {outside[0]}", field="events")
    events: Any = asked if asked is not None else (allowed if allowed is not None else "*")
    return {
        "sub": account_sub(account_id),
        "org": org,
        "role": grant.role,
        "events": events,
        "gates": member["gates"] if grant.limited else None,
    }


async def reset_request(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """auth.reset.request: mail a reset link if the address has an account; answer the same."""
    email = normalize_email(request.params["email"])
    async with ctx.pg.acquire() as conn, conn.transaction():
        account_id = await conn.fetchval("SELECT id FROM accounts WHERE email = $1", email)
        if account_id is None or not await limits.may_mail_reset(
            ctx.deps.redis, ctx.deps.keys, email
        ):
            return DONE
        secret, _, _ = await store.create_link(conn, "password_reset", email, RESET_TTL_S)
        link = f"{ctx.settings.public_url}/reset#token={secret}"
        mail = await orgs.request_mail(conn, email, "password_reset", request, {"link": link})
        await store.audit(conn, "password.reset_requested", request, account=account_id)
    ctx.publisher.submit([mail])
    return DONE


async def reset_confirm(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """auth.reset.confirm: the new password; every session of the account ends."""
    async with ctx.pg.acquire() as conn, conn.transaction():
        link = await store.redeem_link(conn, "password_reset", request.params["token"])
        password = check_password(request.params["password"], link["email"], common_passwords())
        account_id = await conn.fetchval(
            "UPDATE accounts SET password_hash = $2 WHERE email = $1 RETURNING id",
            link["email"],
            await PASSWORDS.hash(password),
        )
        await conn.execute("DELETE FROM sessions WHERE account_id = $1", account_id)
        await store.audit(conn, "password.reset", request, account=account_id)
    return DONE


async def accept_invitation(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """auth.invitation.accept: join the organization (a new account sets its password); signs in.

    An existing account proves itself with its password, under the sign-in
    rate limits; the link alone never signs anyone in to an existing account.
    """
    password = request.params["password"]
    async with ctx.pg.acquire() as conn, conn.transaction():
        link = await store.redeem_link(conn, "invitation", request.params["token"])
        email = link["email"]
        row = await conn.fetchrow("SELECT id, password_hash FROM accounts WHERE email = $1", email)
        if row is None:
            hashed = await PASSWORDS.hash(check_password(password, email, common_passwords()))
            account_id = await conn.fetchval(
                "INSERT INTO accounts (email, password_hash) VALUES ($1, $2) RETURNING id",
                email,
                hashed,
            )
        else:
            account_id = row["id"]
            await _prove(ctx, request, email, row["password_hash"], password)
        await conn.execute(
            """INSERT INTO memberships (org_id, account_id, role, events, gates)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, account_id) DO NOTHING""",
            link["org_id"],
            account_id,
            link["role"],
            link["events"],
            link["gates"],
        )
        await store.audit(
            conn,
            "invitation.accepted",
            request,
            org=link["org_id"],
            account=account_id,
            invitation=link["id"],
        )
        session, told = await _start_session(conn, account_id, link["org_id"])
        me = {**await store.me(conn, account_id), "session": session}
    ctx.publisher.submit(told)
    return me


async def _prove(
    ctx: WorkerContext, request: CommandRequest, email: str, stored: str, password: str
) -> None:
    await limits.check(ctx.deps.redis, ctx.deps.keys, email, request.address)
    if not await PASSWORDS.verify(stored, password):
        await limits.failed(ctx.deps.redis, ctx.deps.keys, email, request.address)
        raise BadCredentials("wrong password for the invited address's account")


HANDLERS: dict[str, CommandHandler] = {
    "auth.signup": signup,
    "auth.signin": signin,
    "auth.me": whoami,
    "auth.signout": signout,
    "auth.signout.all": signout_all,
    "auth.password": change_password,
    "auth.token": token_grant,
    "auth.reset.request": reset_request,
    "auth.reset.confirm": reset_confirm,
    "auth.invitation.accept": accept_invitation,
    **orgs.HANDLERS,
    **attendees.HANDLERS,
    **devices.HANDLERS,
    **api_keys.HANDLERS,
}
