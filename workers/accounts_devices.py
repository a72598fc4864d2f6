"""Door devices: pairings, redemption, the device list and revocation (docs/accounts.md).

A pairing is a one-time code (stored as its SHA-256) for one event and
optionally some gates; redeeming it creates the device and answers the
claims of its long-lived staff token, which the hub mints. Revoking a
device adds its `org|device-{id}` to the revocation set until its token
would have expired anyway, and pushes it to every hub, which refuses the
token and closes its sockets at once. Scans and last-seen times are added
by the check-in worker in batches (workers/device_usage.py).
"""

from __future__ import annotations

import io
import time
from typing import Any

import asyncpg
import segno

from bilten.protocol.accounts import check_manages
from bilten.protocol.commands import CommandRequest
from bilten.protocol.devices import (
    DEVICE_TOKEN_TTL_S,
    PAIR_ATTEMPTS,
    PAIR_WINDOW_S,
    PAIRING_TTL_S,
    device_sub,
    new_pairing_code,
    pairing_url,
)
from bilten.protocol.errors import BadRequest, NotFound
from bilten.workers import accounts_limits as limits
from bilten.workers import accounts_store as store
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.runner import CommandHandler

_DEVICE = """SELECT id, name, event_id, gates, paired_at, last_seen_at, scans, revoked_at
              FROM devices"""


def device_json(row: asyncpg.Record) -> dict[str, Any]:
    """A devices row as the API shows it."""
    last_seen, revoked = row["last_seen_at"], row["revoked_at"]
    return {
        "id": row["id"],
        "name": row["name"],
        "event_id": row["event_id"],
        "gates": row["gates"],
        "paired_at": row["paired_at"].isoformat(),
        "last_seen_at": last_seen.isoformat() if last_seen else None,
        "scans": row["scans"],
        "revoked_at": revoked.isoformat() if revoked else None,
    }


async def _manager(conn: Conn, request: CommandRequest) -> tuple[str, int]:
    """The organization and the caller's account, once the caller may manage its devices."""
    org = request.params["org"]
    account_id = await store.session_account(conn, request)
    check_manages(await store.role_in(conn, org, account_id), "devices.manage", org)
    return org, account_id


async def _check_gates(conn: Conn, event_id: int, gates: list[str] | None) -> None:
    if gates is None:
        return
    rows = await conn.fetch("SELECT name FROM gates WHERE event_id = $1", event_id)
    unknown = sorted(set(gates) - {r["name"] for r in rows})
    if unknown:
        raise BadRequest(f"no gate {unknown[0]!r} at event {event_id}", field="gates")


def _qr_svg(url: str) -> str:
    qr = segno.make(url, error="m", micro=False)
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=4, border=2, title="Pair a door device")
    return buffer.getvalue().decode()


async def create_pairing(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """orgs.devices.pair: a one-time code (and its QR) for a device at one of the org's events."""
    params = request.params
    event_id: int = params["event_id"]
    gates: list[str] | None = params.get("gates")
    name: str = params["name"]
    code = new_pairing_code()
    async with ctx.pg.acquire() as conn, conn.transaction():
        org, actor = await _manager(conn, request)
        owner = await conn.fetchval("SELECT org_id FROM events WHERE id = $1", event_id)
        if owner != org:  # another organization's event looks the same as none
            raise NotFound(f"no event {event_id} in organization {org}", event_id=event_id)
        await _check_gates(conn, event_id, gates)
        expires_at = await conn.fetchval(
            """INSERT INTO device_pairings
                   (code_hash, org_id, event_id, gates, name, created_by, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
               RETURNING expires_at""",
            store.digest(code),
            org,
            event_id,
            gates,
            name,
            actor,
            float(PAIRING_TTL_S),
        )
        await store.audit(
            conn, "device.pairing_created", request, org=org, actor=actor, event_id=event_id
        )
    url = pairing_url(ctx.settings.public_url, code)
    return {
        "code": code,
        "url": url,
        "qr_svg": _qr_svg(url),
        "name": name,
        "event_id": event_id,
        "gates": gates,
        "expires_at": expires_at.isoformat(),
    }


async def redeem(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """devices.redeem: the device for a live, unused code, and the claims of its token."""
    # At most PAIR_ATTEMPTS a window per address, used or not: codes cannot be guessed.
    attempts = ctx.deps.keys.pairing_attempts(request.address or "unknown")
    refusal = "too many pairing attempts: wait before trying again"
    await limits.count_hits(ctx.deps.redis, [(attempts, PAIR_ATTEMPTS, PAIR_WINDOW_S)], refusal)
    async with ctx.pg.acquire() as conn, conn.transaction():
        pairing = await conn.fetchrow(
            """UPDATE device_pairings SET used_at = now()
               WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now()
               RETURNING org_id, event_id, gates, name, created_by""",
            store.digest(request.params["code"]),
        )
        if pairing is None:
            raise NotFound("the pairing code is unknown, used or expired")
        expires_at = int(time.time()) + DEVICE_TOKEN_TTL_S
        device_id = await conn.fetchval(
            """INSERT INTO devices (org_id, event_id, gates, name, created_by,
                                    token_expires_at, last_seen_at)
               VALUES ($1, $2, $3, $4, $5, to_timestamp($6), now()) RETURNING id""",
            pairing["org_id"],
            pairing["event_id"],
            pairing["gates"],
            pairing["name"],
            pairing["created_by"],
            expires_at,
        )
        await store.audit(
            conn, "device.paired", request, org=pairing["org_id"], device_id=device_id
        )
    return {
        "sub": device_sub(device_id),
        "device_id": device_id,
        "org": pairing["org_id"],
        "event_id": pairing["event_id"],
        "gates": pairing["gates"],
        "expires_at": expires_at,
    }


async def list_devices(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """orgs.devices.list: every device paired in the organization, newest last."""
    async with ctx.pg.acquire() as conn:
        org, _ = await _manager(conn, request)
        rows = await conn.fetch(f"{_DEVICE} WHERE org_id = $1 ORDER BY id", org)
    return {"devices": [device_json(r) for r in rows]}


async def revoke(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """orgs.devices.revoke: mark the device revoked and refuse its token on every hub."""
    device_id = request.params["device_id"]
    async with ctx.pg.acquire() as conn, conn.transaction():
        org, actor = await _manager(conn, request)
        row = await conn.fetchrow(
            """UPDATE devices SET revoked_at = coalesce(revoked_at, now())
               WHERE id = $1 AND org_id = $2
               RETURNING id, name, event_id, gates, paired_at, last_seen_at, scans, revoked_at,
                         extract(epoch FROM token_expires_at)::bigint AS token_exp""",
            device_id,
            org,
        )
        if row is None:
            raise NotFound(f"no device {device_id} in organization {org}", device_id=device_id)
        await store.audit(
            conn, "device.revoked", request, org=org, actor=actor, device_id=device_id
        )
    await store.revoke_bearer(ctx, org, device_sub(device_id), until=row["token_exp"] + 1)
    return device_json(row)


HANDLERS: dict[str, CommandHandler] = {
    "orgs.devices.pair": create_pairing,
    "orgs.devices.list": list_devices,
    "orgs.devices.revoke": revoke,
    "devices.redeem": redeem,
}
