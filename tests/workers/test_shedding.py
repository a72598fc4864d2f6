"""A request its asker stopped waiting for is answered `timeout` and never run, on the plain
path (workers/runner.py) and the batched one (workers/batching.py); the rest run as usual."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from bilten.infra.deps import Deps
from bilten.infra.metrics import Metrics
from bilten.infra.rpc import request
from bilten.infra.settings import Settings
from bilten.protocol.commands import CommandRequest, encode_request
from bilten.protocol.errors import Timeout
from bilten.workers.batching import Batched
from bilten.workers.context import WorkerContext
from bilten.workers.runner import CommandHandler
from tests.waiting import WAIT_S, wait_for
from tests.workers.test_batching import CLAIMS, Probe, serving_command

# How long the abandoned request's asker waits; the test holds that request back longer.
SHORT_S = 0.2


def serving(
    settings: Settings, method: str, handler: CommandHandler | Batched
) -> AbstractAsyncContextManager[tuple[Deps, Metrics]]:
    """One request at a time: the rest wait their turn."""
    return serving_command(settings, method, handler, concurrency=1, timeout_s=WAIT_S)


def ask(deps: Deps, method: str, n: int, budget_s: float | None) -> asyncio.Future[Any]:
    body = encode_request(CommandRequest(method, CLAIMS, {"n": n}, budget_s=budget_s))
    subject = deps.subjects.command(method)
    return asyncio.ensure_future(request(deps.nc, subject, body, timeout=WAIT_S, what=method))


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, {"worker": "probe", **labels}) or 0.0


async def held_back(metrics: Metrics, waiting: int, release: asyncio.Event) -> None:
    """Once `waiting` requests wait their turn, let them wait past SHORT_S, then `release`."""
    await wait_for(
        lambda: sample(metrics, "bilten_worker_queued") >= waiting, what="the requests to queue"
    )
    await asyncio.sleep(SHORT_S * 1.5)  # at least that long: what is measured is the wait
    release.set()


@pytest.mark.parametrize("kind", ["plain", "batched"])
async def test_a_request_its_asker_gave_up_on_is_not_run(migrated: Settings, kind: str) -> None:
    ran: list[int] = []
    if kind == "plain":
        gate = asyncio.Event()

        async def handler(request: CommandRequest, ctx: WorkerContext) -> Any:
            ran.append(request.params["n"])
            if request.params["n"] == 0:
                await gate.wait()
            return request.params

        declared: CommandHandler | Batched = handler
    else:
        probe = Probe()
        gate = probe.gate
        declared = Batched(probe, lanes=1)

    method = f"probe.{kind}"
    async with serving(migrated, method, declared) as (deps, metrics):
        first = ask(deps, method, 0, None)
        if kind == "plain":
            await wait_for(lambda: ran == [0], what="the first request to run")
        else:
            await wait_for(lambda: bool(probe.batches), what="the first batch to start")
        abandoned = ask(deps, method, 1, SHORT_S)
        awaited = ask(deps, method, 2, WAIT_S * 4)  # waits as long as it takes
        await held_back(metrics, 2, gate)
        assert await first == {"n": 0}
        assert await awaited == {"n": 2}
        with pytest.raises(Timeout, match="asker left"):
            await abandoned
        if kind == "plain":
            assert ran == [0, 2]  # the abandoned one never ran
        else:
            assert probe.batches == [1, 1]
        assert sample(metrics, "bilten_worker_messages_total", outcome="shed") == 1
        assert sample(metrics, "bilten_worker_queued") == 0


async def test_a_request_once_started_runs_past_its_askers_wait(migrated: Settings) -> None:
    """Begun in time, a request finishes within the worker's own budget: a retry-safe command
    slower than one hub attempt completes, and the next attempt finds it by its nonce."""
    gate = asyncio.Event()
    finished: list[int] = []

    async def handler(request: CommandRequest, ctx: WorkerContext) -> Any:
        await gate.wait()
        finished.append(request.params["n"])
        return request.params

    async with serving(migrated, "probe.slow", handler) as (deps, _metrics):
        slow = ask(deps, "probe.slow", 5, SHORT_S)
        await asyncio.sleep(SHORT_S * 1.5)  # at least that long: past its asker's wait
        gate.set()
        assert await slow == {"n": 5}
    assert finished == [5]
