"""The hold sweeper: expiry warnings, expired holds given back, waiting lists served.

docs/allocation.md §Expiry. Every allocation worker runs this loop; holds are
claimed with `FOR NO KEY UPDATE SKIP LOCKED`, so several sweepers split the
work instead of colliding, and a hold being confirmed is left to its confirm.
A sweep every 200 ms, plus the seats feed's 100 ms tick, puts expired seats
back on sale, and on subscribers' screens, well within a second.
"""

from __future__ import annotations

from bilten.infra import outbox
from bilten.protocol.channels import user_channel
from bilten.workers import waitlist
from bilten.workers.context import WorkerContext
from bilten.workers.orders import Freed, free_holds
from bilten.workers.seatmap import CUSTOM_PLANS

_BATCH = 200
INTERVAL_S = 0.2  # between sweeps


async def expire_due(ctx: WorkerContext, freed: Freed) -> int:
    """End one batch of holds past their expiry; returns how many."""
    async with ctx.pg.acquire() as conn, conn.transaction():
        await conn.execute(f"SELECT {CUSTOM_PLANS}")
        holds = await conn.fetch(
            """SELECT id, event_id, owner_sub, ticket_type_id, quantity FROM holds
               WHERE state = 'active' AND expires_at <= now()
               ORDER BY expires_at LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED""",
            _BATCH,
        )
        if not holds:
            return 0
        expired = await free_holds(conn, list(holds), "expired", freed)
        notices = [
            outbox.publication(
                user_channel(h["owner_sub"]).name,
                {"type": "hold.expired", "hold_id": h["id"], "event_id": h["event_id"]},
            )
            for h in holds
        ]
        ids = await outbox.enqueue_many(conn, [*notices, *expired])  # one statement for all
    await outbox.flush(ctx.deps, ids)
    return len(holds)


async def warn_due(ctx: WorkerContext) -> int:
    """Tell owners of holds nearing expiry (once each); returns how many."""
    async with ctx.pg.acquire() as conn, conn.transaction():
        holds = await conn.fetch(
            """UPDATE holds SET warned = true WHERE id IN (
                   SELECT id FROM holds WHERE state = 'active' AND NOT warned AND warn_at <= now()
                   ORDER BY warn_at LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED)
               RETURNING id, event_id, owner_sub, expires_at""",
            _BATCH,
        )
        ids = [
            await outbox.enqueue_publication(
                conn,
                user_channel(h["owner_sub"]).name,
                {
                    "type": "hold.expiring",
                    "hold_id": h["id"],
                    "event_id": h["event_id"],
                    "expires_at": h["expires_at"].isoformat(),
                },
            )
            for h in holds
        ]
    if ids:
        await outbox.flush(ctx.deps, ids)
    return len(holds)


async def offer_freed(ctx: WorkerContext, freed: Freed) -> None:
    """Serve the waiting lists of everything `freed` gave back."""
    for event_id in sorted(freed.events()):
        await waitlist.offer(
            ctx, event_id, freed.types.get(event_id, set()), freed.sections.get(event_id, set())
        )


async def sweep(ctx: WorkerContext) -> int:
    """One pass: expire what is due (all batches), warn, serve waiting lists."""
    freed = Freed()
    expired = 0
    while (batch := await expire_due(ctx, freed)) == _BATCH:
        expired += batch
    await warn_due(ctx)
    await offer_freed(ctx, freed)
    return expired + batch
