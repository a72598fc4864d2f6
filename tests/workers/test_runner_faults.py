"""The runner's boundary: a handler's own KeyError is a logged bug, a fault is retryable."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

import asyncpg
import pytest

from bilten.infra.deps import open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.rpc import request
from bilten.infra.settings import Settings
from bilten.protocol.commands import CommandRequest, encode_request
from bilten.protocol.errors import Internal, Unavailable, UnknownMethod
from bilten.protocol.tokens import mint_claims
from bilten.workers.context import WorkerContext
from bilten.workers.runner import serve_commands


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_handler_bugs_faults_and_unknown_methods(
    migrated: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    claims = mint_claims(
        sub="o-1", org="acme", role="organizer", events="*", ttl_s=60, now=time.time()
    )
    down = f"postgresql://nobody@127.0.0.1:{_closed_port()}/nothing"

    async def lookup(request: CommandRequest, deps: Any) -> Any:
        return {}["missing"]  # a bug in the handler, not a missing handler

    async def database(request: CommandRequest, deps: Any) -> Any:
        return await asyncpg.connect(down, timeout=5)  # refused: the database is down

    stop = asyncio.Event()
    metrics = Metrics()
    async with open_deps(migrated, "test") as deps:
        task = asyncio.get_running_loop().create_task(
            serve_commands(
                WorkerContext(deps, metrics),
                "probe",
                {"probe.lookup": lookup, "probe.db": database},
                stop,
            )
        )

        async def call(subject_method: str, method: str) -> Any:
            return await request(
                deps.nc,
                deps.subjects.command(subject_method),
                encode_request(CommandRequest(method, claims, {})),
                timeout=5,
                what=method,
            )

        async with asyncio.timeout(10):  # until the worker is subscribed
            while True:
                try:
                    await call("probe.lookup", "probe.lookup")
                except Unavailable:
                    await asyncio.sleep(0.01)
                except Internal:
                    break
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="bilten"):
            with pytest.raises(Internal):
                await call("probe.lookup", "probe.lookup")
            with pytest.raises(UnknownMethod):
                await call("probe.lookup", "probe.nothing")
            for _ in range(3):
                with pytest.raises(Unavailable):
                    await call("probe.db", "probe.db")
        runner_logs = [r for r in caplog.records if r.name == "bilten.workers.runner"]
        loop_logs = [r for r in caplog.records if r.name == "bilten.infra.loops"]
        stop.set()
        await asyncio.wait_for(task, 10)
    # The bug: logged once with its traceback. The outage: one warning, not three.
    assert [(r.levelname, r.getMessage()) for r in runner_logs] == [("ERROR", "command failed")]
    assert runner_logs[0].exc_info is not None
    assert runner_logs[0].exc_info[0] is KeyError
    assert [r.levelname for r in loop_logs] == ["WARNING"]

    def count(outcome: str) -> float | None:
        return metrics.registry.get_sample_value(
            "bilten_worker_messages_total", {"worker": "probe", "outcome": outcome}
        )

    assert count("internal") == 2 and count("unknown_method") == 1
    assert count("unavailable") == 3
