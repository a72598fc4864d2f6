"""The persistence worker on real NATS and PostgreSQL: every domain event logged exactly once.

Events are published straight onto the events stream, keyed like the outbox
publishes them. The worker runs in this process, or as `bilten worker
persistence` that is SIGKILLed while it writes and started again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson
import pytest

from bilten.infra.deps import Deps, open_deps
from bilten.infra.settings import Settings, settings_env
from bilten.infra.streams import StreamLimits, declare
from bilten.protocol.event_log import MAX_MSG_ID_BYTES
from bilten.protocol.subjects import HDR_MSG_ID, PERSISTENCE_CONSUMER
from bilten.workers.main import run_workers
from bilten.workers.persistence import insert_rows
from tests.waiting import allowance, arrives, wait_for

pytestmark = pytest.mark.timeout(400)


async def publish_events(deps: Deps, count: int, *, start: int = 0, event_id: int = 7) -> None:
    """`count` scans of `event_id`, keyed `outbox:<ns>:<n>` as the outbox would."""
    pending = []
    for n in range(start, start + count):
        body = {"kind": "checkin.decided", "event_id": event_id, "scan": {"n": n}}
        pending.append(
            await deps.js.publish_async(
                deps.subjects.events("checkin.decided"),
                orjson.dumps(body),
                headers={HDR_MSG_ID: f"outbox:{deps.settings.namespace}:{n}"},
            )
        )
        if len(pending) >= 256:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)


async def logged(deps: Deps) -> int:
    count: int = await deps.pg.fetchval("SELECT count(*) FROM event_log")
    return count


@asynccontextmanager
async def persistence(settings: Settings) -> AsyncIterator[None]:
    """The persistence worker running in this process."""
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(run_workers(settings, ["persistence"], stop))
    try:
        yield
    finally:
        stop.set()
        await arrives(task, what="the persistence worker to stop")


async def test_each_event_is_logged_once_and_a_malformed_one_is_refused(
    migrated: Settings,
) -> None:
    async with open_deps(migrated, "test") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        await publish_events(deps, 1200)
        # Published twice by a writer that crashed before deleting its outbox row:
        # the stream's de-duplication stores it once.
        await publish_events(deps, 1, start=5)
        await deps.js.publish(deps.subjects.events("checkin.decided"), b"{not json")
        await publish_events(deps, 1, start=1200, event_id=8)
        async with persistence(migrated):

            async def all_logged() -> bool:
                assert await logged(deps) == 1201
                return True

            await wait_for(all_logged, what="1,201 events in the event log")

            async def settled() -> bool:
                info = await deps.js.consumer_info(
                    deps.subjects.events_stream, deps.subjects.durable(PERSISTENCE_CONSUMER)
                )
                assert (info.num_pending, info.num_ack_pending) == (0, 0)
                return True

            await wait_for(settled, what="every message acknowledged or terminated")
        rows = await deps.pg.fetch(
            "SELECT seq, msg_id, kind, event_id, payload FROM event_log ORDER BY seq"
        )
        assert [r["payload"]["scan"]["n"] for r in rows] == list(range(1201))
        assert [r["event_id"] for r in rows] == [7] * 1200 + [8]
        assert rows[0]["msg_id"] == f"outbox:{migrated.namespace}:0"
        assert {r["kind"] for r in rows} == {"checkin.decided"}
        # The repeat took no place in the stream; the malformed message took 1201.
        assert [r["seq"] for r in rows] == [*range(1, 1201), 1202]


async def test_the_log_is_append_only_and_keyed_twice(migrated: Settings) -> None:
    async with open_deps(migrated, "test") as deps, deps.pg.acquire() as conn:
        now = datetime.now(UTC)
        payload = orjson.dumps({"kind": "events.deleted", "event_id": 3}).decode()
        row = (["S"], [1], ["outbox:x:1"], ["events.deleted"], [3], [payload], [now])
        await insert_rows(conn, row)
        await insert_rows(conn, row)  # a redelivery: same place in the stream
        # The same outbox row stored again after the duplicate window, at a new sequence.
        await insert_rows(conn, (["S"], [9], ["outbox:x:1"], *row[3:]))
        # Without a message id: the stream sequence alone keys it.
        unkeyed = (["S"], [2], [None], *row[3:])
        await insert_rows(conn, unkeyed)
        await insert_rows(conn, unkeyed)
        assert await conn.fetchval("SELECT count(*) FROM event_log") == 2
        for statement in ("UPDATE event_log SET kind = 'x'", "DELETE FROM event_log"):
            with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
                await conn.execute(statement)


def _spawn(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings_env(settings)}
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "bilten.deploy.cli", "worker", "persistence"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


async def test_sigkill_mid_stream_loses_and_doubles_nothing(
    migrated: Settings, tmp_path: Path
) -> None:
    total = 20_000
    async with open_deps(migrated, "test") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        worker = _spawn(migrated, tmp_path / "worker.log")
        try:
            publishing = asyncio.get_running_loop().create_task(publish_events(deps, total))
            await wait_for(lambda: logged(deps), what="the worker to log its first events")
            worker.send_signal(signal.SIGKILL)
            await asyncio.to_thread(worker.wait, 30)
            killed_at = await logged(deps)
            await arrives(
                publishing,
                what="every event published",
                timeout=allowance(total, per_operation=0.003),
            )
            worker = _spawn(migrated, tmp_path / "worker.log")

            async def all_logged() -> bool:
                assert await logged(deps) == total
                return True

            await wait_for(
                all_logged,
                what=f"{total} events logged",
                timeout=allowance(total, per_operation=0.003),
            )
        finally:
            worker.kill()
            await asyncio.to_thread(worker.wait, 30)
        numbers = await deps.pg.fetch(
            "SELECT (payload->'scan'->>'n')::int AS n, count(*) AS c FROM event_log GROUP BY 1"
        )
        assert sorted(r["n"] for r in numbers) == list(range(total))
        assert {r["c"] for r in numbers} == {1}
        # What the killed worker had committed stayed; the rest came after its restart.
        assert 0 < killed_at <= total


async def test_an_event_with_a_message_id_too_long_to_key_is_refused_not_retried(
    workers: Settings,
) -> None:
    """A message id over MAX_MSG_ID_BYTES cannot go into the log's unique index: the
    event is terminated, and the events after it are logged, not held up for ever."""
    async with open_deps(workers, "test") as deps:
        body = orjson.dumps({"kind": "checkin.decided", "event_id": 5, "scan": {}})
        subject = deps.subjects.events("checkin.decided")
        await deps.js.publish(subject, body, headers={HDR_MSG_ID: "x" * (MAX_MSG_ID_BYTES + 1)})
        await deps.js.publish(subject, body, headers={HDR_MSG_ID: "after"})

        async def logged() -> list[str]:
            rows = await deps.pg.fetch("SELECT msg_id FROM event_log WHERE event_id = 5")
            return [r["msg_id"] for r in rows]

        assert await wait_for(logged, what="the event after the refused one logged") == ["after"]
