"""Webhook deliveries: recorded from the events stream, then sent by one loop per worker.

docs/webhooks.md §Delivery. Two halves, both safe with any number of webhooks
worker processes:

- `record` (the `webhooks` durable consumer) writes one delivery per matching
  webhook in one statement; (webhook, event message id) is unique, so a
  redelivered event is recorded once. Webhooks created after the event do not
  receive it (the consumer may be replaying an old backlog).
- `deliver` claims due deliveries with `FOR UPDATE SKIP LOCKED`, pushing their
  `next_attempt_at` out by a lease in the same statement, and sends them
  concurrently: at most BILTEN_WEBHOOK_CONCURRENCY at once, and at most
  BILTEN_WEBHOOK_ENDPOINT_CONCURRENCY for one webhook, so a slow receiver
  holds up only its own deliveries. A worker killed mid-attempt leaves the
  delivery due again when the lease ends: it is retried, never lost.

Each attempt is logged (`webhook_attempts`); a failed one is retried with
exponential backoff and jitter until the retry window closes (`failed`), and
counts against its webhook, which is paused after BILTEN_WEBHOOK_PAUSE_AFTER
consecutive failures until resumed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from nats.aio.msg import Msg

from bilten.infra.loops import Outage, every
from bilten.protocol.event_log import checked_msg_id, parse_domain_event
from bilten.protocol.subjects import HDR_MSG_ID
from bilten.protocol.webhook_signature import (
    HDR_ATTEMPT,
    HDR_DELIVERY_ID,
    HDR_WEBHOOK_ID,
    signed_headers,
)
from bilten.protocol.webhooks import PRIVATE_KINDS, RetryPolicy, encode_body, next_attempt_in
from bilten.workers.context import Conn, WorkerContext
from bilten.workers.webhook_http import Outcome, Sender, open_sender

log = logging.getLogger(__name__)
# Its own generator for retry jitter: the `random` module's shared one is the
# application's (and a test framework's), not ours to move.
_JITTER = random.Random()

TICK_S = 0.25
# Settled deliveries (and their attempts) are kept this long for `webhooks.deliveries`.
KEEP_DAYS = 30
SWEEP_INTERVAL_S = 3600.0
# Claimed rows looked at per claim, for every webhook with room.
CLAIM_SCAN = 256

_RECORD = """INSERT INTO webhook_deliveries (webhook_id, source, kind, event_id, body,
        next_attempt_at, occurred_at)
    SELECT w.id, $1, $2, $3, $5, now(), $6 FROM webhooks w
    WHERE w.org_id = coalesce($4, (SELECT org_id FROM events WHERE id = $3))
      AND ($2 = ANY (w.kinds) OR '*' = ANY (w.kinds))
      AND (w.event_id IS NULL OR w.event_id = $3)
      AND w.created_at <= $6
    ON CONFLICT (webhook_id, source) DO NOTHING"""

_CANDIDATES = """SELECT d.id, d.webhook_id FROM webhook_deliveries d
        JOIN webhooks w ON w.id = d.webhook_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND w.status = 'active'
      AND d.webhook_id <> ALL ($2::bigint[])
    ORDER BY d.next_attempt_at LIMIT $1
    FOR UPDATE OF d SKIP LOCKED"""

_CLAIM = """UPDATE webhook_deliveries d
    SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
    FROM webhooks w WHERE d.id = ANY ($1::bigint[]) AND w.id = d.webhook_id
    RETURNING d.id, d.webhook_id, d.attempts, d.body, d.created_at, w.url, w.secret"""


async def record(msg: Msg, ctx: WorkerContext) -> None:
    """Record a delivery of this domain event for every webhook subscribed to it."""
    entry = parse_domain_event(msg.data)  # BadRequest: terminated, it can never be one
    if entry.kind in PRIVATE_KINDS:
        return
    meta = msg.metadata
    given = checked_msg_id((msg.headers or {}).get(HDR_MSG_ID))  # BadRequest: terminated
    source = given or f"{meta.stream}:{meta.sequence.stream}"
    occurred = meta.timestamp or datetime.now(UTC)
    org = entry.payload.get("org_id")
    body = encode_body(source, entry.kind, entry.event_id, occurred.isoformat(), entry.payload)
    await ctx.pg.execute(
        _RECORD,
        source,
        entry.kind,
        entry.event_id,
        org if isinstance(org, str) else None,
        body.decode(),
        occurred,
    )


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed for one attempt."""

    delivery_id: int
    webhook_id: int
    attempt: int
    body: bytes
    created_at: datetime
    url: str
    secret: str

    def headers(self, now: float) -> dict[str, str]:
        """The attempt's headers, signed at `now`."""
        return {
            "Content-Type": "application/json",
            HDR_WEBHOOK_ID: str(self.webhook_id),
            HDR_DELIVERY_ID: str(self.delivery_id),
            HDR_ATTEMPT: str(self.attempt),
            **signed_headers(self.secret, int(now), self.body),
        }


async def claim(ctx: WorkerContext, room: int, in_flight: dict[int, int]) -> list[Claimed]:
    """Claim up to `room` due deliveries, at most the per-webhook limit less `in_flight`."""
    per_webhook = ctx.settings.webhook_endpoint_concurrency
    full = [w for w, n in in_flight.items() if n >= per_webhook]
    # Due again once the attempt (its timeout) and recording it (a store call) must be over.
    lease_s = ctx.settings.webhook_timeout_s + ctx.settings.request_timeout_s
    async with ctx.pg.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_CANDIDATES, max(room, CLAIM_SCAN), full)
        taken: dict[int, int] = {}
        chosen: list[int] = []
        for row in rows:
            webhook = row["webhook_id"]
            if in_flight.get(webhook, 0) + taken.get(webhook, 0) < per_webhook:
                taken[webhook] = taken.get(webhook, 0) + 1
                chosen.append(row["id"])
                if len(chosen) == room:
                    break
        if not chosen:
            return []
        claimed = await conn.fetch(_CLAIM, chosen, lease_s)
    return [
        Claimed(
            r["id"],
            r["webhook_id"],
            r["attempts"],
            r["body"].encode(),
            r["created_at"],
            r["url"],
            r["secret"],
        )
        for r in claimed
    ]


