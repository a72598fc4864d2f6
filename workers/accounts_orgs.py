"""Organizations' members, invitations and audit log: the owners' commands.

docs/accounts.md §Members. Every command names its organization in the path
and is checked against the caller's own membership there
(protocol/accounts.MANAGES), so no session reaches another organization. A
change of role or a removal revokes the member's outstanding connection
tokens for the organization (`store.revoke_tokens`); a removal also ends the
member's sessions at once.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from bilten.infra import outbox
from bilten.protocol.accounts import (
    GRANTS,
    INVITATION_TTL_S,
    MemberRole,
    check_manages,
    normalize_email,
    parse_member_role,
)
from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest, Conflict, NotFound
from bilten.workers import accounts_store as store
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.runner import CommandHandler


def member_json(row: asyncpg.Record) -> dict[str, Any]:
    """A membership row (joined with its account) as the API shows it."""
    return {
        "account_id": row["account_id"],
        "email": row["email"],
        "role": row["role"],
        "events": row["events"],
        "gates": row["gates"],
        "joined_at": row["joined_at"].isoformat(),
    }


_MEMBER = """SELECT m.account_id, a.email, m.role, m.events, m.gates, m.joined_at
              FROM memberships m JOIN accounts a ON a.id = m.account_id"""


async def _manager(conn: Conn, request: CommandRequest, action: str) -> tuple[str, int]:
    """The organization and the caller's account, once the caller may do `action` there."""
    org = request.params["org"]
    account_id = await store.session_account(conn, request)
    check_manages(await store.role_in(conn, org, account_id), action, org)
    return org, account_id


def _limits(role: MemberRole, params: dict[str, Any]) -> tuple[list[int] | None, list[str] | None]:
    events, gates = params.get("events"), params.get("gates")
    if (events is not None or gates is not None) and not GRANTS[role].limited:
        raise BadRequest("events and gates limit door members only", field="events")
    return events, gates


async def _check_events(conn: Conn, org: str, events: list[int] | None) -> None:
    """A door member's listed events must be the organization's, as an API key's are."""
    if events is None:
        return
    theirs = await conn.fetchval(
        "SELECT count(*) FROM events WHERE id = ANY($1::bigint[]) AND org_id = $2", events, org
    )
    if theirs != len(set(events)):
        raise NotFound(f"not every listed event is one of {org}'s", field="events")


async def request_mail(
    conn: Conn, to: str, template: str, request: CommandRequest, variables: dict[str, Any]
) -> int:
    """Enqueue a `mail.requested` domain event for the mail worker; returns the outbox id."""
    locale = request.params.get("locale") or "en"
    return await outbox.enqueue(
        conn,
        "mail.requested",
        {"to": to, "template": template, "locale": locale, "vars": variables},
    )


async def list_members(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """orgs.members.list: every member of the organization."""
    async with ctx.pg.acquire() as conn:
        org, _ = await _manager(conn, request, "members.read")
        rows = await conn.fetch(f"{_MEMBER} WHERE m.org_id = $1 ORDER BY m.account_id", org)
    return {"members": [member_json(r) for r in rows]}


async def _other_owner(conn: Conn, org: str, account_id: int) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM memberships WHERE org_id = $1 AND role = 'owner'"
        " AND account_id <> $2)",
        org,
        account_id,
    )
    return found


