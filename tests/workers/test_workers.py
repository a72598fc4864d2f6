"""Workers on real NATS and PostgreSQL: the runner's boundary, outbox, event log, metrics port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from typing import Any

import aiohttp
import pytest
from nats.errors import NoRespondersError

from bilten.infra import outbox
from bilten.infra.deps import open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare
from bilten.protocol.commands import CommandRequest, decode_reply, encode_request
from bilten.protocol.errors import BadRequest, Internal
from bilten.protocol.tokens import mint_claims
from bilten.workers.context import WorkerContext
from bilten.workers.main import run_workers
from bilten.workers.runner import serve_commands
from tests.hub.helpers import EVENT
from tests.waiting import WAIT_S, arrives, wait_for


def _claims() -> Any:
    return mint_claims(
        sub="o-1", org="acme", role="organizer", events="*", ttl_s=60, now=time.time()
    )


async def test_runner_turns_failures_into_codes_and_logs_once(
    migrated: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def crash(request: CommandRequest, deps: Any) -> Any:
        raise RuntimeError("secret internals: password=hunter2")

    async def refuse(request: CommandRequest, deps: Any) -> Any:
        raise BadRequest("no thanks")

    async def slow(request: CommandRequest, deps: Any) -> Any:
        await asyncio.Event().wait()  # never answers: only the runner's budget ends it

    stop = asyncio.Event()
    async with open_deps(migrated, "test") as deps:
        task = asyncio.get_running_loop().create_task(
            serve_commands(
                WorkerContext(deps, Metrics()),
                "probe",
                {"probe.crash": crash, "probe.refuse": refuse, "probe.slow": slow},
                stop,
                timeout_s=0.3,
            )
        )

        async def call(method: str) -> Any:
            msg = await deps.nc.request(
                deps.subjects.command(method),
                encode_request(CommandRequest(method, _claims(), {})),
                timeout=WAIT_S,
            )
            return decode_reply(msg.data)

        async def serving() -> bool:
            try:
                await deps.nc.request(deps.subjects.command("probe.slow"), b"{}", timeout=WAIT_S)
            except NoRespondersError:
                return False
            return True

        await wait_for(serving, what="the probe worker to serve")

        with caplog.at_level(logging.ERROR, logger="bilten.workers.runner"):
            with pytest.raises(Internal) as crashed:
                await call("probe.crash")
        assert "hunter2" not in crashed.value.message
        records = [r for r in caplog.records if r.name == "bilten.workers.runner"]
        assert len(records) == 1 and "hunter2" in (records[0].exc_text or "")
        assert records[0].ctx["worker"] == "probe"  # type: ignore[attr-defined]
        with pytest.raises(BadRequest, match="no thanks"):
            await call("probe.refuse")
        from bilten.protocol.errors import Timeout

        with pytest.raises(Timeout):
            await call("probe.slow")
        stop.set()
        await arrives(task, what="the probe worker to stop")


async def test_outbox_relay_publishes_what_a_crash_left_behind(migrated: Settings) -> None:
    async with open_deps(migrated, "test") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        async with deps.pg.acquire() as conn, conn.transaction():
            await outbox.enqueue(conn, "events.created", {"event_id": 7, "event": {"id": 7}})
        # The writer "crashed" before flush: the relay finds the row and publishes it.
        stop = asyncio.Event()
        relay = asyncio.get_running_loop().create_task(
            outbox.relay(deps, stop, interval_s=0.1, min_age_s=0.0)
        )
        sub = await deps.js.subscribe(deps.subjects.events(">"), ordered_consumer=True)
        try:
            msg = await sub.next_msg(timeout=WAIT_S)
            assert msg.subject == deps.subjects.events("events.created")
            import orjson

            assert orjson.loads(msg.data)["event_id"] == 7

            async def emptied() -> bool:
                return await deps.pg.fetchval("SELECT count(*) FROM outbox") == 0

            await wait_for(emptied, what="the relay to clear the outbox")
        finally:
            stop.set()
            await relay
            await sub.unsubscribe()


async def test_persistence_logs_each_domain_event_once(workers: Settings) -> None:
    async with open_deps(workers, "test") as deps:
        request = CommandRequest("events.create", _claims(), dict(EVENT))
        for _ in range(2):
            msg = await deps.nc.request(
                deps.subjects.command("events.create"), encode_request(request), timeout=WAIT_S
            )
            decode_reply(msg.data)

        async def recorded() -> list[Any]:
            rows = await deps.pg.fetch("SELECT kind, event_id FROM event_log ORDER BY seq")
            return rows if len(rows) >= 2 else []

        rows = await wait_for(recorded, what="two domain events recorded")
        assert [(r["kind"], r["event_id"]) for r in rows] == [
            ("events.created", 1),
            ("events.created", 2),
        ]


async def test_worker_metrics_port(migrated: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(run_workers(migrated, ["events"], stop, port))
    try:
        async with aiohttp.ClientSession() as http:

            async def metrics() -> str:
                if task.done():
                    task.result()
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                        return await resp.text()
                return ""

            text = await wait_for(metrics, what="the worker's metrics port")
            assert "bilten_worker_messages" in text and "process_cpu_seconds_total" in text
            async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                assert resp.status == 200
    finally:
        stop.set()
        await arrives(task, what="the events worker to stop")
