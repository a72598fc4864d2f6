"""Every worker by name, and what each serves: `bilten worker NAME` looks here.

Each entry is a `Worker` (workers/shape.py): its commands, snapshots,
consumers and periodic jobs, which `run_worker` runs with the runner.
"""

from __future__ import annotations

from bilten.infra import outbox
from bilten.protocol.devices import USAGE_FLUSH_S
from bilten.protocol.subjects import MAIL_CONSUMER, PERSISTENCE_CONSUMER
from bilten.workers import (
    accounts,
    accounts_attendees,
    accounts_store,
    allocation,
    analytics,
    checkin,
    engagement,
    events,
    exports,
    mail,
    metrics,
    persistence,
    qa,
    tickets,
    webhooks,
)
from bilten.workers.context import WorkerContext
from bilten.workers.shape import BatchConsumer, Consumer, Periodic, Worker

RELAY_INTERVAL_S = 1.0
SWEEP_INTERVAL_S = 3600.0


async def relay_outbox(ctx: WorkerContext) -> None:
    """Publish outbox rows a crashed writer left behind (infra/outbox.py)."""
    await outbox.publish_stale(ctx.deps)


async def flush_device_usage(ctx: WorkerContext) -> None:
    """Write paired devices' counted scans and last-seen times (workers/device_usage.py)."""
    await ctx.devices.flush(ctx.pg)


OUTBOX_RELAY = Periodic("outbox relay", RELAY_INTERVAL_S, relay_outbox)
"""Run by workers whose handlers write to the outbox and flush after commit."""

WORKERS: dict[str, Worker] = {
    w.name: w
    for w in (
        Worker("events", commands=events.HANDLERS, periodic=(OUTBOX_RELAY,)),
        Worker("persistence", consumers=(BatchConsumer(PERSISTENCE_CONSUMER, persistence.write),)),
        Worker("tickets", commands=tickets.HANDLERS),
        Worker(
            "checkin",
            commands=checkin.HANDLERS,
            periodic=(OUTBOX_RELAY, Periodic("device usage", USAGE_FLUSH_S, flush_device_usage)),
        ),
        allocation.WORKER,
        qa.WORKER,
        engagement.WORKER,
        metrics.WORKER,
        analytics.WORKER,
        exports.WORKER,
        webhooks.WORKER,
        Worker("mail", consumers=(Consumer(MAIL_CONSUMER, mail.send),), needs=("smtp_url",)),
        Worker(
            "accounts",
            commands=accounts.HANDLERS,
            periodic=(
                OUTBOX_RELAY,
                Periodic("accounts sweep", SWEEP_INTERVAL_S, accounts_store.sweep),
                Periodic("attendees sweep", SWEEP_INTERVAL_S, accounts_attendees.sweep),
            ),
        ),
    )
}
