"""Consuming the events stream a batch at a time: one handler call, one commit, then acks.

The runner's `consume` (workers/runner.py) hands messages over one by one; a
worker that writes every domain event (the persistence worker) would pay a
commit per event. Here the handler gets every message one fetch returned,
`async def write(msgs, ctx) -> Sequence[Msg]`, and returns the messages it
refused (malformed: they can never succeed), which are terminated. Every
other message is acknowledged only after the handler returned, that is after
its commit; if the handler raises, the whole batch is nak'ed with a growing
delay and redelivered, and the handler must make a second write of a message
harmless (the event log's keys do).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from nats.aio.msg import Msg
from nats.errors import Error as NatsError

from bilten.infra.faults import translate
from bilten.infra.loops import Outage, every, unless_stopped
from bilten.infra.pull import BatchPuller
from bilten.protocol.errors import BadRequest
from bilten.protocol.event_log import LogEntry, checked_msg_id, parse_domain_event
from bilten.protocol.subjects import HDR_MSG_ID
from bilten.workers.context import WorkerContext

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[Msg], WorkerContext], Awaitable[Sequence[Msg]]]
BATCH = 500  # messages per fetch, so per transaction (the consumer's max_ack_pending is 1000)
MAX_BACKOFF_S = 30.0


def domain_events(msgs: Sequence[Msg]) -> tuple[list[tuple[Msg, LogEntry]], list[Msg]]:
    """Each message of a batch with its parsed domain event, and those that are none
    (for the handler to return, so that they are terminated, not redelivered)."""
    parsed: list[tuple[Msg, LogEntry]] = []
    refused: list[Msg] = []
    for msg in msgs:
        try:
            checked_msg_id((msg.headers or {}).get(HDR_MSG_ID))
            parsed.append((msg, parse_domain_event(msg.data)))
        except BadRequest:
            refused.append(msg)
    return parsed, refused


async def consume_batches(
    ctx: WorkerContext,
    worker: str,
    durable: str,
    handler: BatchHandler,
    stop: asyncio.Event,
    *,
    batch: int = BATCH,
    timeout_s: float = 30.0,
    history: bool = False,
) -> None:
    """Fetch up to `batch` messages at a time from a durable consumer; `handler` each batch.

    Until `stop`. The consumer is on the events stream, or with `history` on the
    channel history stream (infra/streams.py declares which). Fetches go through
    `BatchPuller` (infra/pull.py): no task per message. A fetch or an ack that
    fails (NATS away) is retried by `every`; what was not acked is redelivered
    by JetStream.
    """
    stream = ctx.subjects.history_stream if history else ctx.subjects.events_stream
    puller = BatchPuller(ctx.deps.nc, stream, durable)
    await puller.open()
    log.info("worker %s consuming %s/%s in batches", worker, stream, durable)
    outage = Outage(f"worker {worker} handling {durable}")
    prefetched: asyncio.Future[list[Msg]] | None = None

    async def fetch() -> list[Msg]:
        return await puller.fetch(batch, wait_s=1.0)

    async def fetch_and_handle() -> None:
        nonlocal prefetched
        current, prefetched = prefetched, None
        msgs = await unless_stopped(stop, current if current is not None else fetch())
        if not msgs:  # none came, or stopping: what a cancelled fetch buffered is nak'ed
            return
        # The next batch is fetched while this one is written: NATS and PostgreSQL work at once.
        prefetched = asyncio.ensure_future(fetch())
        await _handle_batch(msgs, ctx, worker, handler, timeout_s, outage)

    try:
        await every(0.0, fetch_and_handle, stop, name=f"worker {worker} consuming {durable}")
    finally:
        if prefetched is not None:  # fetched, never handled: back to the stream at once
            prefetched.cancel()
            await asyncio.wait({prefetched})
            if not prefetched.cancelled() and prefetched.exception() is None:
                with contextlib.suppress(NatsError):
                    for msg in prefetched.result():
                        await msg.nak()
        await puller.close()


async def _handle_batch(
    msgs: list[Msg],
    ctx: WorkerContext,
    worker: str,
    handler: BatchHandler,
    timeout_s: float,
    outage: Outage,
) -> None:
    started = time.perf_counter()
    try:
        refused = await asyncio.wait_for(handler(msgs, ctx), timeout_s)
    except Exception as error:
        fault = translate(error)
        if fault is None:
            log.exception("batch failed", extra={"ctx": {"worker": worker, "size": len(msgs)}})
        else:  # a store is away: later, not never; logged once per outage
            outage.failed(error)
        outcome = "error" if fault is None else fault.code
        for msg in msgs:
            await msg.nak(delay=min(MAX_BACKOFF_S, 0.5 * 2**msg.metadata.num_delivered))
        ctx.metrics.worker_messages.labels(worker, outcome).inc(len(msgs))
        return
    outage.succeeded()
    terminated = {id(msg) for msg in refused}
    for msg in msgs:
        if id(msg) in terminated:
            await msg.term()
        else:
            await msg.ack()
    if refused:
        log.warning(
            "%d malformed messages terminated", len(refused), extra={"ctx": {"worker": worker}}
        )
    ctx.metrics.worker_messages.labels(worker, "term").inc(len(refused))
    ctx.metrics.worker_messages.labels(worker, "ok").inc(len(msgs) - len(refused))
    ctx.metrics.worker_latency.labels(worker).observe(time.perf_counter() - started)
