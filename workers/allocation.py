"""The allocation worker: seat maps, holds, orders, waiting lists, live availability.

docs/allocation.md. Commands arrive through the worker's NATS queue group,
so any number of these share the load; correctness lives in PostgreSQL
(workers/holds.py). Each worker also runs the hold sweeper
(workers/sweeper.py), the seats feed tick (workers/seatfeed.py; one worker at
a time publishes) and answers `event.{id}.seats` snapshot requests.

    seats.create / seats.map / seats.configure     workers/seatmap.py
    seats.hold (batched)                           workers/hold_batch.py, holds.py
    seats.confirm / seats.release                  workers/orders.py
    seats.waitlist.join                            workers/waitlist.py
    orders.list / orders.get / holds.list          workers/purchases.py
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from nats.errors import Error as NatsError

from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BiltenError
from bilten.workers import hold_batch, orders, purchases, seatfeed, seatmap, sweeper, waitlist
from bilten.workers.batching import Batched
from bilten.workers.context import WorkerContext
from bilten.workers.shape import Periodic, Worker

log = logging.getLogger(__name__)


async def release(request: CommandRequest, ctx: WorkerContext) -> Any:
    """seats.release, then the waiting line gets the first go at what it freed."""
    body, freed = await orders.release(request, ctx)
    try:  # the release stands regardless
        await sweeper.offer_freed(ctx, freed)
    except (OSError, asyncpg.PostgresError, NatsError, BiltenError, TimeoutError) as error:
        log.warning("waiting-list offers after release failed: %s", error)
    return body


WORKER = Worker(
    "allocation",
    commands={
        "seats.create": seatmap.create,
        "seats.map": seatmap.seat_map,
        "seats.configure": seatmap.configure,
        "seats.hold": Batched(hold_batch.hold, lanes=hold_batch.LANES, most=hold_batch.MOST),
        "seats.confirm": orders.confirm,
        "seats.release": release,
        "seats.waitlist.join": waitlist.join,
        "orders.list": purchases.list_orders,
        "orders.get": purchases.get_order,
        "holds.list": purchases.list_holds,
    },
    snapshots={"seats": seatfeed.snapshot},
    periodic=(
        Periodic("seats feed", seatfeed.TICK_S, seatfeed.tick),
        Periodic("hold sweeper", sweeper.INTERVAL_S, sweeper.sweep),
    ),
)
"""Seat maps, holds and orders; the hold sweeper and the seats feed run alongside."""