def retry_policy(ctx: WorkerContext) -> RetryPolicy:
    """The settings' backoff."""
    s = ctx.settings
    return RetryPolicy(s.webhook_retry_base_s, s.webhook_retry_max_s, s.webhook_retry_window_s)


@dataclass(frozen=True, slots=True)
class AttemptRef:
    """Which attempt of which delivery (of which webhook) a log entry is."""

    delivery_id: int
    webhook_id: int
    attempt: int


async def log_attempt(
    conn: Conn, ref: AttemptRef, outcome: Outcome, at: datetime, next_at: datetime | None
) -> None:
    """Append one attempt, ended `at`, to the log."""
    await conn.execute(
        """INSERT INTO webhook_attempts (delivery_id, webhook_id, attempt, outcome,
                response_code, response_body, duration_ms, error, at, next_attempt_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        ref.delivery_id,
        ref.webhook_id,
        ref.attempt,
        "delivered" if outcome.delivered else "failed",
        outcome.response_code,
        outcome.response_body,
        outcome.duration_ms,
        outcome.error,
        at,
        next_at,
    )


async def settle(ctx: WorkerContext, job: Claimed, outcome: Outcome) -> None:
    """Log the attempt, then mark the delivery done, due again, or failed, and count it
    against its webhook (pausing it at the limit); in one transaction."""
    now = datetime.now(UTC)
    next_at: datetime | None = None
    if not outcome.delivered:
        age_s = (now - job.created_at).total_seconds()
        delay = next_attempt_in(job.attempt, age_s, retry_policy(ctx), _JITTER.random())
        next_at = None if delay is None else now + timedelta(seconds=delay)
    status = "delivered" if outcome.delivered else ("pending" if next_at else "failed")
    log_ctx = {"webhook_id": job.webhook_id, "delivery_id": job.delivery_id, "attempt": job.attempt}
    try:
        async with ctx.pg.acquire() as conn, conn.transaction():
            await log_attempt(
                conn,
                AttemptRef(job.delivery_id, job.webhook_id, job.attempt),
                outcome,
                now,
                next_at,
            )
            # Only while the claim is ours: after a lease ran out another attempt may own it.
            await conn.execute(
                """UPDATE webhook_deliveries SET status = $3, next_attempt_at = $4
                    WHERE id = $1 AND attempts = $2 AND status = 'pending'""",
                job.delivery_id,
                job.attempt,
                status,
                next_at,
            )
            paused = await conn.fetchval(
                """UPDATE webhooks SET
                        failures = CASE WHEN $2 THEN 0 ELSE failures + 1 END,
                        status = CASE WHEN NOT $2 AND failures + 1 >= $3 THEN 'paused'
                                      ELSE status END,
                        paused_at = CASE WHEN NOT $2 AND failures + 1 >= $3 AND status = 'active'
                                         THEN now() ELSE paused_at END
                    WHERE id = $1 RETURNING status = 'paused' AND paused_at = now()""",
                job.webhook_id,
                outcome.delivered,
                ctx.settings.webhook_pause_after,
            )
    except asyncpg.ForeignKeyViolationError:
        return  # the webhook was deleted during the attempt: nothing left to record
    if status == "failed":
        log.warning("webhook delivery given up: %s", outcome.error, extra={"ctx": log_ctx})
    if paused:
        log.warning("webhook paused after consecutive failures", extra={"ctx": log_ctx})


async def deliver(ctx: WorkerContext, stop: asyncio.Event) -> None:
    """Claim and send due deliveries until `stop`, then wait for attempts under way."""
    in_flight: dict[int, int] = {}
    finished = asyncio.Event()
    outage = Outage("webhook attempts")

    async def attempt(sender: Sender, job: Claimed) -> None:
        try:
            outcome = await sender.post(job.url, job.headers(time.time()), job.body)
            await settle(ctx, job, outcome)
            outage.succeeded()
        except Exception as error:  # PostgreSQL away: the lease runs out, it is tried again
            outage.failed(error)
        finally:
            in_flight[job.webhook_id] -= 1
            if not in_flight[job.webhook_id]:
                del in_flight[job.webhook_id]
            finished.set()

    async with open_sender(ctx.settings) as sender, asyncio.TaskGroup() as group:

        async def claim_and_start() -> None:
            room = ctx.settings.webhook_concurrency - sum(in_flight.values())
            if room <= 0:
                return
            for job in await claim(ctx, room, in_flight):
                in_flight[job.webhook_id] = in_flight.get(job.webhook_id, 0) + 1
                group.create_task(attempt(sender, job))

        await every(TICK_S, claim_and_start, stop, name="webhook deliveries", wake=finished)


async def sweep(ctx: WorkerContext) -> int:
    """Delete deliveries settled more than KEEP_DAYS ago, their attempts with them."""
    done = await ctx.pg.execute(
        """DELETE FROM webhook_deliveries WHERE status <> 'pending'
            AND created_at < now() - make_interval(days => $1)""",
        KEEP_DAYS,
    )
    return int(done.split()[-1])
