"""The seats feed at close range: coalescing, one publisher at a time, and a snapshot
racing a delta (the case the snapshot's `versions` exist for)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from bilten.infra.bootstrap import declare_streams
from bilten.infra.channel_history import Position
from bilten.infra.deps import open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.protocol.commands import CommandRequest
from bilten.protocol.seats import apply, from_snapshot
from bilten.protocol.tokens import Claims, mint_claims
from bilten.workers import hold_batch, orders, seatfeed, seatmap
from bilten.workers.context import WorkerContext
from tests.waiting import wait_for


def _claims(role: str, sub: str) -> Claims:
    return mint_claims(sub=sub, org="acme", role=role, events="*", ttl_s=600, now=time.time())


ORGANIZER, BUYER = _claims("organizer", "org-1"), _claims("attendee", "amra")


@pytest.fixture
async def deps(migrated: Settings) -> AsyncIterator[WorkerContext]:
    """A worker's context, and no allocation worker: the test ticks the feed itself."""
    await declare_streams(migrated)
    async with open_deps(migrated, "test") as opened:
        yield WorkerContext(opened, Metrics())


async def _event_with_seats(deps: WorkerContext, seats: int) -> tuple[int, list[int]]:
    event_id = await deps.pg.fetchval(
        """INSERT INTO events (org_id, name, starts_at, ends_at, timezone, locale, currency)
           VALUES ('acme', 'Feed', now(), now() + interval '1 hour', 'UTC', 'en', 'BAM')
           RETURNING id"""
    )
    type_id = await deps.pg.fetchval(
        "INSERT INTO ticket_types (event_id, name, price_minor, currency)"
        " VALUES ($1, 'Parter', 1000, 'BAM') RETURNING id",
        event_id,
    )
    await seatmap.create(
        CommandRequest(
            "seats.create",
            ORGANIZER,
            {
                "event_id": event_id,
                "sections": [
                    {
                        "name": "A",
                        "ticket_type_id": type_id,
                        "rows": [{"name": "1", "seats": seats}],
                    }
                ],
            },
        ),
        deps,
    )
    ids = [
        r["id"]
        for r in await deps.pg.fetch(
            "SELECT id FROM seats WHERE event_id = $1 ORDER BY id", event_id
        )
    ]
    return event_id, ids


async def _hold(
    deps: WorkerContext, event_id: int, seat_ids: list[int], claims: Claims = BUYER
) -> dict[str, Any]:
    params = {"event_id": event_id, "seat_ids": seat_ids}
    answer: dict[str, Any] = (
        await hold_batch.hold([CommandRequest("seats.hold", claims, params)], deps)
    )[0]
    return answer


async def _history(deps: WorkerContext, channel: str, after: int) -> list[Any]:
    top = await deps.channels.position(channel)
    assert top is not None
    stored = await deps.channels.read_after(channel, top.epoch, after, top)
    assert stored is not None
    return stored


async def _published(deps: WorkerContext) -> int:
    """The deltas of the next tick that publishes.

    The feed's advisory lock is database-wide, not per namespace: a test running in
    parallel on the same database may hold it for a moment (then a tick sends 0).
    """
    return await wait_for(lambda: seatfeed.tick(deps), what="a feed tick that publishes")


async def test_one_delta_per_tick_however_many_changes(deps: WorkerContext) -> None:
    event_id, ids = await _event_with_seats(deps, 40)
    assert await _published(deps) == 1  # the new map
    for seat in ids[:30]:  # 30 transactions
        assert (await _hold(deps, event_id, [seat], ORGANIZER))["status"] == "held"

    # Two workers tick at once: one publishes, the other finds the feed taken or empty.
    async def two_ticks() -> list[int]:
        sent = sorted(await asyncio.gather(seatfeed.tick(deps), seatfeed.tick(deps)))
        return sent if any(sent) else []

    assert await wait_for(two_ticks, what="two ticks at once, one publishing") == [0, 1]
    stored = await _history(deps, seatfeed.seats_channel(event_id), 1)
    delta = orjson.loads(stored[0].data)
    assert len(stored) == 1 and [s[:2] for s in delta["seats"]] == [[s, "h"] for s in ids[:30]]
    assert await seatfeed.tick(deps) == 0  # nothing new


async def test_a_snapshot_racing_a_delta_keeps_the_newer_state(
    deps: WorkerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    event_id, ids = await _event_with_seats(deps, 4)
    await _published(deps)
    held = await _hold(deps, event_id, ids[:1])  # change A: held, not yet published
    channel = seatfeed.seats_channel(event_id)
    position = deps.channels.position

    async def racing(name: str) -> Position | None:
        # Between the snapshot's reading of the position and of the database, the feed
        # publishes A, then the seat is released (change B, unpublished).
        found = await position(name)
        assert await _published(deps) == 1
        await orders.release(
            CommandRequest("seats.release", BUYER, {"hold_id": held["hold_id"]}), deps
        )
        return found

    monkeypatch.setattr(deps.channels, "position", racing)
    answer = await seatfeed.snapshot(event_id, deps)
    monkeypatch.undo()
    view = from_snapshot(answer["snapshot"])
    assert view.states[ids[0]] == "available" and ids[0] in view.versions
    stored = await _history(deps, channel, answer["offset"])
    assert [orjson.loads(s.data)["seats"][0][:2] for s in stored] == [[ids[0], "h"]]
    for s in stored:  # the stale delta comes after the snapshot: it must not win
        view = apply(view, orjson.loads(s.data), offset=s.offset, epoch=s.epoch)
    assert view.states[ids[0]] == "available"
    assert await _published(deps) == 1  # B follows; applying it changes nothing
    for s in await _history(deps, channel, view.offset):
        view = apply(view, orjson.loads(s.data), offset=s.offset, epoch=s.epoch)
    assert view.states == dict.fromkeys(ids, "available")
