"""Batched commands (workers/batching.py): requests that queue while a batch is decided are
decided together, each answered on its own, and one bad request never sinks the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from bilten.infra.deps import Deps, open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.rpc import request
from bilten.infra.settings import Settings
from bilten.protocol.commands import CommandRequest, encode_request
from bilten.protocol.errors import BadRequest, BiltenError, Internal, Unavailable
from bilten.protocol.tokens import mint_claims
from bilten.workers.batching import Batched
from bilten.workers.context import WorkerContext
from bilten.workers.runner import CommandHandler, serve_commands
from tests.waiting import WAIT_S, wait_for

CLAIMS = mint_claims(
    sub="o-1", org="acme", role="organizer", events="*", ttl_s=3600, now=time.time()
)


class Probe:
    """A batch handler that echoes each request, holds its first batch until released,
    refuses `{"refuse": true}` alone and crashes any batch holding `{"crash": true}`."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.gate = asyncio.Event()

    async def __call__(self, requests: Sequence[CommandRequest], ctx: WorkerContext) -> list[Any]:
        if not self.batches:
            self.batches.append(len(requests))
            await self.gate.wait()
        else:
            self.batches.append(len(requests))
        if len(requests) > 1 and any(r.params.get("crash") for r in requests):
            raise RuntimeError("a bug that only shows in company")
        return [
            BadRequest("refused", field="refuse") if r.params.get("refuse") else r.params
            for r in requests
        ]


@asynccontextmanager
async def serving_command(
    settings: Settings, method: str, handler: CommandHandler | Batched, **options: Any
) -> AsyncIterator[tuple[Deps, Metrics]]:
    """`method` served by `handler` (`serve_commands` with `options`) until the block ends."""
    stop = asyncio.Event()
    metrics = Metrics()
    async with open_deps(settings, "test") as deps:
        task = asyncio.get_running_loop().create_task(
            serve_commands(
                WorkerContext(deps, metrics), "probe", {method: handler}, stop, **options
            )
        )

        async def subscribed() -> bool:
            try:
                await request(deps.nc, deps.subjects.command(method), b"", timeout=WAIT_S, what="p")
            except Unavailable:
                return False
            except BiltenError:  # an empty request is refused: someone answers
                return True
            return True

        await wait_for(subscribed, what=f"{method} to be served")
        try:
            yield deps, metrics
        finally:
            stop.set()
            await asyncio.wait_for(task, WAIT_S)


def serving(
    settings: Settings, probe: Probe, lanes: int = 1, most: int | None = None
) -> AbstractAsyncContextManager[tuple[Deps, Metrics]]:
    return serving_command(settings, "probe.batch", Batched(probe, lanes=lanes, most=most))


async def call(deps: Deps, params: dict[str, Any]) -> Any:
    body = encode_request(CommandRequest("probe.batch", CLAIMS, params))
    return await request(
        deps.nc, deps.subjects.command("probe.batch"), body, timeout=WAIT_S, what="probe"
    )


async def storm(
    served: tuple[Deps, Metrics], probe: Probe, params: list[dict[str, Any]]
) -> list[Any]:
    """Send a first request that holds the lane, then `params` while it is held."""
    deps, metrics = served
    first = asyncio.ensure_future(call(deps, {"n": -1}))
    await wait_for(lambda: bool(probe.batches), what="the first batch to start")
    rest = [asyncio.ensure_future(call(deps, p)) for p in params]

    def queued() -> float:
        value = metrics.registry.get_sample_value("bilten_worker_queued", {"worker": "probe"})
        return value or 0.0

    await wait_for(lambda: queued() >= len(params), what="the storm to queue")
    probe.gate.set()
    await first
    return await asyncio.gather(*rest, return_exceptions=True)


async def test_requests_arriving_during_a_batch_are_decided_together(migrated: Settings) -> None:
    probe = Probe()
    async with serving(migrated, probe) as served:
        answers = await storm(served, probe, [{"n": n} for n in range(40)])
    assert answers == [{"n": n} for n in range(40)]  # each its own answer, in its own reply
    assert sum(probe.batches) == 41
    assert probe.batches[1] == 40  # everything that queued meanwhile: one batch


async def test_a_command_may_cap_its_batches_below_batch_max(migrated: Settings) -> None:
    probe = Probe()
    async with serving(migrated, probe, most=16) as served:
        answers = await storm(served, probe, [{"n": n} for n in range(40)])
    assert answers == [{"n": n} for n in range(40)]
    assert probe.batches[1:] == [16, 16, 8]  # what queued meanwhile, 16 at a time


async def test_an_outcome_error_answers_only_its_request(migrated: Settings) -> None:
    probe = Probe()
    async with serving(migrated, probe) as served:
        answers = await storm(served, probe, [{"n": 0}, {"refuse": True}, {"n": 2}])
    assert answers[0] == {"n": 0} and answers[2] == {"n": 2}
    assert isinstance(answers[1], BadRequest) and answers[1].details["field"] == "refuse"


async def test_a_batch_that_crashes_is_decided_again_one_by_one(migrated: Settings) -> None:
    probe = Probe()
    async with serving(migrated, probe) as served:
        answers = await storm(served, probe, [{"n": 0}, {"crash": True}, {"n": 2}])
    # Alone, the crashing request is fine too: only the company made it fail.
    assert answers == [{"n": 0}, {"crash": True}, {"n": 2}]


@pytest.mark.parametrize("lanes", [1, 3])
async def test_batch_max_one_decides_every_request_alone(migrated: Settings, lanes: int) -> None:
    probe = Probe()
    probe.gate.set()
    async with serving(migrated.replace(batch_max=1), probe, lanes) as (deps, _metrics):
        answers = await asyncio.gather(*(call(deps, {"n": n}) for n in range(30)))
    assert answers == [{"n": n} for n in range(30)]
    assert probe.batches == [1] * 30


async def test_a_crash_alone_is_internal(migrated: Settings) -> None:
    async def broken(requests: Sequence[CommandRequest], ctx: WorkerContext) -> list[Any]:
        return [{}["missing"] for _ in requests]

    stop = asyncio.Event()
    async with open_deps(migrated, "test") as deps:
        task = asyncio.get_running_loop().create_task(
            serve_commands(
                WorkerContext(deps, Metrics()), "probe", {"probe.batch": Batched(broken)}, stop
            )
        )
        try:
            with pytest.raises(Internal):
                await wait_for_answer(deps)
        finally:
            stop.set()
            await asyncio.wait_for(task, WAIT_S)


async def wait_for_answer(deps: Deps) -> Any:
    """Call until the worker is subscribed (no responders until then)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            return await call(deps, {})
        except Unavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
