"""Allocation locks (maps, the feed, buyers) are per namespace; `seats.create` has its own
budget in the runner."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest
from nats.errors import NoRespondersError

from bilten.infra.deps import open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare
from bilten.protocol.commands import COMMANDS, CommandRequest, decode_reply, encode_request
from bilten.protocol.errors import Timeout
from bilten.protocol.tokens import mint_claims
from bilten.workers import events, hold_batch, seatfeed, seatmap, ticket_types
from bilten.workers.context import WorkerContext
from bilten.workers.runner import serve_commands
from tests.hub.helpers import EVENT
from tests.waiting import WAIT_S, arrives, wait_for

MAP = {"sections": [{"name": "A", "rows": [{"name": "1", "seats": 3}]}]}


def _claims() -> Any:
    return mint_claims(
        sub="o-1", org="acme", role="organizer", events="*", ttl_s=60, now=time.time()
    )


async def _holding(settings: Settings, namespace: str, purpose: Any) -> asyncpg.Connection:
    """A connection in an open transaction holding `namespace`'s `purpose` lock."""
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url)
    await conn.execute("BEGIN")
    await conn.execute(
        f"SELECT pg_advisory_xact_lock({seatmap.LOCK_BY_NAMESPACE})",
        seatmap.NAMESPACE_LOCK,
        seatmap.namespace_key(namespace, purpose),
    )
    return conn


async def test_another_namespace_holding_its_locks_blocks_neither_map_nor_feed(
    migrated: Settings,
) -> None:
    other = await _holding(migrated, "other" + migrated.namespace, "map")
    await other.execute(
        f"SELECT pg_advisory_xact_lock({seatmap.LOCK_BY_NAMESPACE})",
        seatmap.NAMESPACE_LOCK,
        seatmap.namespace_key("other" + migrated.namespace, "feed"),
    )
    try:
        async with open_deps(migrated, "test") as deps:
            await declare(deps.js, deps.subjects, StreamLimits())
            ctx = WorkerContext(deps, Metrics())
            event = await events.create(
                CommandRequest("events.create", _claims(), dict(EVENT)), ctx
            )
            request = CommandRequest("seats.create", _claims(), {"event_id": event["id"], **MAP})
            created = await arrives(
                seatmap.create(request, ctx),
                what="seats.create beside another namespace's map lock",
            )
            assert created["seats"] == 3
            # The new map is a change the feed publishes, despite the other's feed lock.
            assert await arrives(seatfeed.tick(ctx), what="a tick") >= 1
    finally:
        await other.close()


async def test_another_namespace_holding_a_buyer_lock_does_not_hold_up_our_buyer(
    migrated: Settings,
) -> None:
    """Event ids are per schema: another deployment's buyer of "its" event 1 is another lock."""
    async with open_deps(migrated, "test") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        ctx = WorkerContext(deps, Metrics())
        event = await events.create(CommandRequest("events.create", _claims(), dict(EVENT)), ctx)
        ga = await ticket_types.create_type(
            CommandRequest(
                "tickettypes.create",
                _claims(),
                {"event_id": event["id"], "name": "GA", "price_minor": 100, "quota": 5},
            ),
            ctx,
        )
        assert migrated.database_url
        other = await asyncpg.connect(migrated.database_url)
        try:
            await other.execute("BEGIN")
            await other.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                seatmap.BUYER_LOCK,
                seatmap.buyer_key("other" + migrated.namespace, event["id"], "o-1"),
            )
            params = {"event_id": event["id"], "ticket_type_id": ga["id"], "quantity": 1}
            (answer,) = await arrives(
                hold_batch.hold([CommandRequest("seats.hold", _claims(), params)], ctx),
                what="a hold beside another namespace's lock on the same buyer",
            )
            assert answer["status"] == "held"
        finally:
            await other.close()


async def test_own_namespace_feed_lock_still_makes_a_tick_step_aside(migrated: Settings) -> None:
    own = await _holding(migrated, migrated.namespace, "feed")
    try:
        async with open_deps(migrated, "test") as deps:
            await declare(deps.js, deps.subjects, StreamLimits())
            ctx = WorkerContext(deps, Metrics())
            await events.create(CommandRequest("events.create", _claims(), dict(EVENT)), ctx)
            assert await seatfeed.tick(ctx) == 0  # another worker of ours is ticking
    finally:
        await own.close()


async def test_runner_gives_seats_create_its_own_budget(migrated: Settings) -> None:
    """A default budget far below the handler's time: seats.create outlives it, others do not."""
    assert COMMANDS["seats.create"].timeout_s
    ran = asyncio.Event()

    async def slow(request: CommandRequest, deps: Any) -> Any:
        await asyncio.sleep(0.5)  # ten times the default budget below, a fraction of its own
        ran.set()
        return {"ok": True}

    stop = asyncio.Event()
    async with open_deps(migrated, "test") as deps:
        task = asyncio.get_running_loop().create_task(
            serve_commands(
                WorkerContext(deps, Metrics()),
                "probe",
                {"seats.create": slow, "probe.slow": slow},
                stop,
                timeout_s=0.05,
            )
        )

        async def call(method: str) -> Any:
            msg = await deps.nc.request(
                deps.subjects.command(method),
                encode_request(CommandRequest(method, _claims(), {})),
                timeout=WAIT_S,
            )
            return decode_reply(msg.data)

        async def serving() -> bool:
            try:
                await deps.nc.request(deps.subjects.command("probe.slow"), b"{}", timeout=WAIT_S)
            except NoRespondersError:
                return False
            return True

        await wait_for(serving, what="the probe worker to serve")
        with pytest.raises(Timeout):
            await call("probe.slow")
        assert await call("seats.create") == {"ok": True}
        assert ran.is_set()
        stop.set()
        await arrives(task, what="the probe worker to stop")
