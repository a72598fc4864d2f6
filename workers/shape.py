"""What a worker serves, declared in one shape, and the one function that runs any of them.

A `Worker` names its commands, snapshots, consumers, periodic jobs and loops; the
registry (workers/registry.py) holds one per worker, and `run_worker` starts
each kind with the runner (workers/runner.py), every handler getting the
same `WorkerContext`, built once. Every worker also runs its context's outbox
publisher, which sends what handlers committed once they have answered.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bilten.infra.file_lock import held_alone
from bilten.infra.settings import Settings, variable_for
from bilten.workers.batch_consumer import BatchHandler, consume_batches
from bilten.workers.batching import Batched
from bilten.workers.context import WorkerContext
from bilten.workers.runner import (
    CommandHandler,
    ConsumerHandler,
    Job,
    SnapshotHandler,
    consume,
    run_periodic,
    serve_commands,
    serve_snapshots,
)


@dataclass(frozen=True, slots=True)
class Consumer:
    """A durable consumer on the events stream (infra/streams.py declares it) and its handler."""

    durable: str
    handler: ConsumerHandler


@dataclass(frozen=True, slots=True)
class BatchConsumer:
    """A durable consumer whose handler takes whole fetches (workers/batch_consumer.py),
    on the events stream or, with `history`, on the channel history stream."""

    durable: str
    handler: BatchHandler
    history: bool = False


@dataclass(frozen=True, slots=True)
class Periodic:
    """A job run every `interval_s` by `every` (infra/loops.py), named for its logs."""

    name: str
    interval_s: float
    job: Job


Loop = Callable[[WorkerContext, asyncio.Event], Coroutine[Any, Any, None]]
"""A long-running job that owns tasks of its own (the webhooks delivery loop): it
runs until the stop event is set, then drains what it started before returning."""


@dataclass(frozen=True, slots=True)
class Worker:
    """Everything one worker serves: commands by method, snapshots by channel topic,
    consumers, periodic jobs and loops."""

    name: str
    commands: Mapping[str, CommandHandler | Batched] = field(default_factory=dict)
    snapshots: Mapping[str, SnapshotHandler] = field(default_factory=dict)
    consumers: tuple[Consumer | BatchConsumer, ...] = ()
    periodic: tuple[Periodic, ...] = ()
    loops: tuple[Loop, ...] = ()
    # Settings fields that must be set for it to run (the mail worker needs a mail server).
    needs: tuple[str, ...] = ()
    # Resources held while it runs (the analytics store), around everything it serves.
    lifespan: Callable[[WorkerContext], AbstractAsyncContextManager[None]] | None = None
    # A lock file it must hold to run, for resources one process alone may open (the
    # embedded analytics store): a second process running it stands by until the first exits.
    alone: Callable[[Settings], Path | None] | None = None
    # The install extra its dependencies come with (`bilten[analytics]`), and their
    # import names: without them it is not started.
    extra: str | None = None
    imports: tuple[str, ...] = ()

    def missing(self, settings: Settings) -> list[str]:
        """The variables of its `needs` that `settings` leaves unset."""
        return [variable_for(f) for f in self.needs if getattr(settings, f) is None]

    def uninstalled(self) -> str | None:
        """`pip install 'bilten[EXTRA]'` when a module of its extra is not installed."""
        if all(importlib.util.find_spec(name) is not None for name in self.imports):
            return None
        return f"pip install 'bilten[{self.extra}]'"


async def run_worker(worker: Worker, ctx: WorkerContext, stop: asyncio.Event) -> None:
    """Serve everything `worker` declares until `stop`, then drain (and close its lifespan);
    a worker that must run `alone` first waits for its lock."""
    lock = worker.alone(ctx.settings) if worker.alone else None
    if lock is None:
        await _serve(worker, ctx, stop)
        return
    async with held_alone(lock, stop, what=f"worker {worker.name}") as held:
        if held:
            await _serve(worker, ctx, stop)


async def _serve(worker: Worker, ctx: WorkerContext, stop: asyncio.Event) -> None:
    held = worker.lifespan(ctx) if worker.lifespan else nullcontext()
    async with held, asyncio.TaskGroup() as group:
        if worker.commands:
            group.create_task(serve_commands(ctx, worker.name, worker.commands, stop))
        if worker.snapshots:
            group.create_task(serve_snapshots(ctx, worker.name, worker.snapshots, stop))
        for consumer in worker.consumers:
            durable = ctx.subjects.durable(consumer.durable)
            if isinstance(consumer, BatchConsumer):
                group.create_task(
                    consume_batches(
                        ctx, worker.name, durable, consumer.handler, stop, history=consumer.history
                    )
                )
            else:
                group.create_task(consume(ctx, worker.name, durable, consumer.handler, stop))
        for job in worker.periodic:
            group.create_task(run_periodic(ctx, job.name, job.interval_s, job.job, stop))
        for loop in worker.loops:
            group.create_task(loop(ctx, stop))
        group.create_task(ctx.publisher.run(ctx.deps, stop))
