"""The shared worker runner: one loop owns fetching, replying, acking and logging.

Workers are plain functions. A *command* handler answers NATS requests in its
worker's queue group (any number of workers share the load):

    async def create_event(request: CommandRequest, deps: Deps) -> Any

A *consumer* handler processes JetStream messages from a durable consumer:

    async def record(msg: Msg, deps: Deps) -> None

Returning acks; raising `Retry(delay)` naks with that delay; raising a
`BiltenError` terminates the message (it can never succeed); a fault of
NATS, PostgreSQL or Redis (`infra/faults.py`) naks it with a growing delay, as
does anything else, which is also logged once. Every call has a timeout and
the number in flight is bounded.

A fault answers a command `unavailable` or `timeout` (retryable), never
`internal`; it is logged once per outage, not once per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from bilten.infra.deps import Deps
from bilten.infra.faults import translate
from bilten.infra.loops import Outage, every
from bilten.infra.metrics import Metrics
from bilten.protocol.commands import COMMANDS, CommandRequest, decode_request, encode_reply
from bilten.protocol.errors import BiltenError, Internal, Timeout, UnknownMethod

log = logging.getLogger(__name__)

CommandHandler = Callable[[CommandRequest, Deps], Awaitable[Any]]
ConsumerHandler = Callable[[Msg, Deps], Awaitable[None]]


class Retry(Exception):
    """Raised by a consumer handler to have the message redelivered after `delay_s`."""

    def __init__(self, delay_s: float = 1.0) -> None:
        super().__init__(f"retry in {delay_s}s")
        self.delay_s = delay_s


async def serve_commands(
    deps: Deps, metrics: Metrics, worker: str, handlers: Mapping[str, CommandHandler],
    stop: asyncio.Event, *, concurrency: int = 64, timeout_s: float | None = None,
) -> None:
    """Answer command requests for `handlers` until `stop` is set, then drain."""
    limit = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()
    default_budget = timeout_s or deps.settings.request_timeout_s
    outage = Outage(f"worker {worker}")

    async def answer(msg: Msg) -> None:
        started = time.perf_counter()
        outcome = "ok"
        budget = default_budget
        try:
            request = decode_request(msg.data)
            handler = handlers.get(request.method)
            if handler is None:  # looked up apart: a KeyError of the handler's is a bug
                raise UnknownMethod(f"{worker} has no handler for {request.method}")
            command = COMMANDS.get(request.method)
            if command is not None and command.timeout_s:
                budget = max(budget, command.timeout_s)
            result = await asyncio.wait_for(handler(request, deps), budget)
            reply = encode_reply(result)
            outage.succeeded()
        except TimeoutError:  # the budget, or a dependency's own timeout
            outcome = "timeout"
            reply = encode_reply(error=Timeout(f"{worker} took longer than {budget}s"))
        except BiltenError as error:
            outcome = error.code
            reply = encode_reply(error=error)
        except Exception as error:
            fault = translate(error)
            if fault is None:
                outcome = "internal"
                log.exception("command failed", extra={"ctx": {"worker": worker,
                                                               "subject": msg.subject}})
                fault = Internal()
            else:
                outcome = fault.code
                outage.failed(error)
            reply = encode_reply(error=fault)
        finally:
            limit.release()
        metrics.worker_messages.labels(worker, outcome).inc()
        metrics.worker_latency.labels(worker).observe(time.perf_counter() - started)
        if msg.reply:
            await _send_reply(deps, worker, msg.reply, reply)

    async def on_message(msg: Msg) -> None:
        await limit.acquire()
        task = asyncio.get_running_loop().create_task(answer(msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    queue = deps.subjects.queue_group(worker)
    subs = [await deps.nc.subscribe(deps.subjects.command(method), queue=queue, cb=on_message)
            for method in handlers]
    log.info("worker %s serving %s", worker, ", ".join(handlers))
    try:
        await stop.wait()
    finally:
        for sub in subs:
            await sub.unsubscribe()
        if tasks:
            await asyncio.wait(tasks, timeout=default_budget)


async def _send_reply(deps: Deps, worker: str, subject: str, reply: bytes) -> None:
    """Answer a request; a reply NATS cannot take is logged, never raised."""
    try:
        try:
            await deps.nc.publish(subject, reply)
        except NatsError as error:  # e.g. over the server's max payload: say so instead
            log.warning("reply failed: %s", error, extra={"ctx": {"worker": worker}})
            await deps.nc.publish(subject, encode_reply(error=Internal("reply failed")))
    except NatsError as error:  # NATS is gone: the caller's request times out
        log.debug("reply lost: %s", error, extra={"ctx": {"worker": worker}})


async def consume(
    deps: Deps, metrics: Metrics, worker: str, stream: str, durable: str,
    handler: ConsumerHandler, stop: asyncio.Event, *, batch: int = 64,
    timeout_s: float = 10.0,
) -> None:
    """Fetch from a durable pull consumer and run `handler` per message until `stop`.

    A fetch or an ack that fails (NATS away) is retried by `every`; messages
    not acked are redelivered by JetStream.
    """
    sub = await deps.js.pull_subscribe_bind(durable=durable, stream=stream)
    log.info("worker %s consuming %s/%s", worker, stream, durable)
    outage = Outage(f"worker {worker} handling {durable}")

    async def fetch_and_handle() -> None:
        try:
            msgs = await sub.fetch(batch, timeout=1.0)
        except TimeoutError:  # nats-py raises it when idle
            return
        for msg in msgs:
            await _handle_one(msg, deps, metrics, worker, handler, timeout_s, outage)

    try:
        await every(0.0, fetch_and_handle, stop, name=f"worker {worker} consuming {durable}")
    finally:
        with contextlib.suppress(NatsError):  # NATS is gone: so is the subscription
            await sub.unsubscribe()


async def _handle_one(msg: Msg, deps: Deps, metrics: Metrics, worker: str,
                      handler: ConsumerHandler, timeout_s: float, outage: Outage) -> None:
    started = time.perf_counter()
    ctx = {"worker": worker, "subject": msg.subject, "seq": msg.metadata.sequence.stream}
    backoff = min(30.0, 0.5 * 2 ** msg.metadata.num_delivered)
    try:
        await asyncio.wait_for(handler(msg, deps), timeout_s)
    except Retry as retry:
        outcome = "retry"
        await msg.nak(delay=retry.delay_s)
    except BiltenError as error:
        outcome = "term"
        log.warning("message terminated: %s", error, extra={"ctx": ctx})
        await msg.term()
    except Exception as error:
        fault = translate(error)
        if fault is None:
            outcome = "error"
            log.exception("message failed", extra={"ctx": ctx})
        else:  # a store is away: later, not never; logged once per outage
            outcome = fault.code
            outage.failed(error)
        await msg.nak(delay=backoff)
    else:
        outcome = "ok"
        outage.succeeded()
        await msg.ack()
    metrics.worker_messages.labels(worker, outcome).inc()
    metrics.worker_latency.labels(worker).observe(time.perf_counter() - started)
