"""`bilten replay`: re-publish an event's logged domain events so derived state can be rebuilt.

docs/insight.md §Replay. The entries of one event in the event log (from a
time on, if given) are published in the order they happened onto the replay
stream, under subjects of their own (`<ns>.replay.<run>.<kind>`), never onto
the events stream: the persistence worker does not see them (so the log gets
no duplicates) and the mail worker sends nothing twice. A run closes with an
`end` message that counts its entries, so a consumer rebuilding counters or
analytics knows when it has everything. Each message is keyed by run and
origin (`Nats-Msg-Id`), so a publication retried within a run is stored once.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime

import orjson
from nats.js.api import PubAck

from bilten.infra.deps import Deps
from bilten.protocol.event_log import (
    HDR_REPLAY_COUNT,
    HDR_REPLAY_MSG_ID,
    HDR_REPLAY_OCCURRED,
    HDR_REPLAY_RUN,
    HDR_REPLAY_SEQ,
)
from bilten.protocol.subjects import HDR_MSG_ID

END = "end"  # the kind of a run's closing message (no domain event is a single word)
WINDOW = 256  # publications awaiting JetStream's acknowledgement at once
_ENTRIES = """SELECT stream, seq, msg_id, kind, payload, occurred_at FROM event_log
    WHERE event_id = $1 AND occurred_at >= $2 ORDER BY occurred_at, stream, seq"""
_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


@dataclass(frozen=True, slots=True)
class Replayed:
    """What a run re-published: its name and how many entries."""

    run: str
    count: int


def new_run() -> str:
    """A fresh run name: a subject token nobody else picks."""
    return f"r{secrets.token_hex(6)}"


async def replay(
    deps: Deps, event_id: int, since: datetime | None = None, *, run: str | None = None
) -> Replayed:
    """Publish event `event_id`'s log entries (those at or after `since`), then the end."""
    run = run or new_run()
    subjects = deps.subjects
    pending: list[asyncio.Future[PubAck]] = []
    count = 0
    async with deps.pg.acquire() as conn, conn.transaction(readonly=True):
        # A cursor: a log of any length is read (and published) in constant memory.
        async for row in conn.cursor(_ENTRIES, event_id, since or _EPOCH, prefetch=WINDOW):
            origin = f"{row['stream']}:{row['seq']}"
            headers = {
                HDR_MSG_ID: f"replay:{run}:{origin}",
                HDR_REPLAY_RUN: run,
                HDR_REPLAY_SEQ: origin,
                HDR_REPLAY_OCCURRED: row["occurred_at"].isoformat(),
            }
            if row["msg_id"] is not None:
                headers[HDR_REPLAY_MSG_ID] = row["msg_id"]
            pending.append(
                await deps.js.publish_async(
                    subjects.replay(run, row["kind"]), orjson.dumps(row["payload"]), headers=headers
                )
            )
            count += 1
            if len(pending) >= WINDOW:
                await _acknowledged(pending)
    await _acknowledged(pending)
    await deps.js.publish(
        subjects.replay(run, END),
        orjson.dumps({"kind": END, "event_id": event_id, "count": count}),
        headers={
            HDR_MSG_ID: f"replay:{run}:end",
            HDR_REPLAY_RUN: run,
            HDR_REPLAY_COUNT: str(count),
        },
    )
    return Replayed(run, count)


async def _acknowledged(pending: list[asyncio.Future[PubAck]]) -> None:
    """Wait until JetStream stored every pending publication (raising its first error)."""
    async with asyncio.timeout(30.0):
        await asyncio.gather(*pending)
    pending.clear()
