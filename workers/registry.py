"""Every worker by name, and how to run it: `bilten worker NAME` looks here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from bilten.infra import outbox
from bilten.infra.deps import Deps
from bilten.infra.metrics import Metrics
from bilten.protocol.subjects import AUDIT_CONSUMER
from bilten.workers import allocation, audit, checkin, events, tickets
from bilten.workers.runner import consume, serve_commands

WorkerMain = Callable[[Deps, Metrics, asyncio.Event], Coroutine[Any, Any, None]]


async def run_events(deps: Deps, metrics: Metrics, stop: asyncio.Event) -> None:
    """Events CRUD commands, plus the outbox relay for their domain events."""
    async with asyncio.TaskGroup() as group:
        group.create_task(serve_commands(deps, metrics, "events", events.HANDLERS, stop))
        group.create_task(outbox.relay(deps, stop))


async def run_audit(deps: Deps, metrics: Metrics, stop: asyncio.Event) -> None:
    """Domain events from JetStream into the `domain_events` table."""
    s = deps.subjects
    await consume(deps, metrics, AUDIT_CONSUMER, s.events_stream, s.durable(AUDIT_CONSUMER),
                  audit.record, stop)


async def run_tickets(deps: Deps, metrics: Metrics, stop: asyncio.Event) -> None:
    """Ticket types, tickets, gates; the outbox relay covers the domain events."""
    keys = tickets.KeyRing()
    await serve_commands(deps, metrics, "tickets", tickets.handlers(keys), stop)


async def run_checkin(deps: Deps, metrics: Metrics, stop: asyncio.Event) -> None:
    """Scans; any number of these share the load through their queue group."""
    keys = tickets.KeyRing()
    publisher = outbox.Publisher()
    async with asyncio.TaskGroup() as group:
        group.create_task(serve_commands(deps, metrics, "checkin",
                                         checkin.handlers(keys, publisher), stop))
        group.create_task(publisher.run(deps, stop))
        group.create_task(outbox.relay(deps, stop))


async def run_allocation(deps: Deps, metrics: Metrics, stop: asyncio.Event) -> None:
    """Seat maps, holds and orders; the hold sweeper and the seats feed run alongside."""
    await allocation.run(deps, metrics, stop)


WORKERS: dict[str, WorkerMain] = {
    "events": run_events,
    "audit": run_audit,
    "tickets": run_tickets,
    "checkin": run_checkin,
    "allocation": run_allocation,
}
