"""A 100,000-row export streams in constant memory: hub, worker and client in this process.

tracemalloc's peak during a download of 10,000 rows and of 100,000 rows: if any
process held the export (or a growing share of it), the larger one's peak would
be about ten times the smaller's, and larger than the file itself.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from bilten.infra.settings import Settings
from tests.allocation.helpers import db
from tests.checkin.helpers import door_setup
from tests.hub.helpers import connect
from tests.waiting import arrives

MiB = 1 << 20


async def seed(settings: Settings, event_id: int, type_id: int, count: int) -> None:
    await db(
        settings,
        "INSERT INTO tickets (event_id, ticket_type_id, holder)"
        " SELECT $1, $2, 'Holder number ' || g FROM generate_series(1, $3) AS g",
        event_id,
        type_id,
        count,
    )


async def _peak(client: Any, token: str, event_id: int, fmt: str) -> tuple[int, int, int]:
    """(peak bytes allocated above the start, lines read, bytes read) of one download."""
    baseline = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    resp = await client.get(
        f"/api/v1/events/{event_id}/exports/tickets.{fmt}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status == 200
    lines = size = 0
    async for chunk in resp.content.iter_chunked(1 << 16):
        lines += chunk.count(b"\n")
        size += len(chunk)
    return tracemalloc.get_traced_memory()[1] - baseline, lines, size


# tracemalloc slows every allocation several times over: the downloads' own deadlines bound it.
@pytest.mark.timeout(2 * (120 + 600) + 120)
async def test_a_large_export_runs_in_constant_memory(
    hub_server: Any, aiohttp_client: Any, make_token: Any, workers: Settings
) -> None:
    client = await aiohttp_client(hub_server)
    token = make_token("organizer")
    organizer = await connect(client, token)
    small = await door_setup(organizer, count=1)
    large = await door_setup(organizer, count=1)
    await seed(workers, small.event_id, small.type_id, 10_000 - 1)
    await seed(workers, large.event_id, large.type_id, 100_000 - 1)
    tracemalloc.start()
    try:
        await _peak(client, token, small.event_id, "csv")  # warm: first-use caches
        for fmt, extra_lines in (("csv", 1), ("json", 2)):  # header; the brackets' lines
            small_peak, small_lines, _ = await arrives(
                _peak(client, token, small.event_id, fmt), what="10,000 rows", timeout=120
            )
            large_peak, large_lines, large_size = await arrives(
                _peak(client, token, large.event_id, fmt), what="100,000 rows", timeout=600
            )
            assert (small_lines, large_lines) == (10_000 + extra_lines, 100_000 + extra_lines)
            # About 3 MiB for either here: one page in the worker, the hub and the client.
            assert large_peak < 1.5 * small_peak + MiB, (fmt, small_peak, large_peak)
            assert large_peak < large_size, (fmt, large_peak, large_size)
    finally:
        tracemalloc.stop()
