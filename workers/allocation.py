"""The allocation worker: seat maps, holds, orders, waiting lists, live availability.

docs/allocation.md. Commands arrive through the worker's NATS queue group,
so any number of these share the load; correctness lives in PostgreSQL
(workers/holds.py). Each worker also runs the hold sweeper
(workers/sweeper.py), the seats feed tick (workers/seatfeed.py; one worker at
a time publishes) and answers `event.{id}.seats` snapshot requests.

    seats.create / seats.map / seats.configure     workers/seatmap.py
    seats.hold                                     workers/holds.py
    seats.confirm / seats.release                  workers/orders.py
    seats.waitlist.join                            workers/waitlist.py
    orders.list / orders.get / holds.list          workers/purchases.py
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
from nats.errors import Error as NatsError

from bilten.infra.deps import Deps
from bilten.infra.metrics import Metrics
from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BiltenError
from bilten.workers import holds, orders, purchases, seatfeed, seatmap, sweeper, waitlist
from bilten.workers.runner import CommandHandler, serve_commands
from bilten.workers.tickets import KeyRing

log = logging.getLogger(__name__)


def handlers(keys: KeyRing) -> dict[str, CommandHandler]:
    """The allocation worker's command handlers, sharing one key ring."""

    async def confirm(r: CommandRequest, d: Deps) -> Any:
        return await orders.confirm(r, d, keys)

    async def release(r: CommandRequest, d: Deps) -> Any:
        body, freed = await orders.release(r, d)
        try:  # the waiting line gets the first go at them; the release stands regardless
            await sweeper.offer_freed(d, freed)
        except (OSError, asyncpg.PostgresError, NatsError, BiltenError, TimeoutError) as error:
            log.warning("waiting-list offers after release failed: %s", error)
        return body

    async def list_orders(r: CommandRequest, d: Deps) -> Any:
        return await purchases.list_orders(r, d, keys)

    async def get_order(r: CommandRequest, d: Deps) -> Any:
        return await purchases.get_order(r, d, keys)

    return {"seats.create": seatmap.create, "seats.map": seatmap.seat_map,
            "seats.configure": seatmap.configure, "seats.hold": holds.hold,
            "seats.confirm": confirm, "seats.release": release,
            "seats.waitlist.join": waitlist.join, "orders.list": list_orders,
            "orders.get": get_order, "holds.list": purchases.list_holds}


async def run(deps: Deps, metrics: Metrics, stop: asyncio.Event) -> None:
    """Serve commands and snapshots; sweep holds; tick the seats feed; until `stop`."""
    async with asyncio.TaskGroup() as group:
        group.create_task(serve_commands(deps, metrics, "allocation", handlers(KeyRing()), stop))
        group.create_task(seatfeed.serve_snapshots(deps, stop))
        group.create_task(seatfeed.run(deps, stop))
        group.create_task(sweeper.run(deps, stop))
