"""Batched commands: the requests that arrive while a transaction commits are decided together.

A worker's commit is its bottleneck (one fsync per scan, per hold), so a
command declared `Batched(handler)` in a worker's `commands` is served here
instead of one request at a time: requests queue as they arrive, and each of
a few *lanes* takes everything queued (up to `BILTEN_BATCH_MAX`) and hands it
to the handler, which decides the whole batch in one transaction and returns
one outcome per request, in order: the answer, or a `BiltenError` for that
request alone. When idle a request starts at once (a batch of one); under
load batches grow by themselves, with no added wait. Handlers take their row
locks in a sorted order, so lanes and other workers never deadlock.

One request must not sink the others: when a batch raises something that is
neither a fault of a store nor a timeout (say a unique violation from a race
with another worker), each of its requests is decided again alone. A fault
(`infra/faults.py`) or the budget running out answers every request of the
batch `unavailable` or `timeout`, exactly as for a plain command.

A request that waited in the queue longer than its asker waits
(`CommandRequest.budget_s`, else the command's budget) is not decided: it is
answered `timeout` at once, so a backlog of requests whose askers gave up
(and sent them again) is not worked off at the expense of those still
awaited.

`BILTEN_BATCH_MAX=1` turns batching off: every request is its own
transaction, up to `concurrency` at once, which is the baseline the
benchmarks measure batching against.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from bilten.infra.faults import translate
from bilten.infra.loops import Outage
from bilten.protocol.commands import CommandRequest, decode_request, encode_reply
from bilten.protocol.errors import BiltenError, Internal, Timeout
from bilten.workers.context import WorkerContext

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[CommandRequest], WorkerContext], Awaitable[Sequence[Any]]]
"""Decides requests together: one outcome per request, a result or a `BiltenError`."""
Reply = Callable[[str, bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Batched:
    """A command whose requests are decided in batches by `handler`, `lanes` batches at a time,
    each of at most `most` requests (and `BILTEN_BATCH_MAX`): a handler that puts each request
    under a savepoint keeps its batches within what PostgreSQL caches of one transaction's
    subtransactions (64), beyond which every snapshot in the database gets slower."""

    handler: BatchHandler
    lanes: int = 2
    most: int | None = None


def abandoned(arrived: float, asker_s: float | None, budget_s: float, now: float) -> bool:
    """Whether a request that arrived at `arrived` has waited past its asker's wait
    (`asker_s`, else the command's budget) by `now`: it is then answered `gone` unrun."""
    return now - arrived >= (asker_s or budget_s)


def gone(worker: str) -> Timeout:
    """The answer to a request reached only after its asker stopped waiting."""
    return Timeout(f"{worker} reached it after its asker left")


@dataclass(frozen=True, slots=True)
class _Pending:
    msg: Msg
    request: CommandRequest
    started: float


async def serve_batched(
    ctx: WorkerContext,
    worker: str,
    method: str,
    batched: Batched,
    stop: asyncio.Event,
    reply: Reply,
    *,
    budget_s: float,
    concurrency: int,
) -> None:
    """Answer `method` requests in batches until `stop`, then decide what is queued and return."""
    max_batch = min(ctx.settings.batch_max, batched.most or ctx.settings.batch_max)
    lanes = concurrency if max_batch == 1 else batched.lanes
    queue: asyncio.Queue[_Pending | None] = asyncio.Queue()  # what waits longer is shed
    outage = Outage(f"worker {worker}")
    metrics = ctx.metrics
    queued = metrics.worker_queued.labels(worker)
    sizes = metrics.worker_batch_size.labels(worker)

    async def answer(item: _Pending, outcome: Any, label: str | None = None) -> None:
        if isinstance(outcome, BiltenError):
            label, body = label or outcome.code, encode_reply(error=outcome)
        else:
            label, body = "ok", encode_reply(outcome)
        metrics.worker_messages.labels(worker, label).inc()
        metrics.worker_latency.labels(worker).observe(time.perf_counter() - item.started)
        if item.msg.reply:
            await reply(item.msg.reply, body)

    async def decide(batch: list[_Pending]) -> list[Any]:
        requests = [item.request for item in batch]
        try:
            outcomes = list(await asyncio.wait_for(batched.handler(requests, ctx), budget_s))
        except TimeoutError:
            return [Timeout(f"{worker} took longer than {budget_s}s")] * len(batch)
        except Exception as error:
            fault = translate(error)
            if fault is not None:
                outage.failed(error)
                return [fault] * len(batch)
            if len(batch) > 1:  # find the one it was about: each alone
                return [(await decide([item]))[0] for item in batch]
            if isinstance(error, BiltenError):
                return [error]
            log.exception("%s failed", method, extra={"ctx": {"worker": worker}})
            return [Internal()]
        if len(outcomes) != len(batch):
            log.error("%s answered %d of %d", method, len(outcomes), len(batch))
            return [Internal()] * len(batch)
        outage.succeeded()
        return outcomes

    async def lane() -> None:
        while (first := await queue.get()) is not None:
            batch, last = [first], False
            while len(batch) < max_batch and not queue.empty():
                item = queue.get_nowait()
                if item is None:  # stop: finish this batch, then leave
                    last = True
                    break
                batch.append(item)
            queued.dec(len(batch))
            now = time.perf_counter()
            fresh: list[_Pending] = []
            stale: list[_Pending] = []
            for item in batch:
                late = abandoned(item.started, item.request.budget_s, budget_s, now)
                (stale if late else fresh).append(item)
            if stale:
                await asyncio.gather(*(answer(i, gone(worker), "shed") for i in stale))
            if fresh:
                sizes.observe(len(fresh))
                outcomes = await decide(fresh)
                await asyncio.gather(*(answer(i, o) for i, o in zip(fresh, outcomes, strict=True)))
            if last:
                return

    async def on_message(msg: Msg) -> None:
        started = time.perf_counter()
        try:
            request = decode_request(msg.data)
        except BiltenError as error:
            metrics.worker_messages.labels(worker, error.code).inc()
            if msg.reply:
                await reply(msg.reply, encode_reply(error=error))
            return
        queue.put_nowait(_Pending(msg, request, started))
        queued.inc()

    sub = await ctx.nc.subscribe(
        ctx.subjects.command(method), queue=ctx.subjects.queue_group(worker), cb=on_message
    )
    log.info("worker %s serving %s in batches of up to %d", worker, method, max_batch)
    async with asyncio.TaskGroup() as group:
        for _ in range(lanes):
            group.create_task(lane())
        try:
            await stop.wait()
        finally:
            with contextlib.suppress(NatsError):  # NATS is gone: so is the subscription
                await sub.unsubscribe()
            for _ in range(lanes):
                await queue.put(None)
