"""The shared worker runner: one place owns how work is received, answered and logged.

A worker receives work in four ways, declared in its `Worker` (workers/shape.py)
and all run here or by `every` (infra/loops.py), each handed the worker's
`WorkerContext`:

- a *command* answers NATS requests in the worker's queue group (any number
  of workers share the load): `async def create(request, ctx) -> Any`, or,
  declared `Batched(handler)`, many requests decided in one transaction
  (workers/batching.py);
- a *snapshot* answers `<ns>.snap.event.{id}.{topic}` requests, the state a
  subscriber of a stateful channel starts from: `async def seats(event_id, ctx) -> Any`;
- a *consumer* processes JetStream messages from a durable pull consumer:
  `async def record(msg, ctx) -> None`;
- a *periodic job* runs every interval: `async def sweep(ctx) -> object`.

Requests (commands and snapshots) share one path: look the handler up, run
it within its budget, translate what it raises, count it, log it once, reply.
A fault of NATS, PostgreSQL or Redis (`infra/faults.py`) is answered
`unavailable` or `timeout` (retryable), never `internal`, and logged once per
outage; anything else unexpected is `internal`, logged with its traceback.

A consumer handler's return acks; raising `Retry(delay)` naks with that
delay; raising a `BiltenError` terminates the message (it can never succeed);
a fault naks it with a growing delay, as does anything else, which is also
logged once. Every call has a timeout and the number in flight is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from bilten.infra.faults import translate
from bilten.infra.loops import Outage, every, unless_stopped
from bilten.infra.pull import BatchPuller
from bilten.protocol.channels import parse_channel
from bilten.protocol.commands import COMMANDS, CommandRequest, decode_request, encode_reply
from bilten.protocol.errors import BadChannel, BiltenError, Internal, Timeout, UnknownMethod
from bilten.workers.batching import Batched, abandoned, gone, serve_batched
from bilten.workers.context import WorkerContext

log = logging.getLogger(__name__)

CommandHandler = Callable[[CommandRequest, WorkerContext], Awaitable[Any]]
SnapshotHandler = Callable[[int, WorkerContext], Awaitable[Any]]
ConsumerHandler = Callable[[Msg, WorkerContext], Awaitable[None]]
Job = Callable[[WorkerContext], Awaitable[object]]
# A request made ready to run: the call, the budget it gets, and how long its asker waits
# (None: as long as the budget).
Prepared = tuple[Callable[[], Awaitable[Any]], float, float | None]


class Retry(Exception):
    """Raised by a consumer handler to have the message redelivered after `delay_s`."""

    def __init__(self, delay_s: float = 1.0) -> None:
        super().__init__(f"retry in {delay_s}s")
        self.delay_s = delay_s


async def serve_commands(
    ctx: WorkerContext,
    worker: str,
    handlers: Mapping[str, CommandHandler | Batched],
    stop: asyncio.Event,
    *,
    concurrency: int = 64,
    timeout_s: float | None = None,
) -> None:
    """Answer command requests for `handlers` until `stop` is set, then drain.

    A command's budget is the larger of the default (`timeout_s`, else the
    request timeout setting) and its own `timeout_s` in the command table.
    Batched commands are served by `serve_batched`, each on its own.
    """
    default_budget = timeout_s or ctx.settings.request_timeout_s

    def budget_of(method: str) -> float:
        command = COMMANDS.get(method)
        return max(default_budget, command.timeout_s or 0.0) if command else default_budget

    batched = {m: h for m, h in handlers.items() if isinstance(h, Batched)}
    if batched:

        async def reply(subject: str, body: bytes) -> None:
            await _send_reply(ctx, worker, subject, body)

        async with asyncio.TaskGroup() as group:
            for method, declared in batched.items():
                group.create_task(
                    serve_batched(
                        ctx,
                        worker,
                        method,
                        declared,
                        stop,
                        reply,
                        budget_s=budget_of(method),
                        concurrency=concurrency,
                    )
                )
            plain = {m: h for m, h in handlers.items() if not isinstance(h, Batched)}
            if plain:
                group.create_task(
                    serve_commands(
                        ctx, worker, plain, stop, concurrency=concurrency, timeout_s=timeout_s
                    )
                )
        return

    def prepare(msg: Msg) -> Prepared:
        request = decode_request(msg.data)
        handler = handlers.get(request.method)
        if handler is None or isinstance(handler, Batched):  # a KeyError of a handler's is a bug
            raise UnknownMethod(f"{worker} has no handler for {request.method}")
        return lambda: handler(request, ctx), budget_of(request.method), request.budget_s

    subjects = [ctx.subjects.command(method) for method in handlers]
    log.info("worker %s serving %s", worker, ", ".join(handlers))
    await _serve(
        ctx,
        worker,
        "command",
        subjects,
        prepare,
        stop,
        concurrency=concurrency,
        default_budget=default_budget,
    )


async def serve_snapshots(
    ctx: WorkerContext,
    worker: str,
    handlers: Mapping[str, SnapshotHandler],
    stop: asyncio.Event,
    *,
    concurrency: int = 16,
    timeout_s: float | None = None,
) -> None:
    """Answer snapshot requests of `event.*.{topic}` for each topic in `handlers` until `stop`."""
    budget = timeout_s or ctx.settings.request_timeout_s
    head = ctx.subjects.snapshot("")

    def prepare(msg: Msg) -> Prepared:
        channel = parse_channel(msg.subject[len(head) :])
        handler = handlers.get(channel.topic or "")
        if handler is None or channel.event_id is None:
            raise BadChannel(f"{worker} has no snapshot of {channel.name}")
        event_id = channel.event_id
        return lambda: handler(event_id, ctx), budget, None

    subjects = [ctx.subjects.snapshot(f"event.*.{topic}") for topic in handlers]
    log.info("worker %s serving snapshots of %s", worker, ", ".join(handlers))
    await _serve(
        ctx,
        worker,
        "snapshot",
        subjects,
        prepare,
        stop,
        concurrency=concurrency,
        default_budget=budget,
    )


async def _serve(
    ctx: WorkerContext,
    worker: str,
    what: str,
    subjects: list[str],
    prepare: Callable[[Msg], Prepared],
    stop: asyncio.Event,
    *,
    concurrency: int,
    default_budget: float,
) -> None:
    """Answer requests on `subjects` in the worker's queue group until `stop`, then drain.

    Requests wait their turn in arrival order, up to `concurrency` running at
    once. One that waited longer than its asker waits runs nothing and is
    answered `timeout` (its asker has given up, and the hub or client sends it
    again): under a rush the worker spends itself on requests someone still
    waits for, not on a backlog of abandoned ones. A request once started has
    the worker's whole budget, even past its asker's wait: on a loaded machine
    a retry-safe command may take longer than one of the hub's attempts, and
    the next attempt then finds its result by its nonce.
    """
    waiting: deque[tuple[Msg, float]] = deque()
    running = 0
    tasks: set[asyncio.Task[None]] = set()
    outage = Outage(f"worker {worker}")
    metrics = ctx.metrics
    queued = metrics.worker_queued.labels(worker)

    async def answer(msg: Msg, arrived: float) -> None:
        outcome = "ok"
        budget = default_budget
        try:
            call, budget, asker = prepare(msg)
            if abandoned(arrived, asker, budget, time.perf_counter()):
                outcome = "shed"
                reply = encode_reply(error=gone(worker))
            else:
                reply = encode_reply(await asyncio.wait_for(call(), budget))
                outage.succeeded()
        except TimeoutError:  # the budget, or a dependency's own timeout
            outcome = "timeout"
            reply = encode_reply(error=Timeout(f"{worker} took longer than {budget:.3g}s"))
        except BiltenError as error:
            outcome = error.code
            reply = encode_reply(error=error)
        except Exception as error:
            fault = translate(error)
            if fault is None:
                outcome = "internal"
                log.exception(
                    "%s failed", what, extra={"ctx": {"worker": worker, "subject": msg.subject}}
                )
                fault = Internal()
            else:
                outcome = fault.code
                outage.failed(error)
            reply = encode_reply(error=fault)
        metrics.worker_messages.labels(worker, outcome).inc()
        metrics.worker_latency.labels(worker).observe(time.perf_counter() - arrived)
        if msg.reply:
            await _send_reply(ctx, worker, msg.reply, reply)

    async def drain() -> None:
        nonlocal running
        try:
            while waiting:
                queued.dec()
                await answer(*waiting.popleft())
        finally:
            running -= 1

    async def on_message(msg: Msg) -> None:
        nonlocal running
        waiting.append((msg, time.perf_counter()))
        queued.inc()
        if running < concurrency:
            running += 1
            task = asyncio.get_running_loop().create_task(drain())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    queue = ctx.subjects.queue_group(worker)
    subs = [await ctx.nc.subscribe(subject, queue=queue, cb=on_message) for subject in subjects]
    try:
        await stop.wait()
    finally:
        for sub in subs:
            await sub.unsubscribe()
        if tasks:
            await asyncio.wait(tasks, timeout=default_budget)


async def _send_reply(ctx: WorkerContext, worker: str, subject: str, reply: bytes) -> None:
    """Answer a request; a reply NATS cannot take is logged, never raised."""
    try:
        try:
            await ctx.nc.publish(subject, reply)
        except NatsError as error:  # e.g. over the server's max payload: say so instead
            log.warning("reply failed: %s", error, extra={"ctx": {"worker": worker}})
            await ctx.nc.publish(subject, encode_reply(error=Internal("reply failed")))
    except NatsError as error:  # NATS is gone: the caller's request times out
        log.debug("reply lost: %s", error, extra={"ctx": {"worker": worker}})


async def consume(
    ctx: WorkerContext,
    worker: str,
    durable: str,
    handler: ConsumerHandler,
    stop: asyncio.Event,
    *,
    batch: int = 64,
    timeout_s: float = 10.0,
) -> None:
    """Fetch from a durable pull consumer on the events stream; run `handler` per message.

    Until `stop`. A fetch or an ack that fails (NATS away) is retried by
    `every`; messages not acked are redelivered by JetStream.
    """
    stream = ctx.subjects.events_stream
    # Not nats-py's fetch: cancelled by a stop, it drops the messages it has collected
    # while it waits for the rest, unacked until the ack wait. What a BatchPuller was
    # delivered stays in its buffer, and closing it hands that back.
    puller = BatchPuller(ctx.deps.nc, stream, durable)
    await puller.open()
    log.info("worker %s consuming %s/%s", worker, stream, durable)
    outage = Outage(f"worker {worker} handling {durable}")

    async def fetch_and_handle() -> None:
        msgs = await unless_stopped(stop, puller.fetch(batch, wait_s=1.0))
        for msg in msgs or ():
            await _handle_one(msg, ctx, worker, handler, timeout_s, outage)

    try:
        await every(0.0, fetch_and_handle, stop, name=f"worker {worker} consuming {durable}")
    finally:
        await puller.close()


async def _handle_one(
    msg: Msg,
    ctx: WorkerContext,
    worker: str,
    handler: ConsumerHandler,
    timeout_s: float,
    outage: Outage,
) -> None:
    started = time.perf_counter()
    log_ctx = {"worker": worker, "subject": msg.subject, "seq": msg.metadata.sequence.stream}
    backoff = min(30.0, 0.5 * 2**msg.metadata.num_delivered)
    try:
        await asyncio.wait_for(handler(msg, ctx), timeout_s)
    except Retry as retry:
        outcome = "retry"
        await msg.nak(delay=retry.delay_s)
    except BiltenError as error:
        outcome = "term"
        log.warning("message terminated: %s", error, extra={"ctx": log_ctx})
        await msg.term()
    except Exception as error:
        fault = translate(error)
        if fault is None:
            outcome = "error"
            log.exception("message failed", extra={"ctx": log_ctx})
        else:  # a store is away: later, not never; logged once per outage
            outcome = fault.code
            outage.failed(error)
        await msg.nak(delay=backoff)
    else:
        outcome = "ok"
        outage.succeeded()
        await msg.ack()
    ctx.metrics.worker_messages.labels(worker, outcome).inc()
    ctx.metrics.worker_latency.labels(worker).observe(time.perf_counter() - started)


async def run_periodic(
    ctx: WorkerContext, name: str, interval_s: float, job: Job, stop: asyncio.Event
) -> None:
    """Run `job(ctx)` every `interval_s` until `stop`; failures are retried by `every`."""
    await every(interval_s, lambda: job(ctx), stop, name=name)