async def update_member(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """orgs.members.update: a member's new role and limits; their old tokens are revoked."""
    role = parse_member_role(request.params["role"])
    events, gates = _limits(role, request.params)
    target = request.params["account_id"]
    async with ctx.pg.acquire() as conn, conn.transaction():
        org, actor = await _manager(conn, request, "members.change")
        await _check_events(conn, org, events)
        before = await store.role_in(conn, org, target)
        if before is None:
            raise NotFound(f"account {target} is not a member of {org}", account_id=target)
        if before == "owner" and role != "owner" and not await _other_owner(conn, org, target):
            raise Conflict("an organization keeps at least one owner", account_id=target)
        await conn.execute(
            "UPDATE memberships SET role = $3, events = $4, gates = $5"
            " WHERE org_id = $1 AND account_id = $2",
            org,
            target,
            role,
            events,
            gates,
        )
        row = await conn.fetchrow(
            f"{_MEMBER} WHERE m.org_id = $1 AND m.account_id = $2", org, target
        )
        await store.audit(
            conn,
            "member.role_changed",
            request,
            org=org,
            account=target,
            actor=actor,
            role=role,
            previous=before,
            events=events,
            gates=gates,
        )
    await store.revoke_tokens(ctx, org, target)
    assert row is not None
    return member_json(row)


async def remove_member(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """orgs.members.remove: the member leaves; their sessions end, their tokens are revoked."""
    target = request.params["account_id"]
    async with ctx.pg.acquire() as conn, conn.transaction():
        org, actor = await _manager(conn, request, "members.change")
        before = await store.role_in(conn, org, target)
        if before is None:
            raise NotFound(f"account {target} is not a member of {org}", account_id=target)
        if before == "owner" and not await _other_owner(conn, org, target):
            raise Conflict("an organization keeps at least one owner", account_id=target)
        await conn.execute(
            "DELETE FROM memberships WHERE org_id = $1 AND account_id = $2", org, target
        )
        await conn.execute("DELETE FROM sessions WHERE account_id = $1", target)
        await store.audit(
            conn, "member.removed", request, org=org, account=target, actor=actor, role=before
        )
    await store.revoke_tokens(ctx, org, target)
    return {"account_id": target, "removed": True}


async def invite(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """orgs.invitations.create: a single-use link, sent by the mail worker (`mail.requested`)."""
    email = normalize_email(request.params["email"])
    role = parse_member_role(request.params["role"])
    events, gates = _limits(role, request.params)
    async with ctx.pg.acquire() as conn, conn.transaction():
        org, actor = await _manager(conn, request, "members.invite")
        await _check_events(conn, org, events)
        name = await conn.fetchval("SELECT name FROM organizations WHERE id = $1", org)
        inviter = await conn.fetchval("SELECT email FROM accounts WHERE id = $1", actor)
        secret, link_id, expires_at = await store.create_link(
            conn,
            "invitation",
            email,
            INVITATION_TTL_S,
            org=org,
            role=role,
            events=events,
            gates=gates,
            created_by=actor,
        )
        variables = {
            "link": f"{ctx.settings.public_url}/join#token={secret}",
            "organization": name,
            "role": role,
            "invited_by": inviter,
            "expires_at": expires_at.isoformat(),
        }
        mail = await request_mail(conn, email, "invitation", request, variables)
        await store.audit(
            conn,
            "invitation.created",
            request,
            org=org,
            actor=actor,
            email=email,
            role=role,
            invitation=link_id,
        )
    ctx.publisher.submit([mail])
    return {"id": link_id, "email": email, "role": role, "expires_at": expires_at.isoformat()}


async def read_audit(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """orgs.audit: the organization's entries and its members' own (sign-ins), newest first."""
    limit = request.params.get("limit", 100)
    async with ctx.pg.acquire() as conn:
        org, _ = await _manager(conn, request, "audit.read")
        rows = await conn.fetch(
            """SELECT id, at, action, account_id, actor_id, address, detail FROM account_audit
               WHERE (org_id = $1 OR (org_id IS NULL AND account_id IN
                      (SELECT account_id FROM memberships WHERE org_id = $1)))
                 AND ($2::bigint IS NULL OR id < $2)
               ORDER BY id DESC LIMIT $3""",
            org,
            request.params.get("before"),
            limit,
        )
    entries = [{**dict(r), "at": r["at"].isoformat()} for r in rows]
    return {"entries": entries, "next": entries[-1]["id"] if len(entries) == limit else None}


HANDLERS: dict[str, CommandHandler] = {
    "orgs.members.list": list_members,
    "orgs.members.update": update_member,
    "orgs.members.remove": remove_member,
    "orgs.invitations.create": invite,
    "orgs.audit": read_audit,
}
