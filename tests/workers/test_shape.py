"""One declared shape per worker: commands, snapshots and periodic jobs run by one runner,
every handler given the same context."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from nats.errors import NoRespondersError

from bilten.infra.deps import open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.protocol.commands import CommandRequest, decode_reply, encode_request
from bilten.protocol.errors import BadChannel, Internal
from bilten.protocol.tokens import mint_claims
from bilten.workers.context import WorkerContext
from bilten.workers.registry import WORKERS
from bilten.workers.shape import Periodic, Worker, run_worker
from tests.waiting import WAIT_S, arrives, wait_for


async def test_a_declared_worker_serves_every_kind_with_one_context(migrated: Settings) -> None:
    seen: list[WorkerContext] = []
    ticked = asyncio.Event()

    async def echo(request: CommandRequest, ctx: WorkerContext) -> Any:
        seen.append(ctx)
        return {"method": request.method}

    async def polls(event_id: int, ctx: WorkerContext) -> Any:
        seen.append(ctx)
        return {"snapshot": {"event": event_id}, "offset": 0, "epoch": ""}

    async def broken(event_id: int, ctx: WorkerContext) -> Any:
        raise RuntimeError("a bug in a snapshot")

    async def tick(ctx: WorkerContext) -> None:
        seen.append(ctx)
        ticked.set()

    probe = Worker(
        "probe",
        commands={"probe.echo": echo},
        snapshots={"polls": polls, "dashboard": broken},
        periodic=(Periodic("probe tick", 0.01, tick),),
    )
    stop = asyncio.Event()
    metrics = Metrics()
    async with open_deps(migrated, "test") as deps:
        ctx = WorkerContext(deps, metrics)
        task = asyncio.get_running_loop().create_task(run_worker(probe, ctx, stop))
        claims = mint_claims(
            sub="o-1", org="acme", role="organizer", events="*", ttl_s=60, now=time.time()
        )

        async def ask(subject: str, body: bytes = b"") -> Any:
            msg = await deps.nc.request(subject, body, timeout=WAIT_S)
            return decode_reply(msg.data)

        async def serving() -> bool:
            try:
                await ask(deps.subjects.snapshot("event.1.polls"))
            except NoRespondersError:
                return False
            return True

        await wait_for(serving, what="the probe's snapshots to be served")
        await arrives(ticked.wait(), what="the periodic job to run")
        assert await ask(
            deps.subjects.command("probe.echo"),
            encode_request(CommandRequest("probe.echo", claims, {})),
        ) == {"method": "probe.echo"}
        answer = await ask(deps.subjects.snapshot("event.42.polls"))
        assert answer["snapshot"] == {"event": 42}
        with pytest.raises(BadChannel):  # the runner's lookup refuses what it cannot parse
            await ask(deps.subjects.snapshot("event.x.polls"))
        with pytest.raises(Internal):  # a bug: internal, never its text
            await ask(deps.subjects.snapshot("event.1.dashboard"))
        stop.set()
        await arrives(task, what="the probe worker to stop")
    assert seen and all(s is ctx for s in seen)

    def count(outcome: str) -> float | None:
        return metrics.registry.get_sample_value(
            "bilten_worker_messages_total", {"worker": "probe", "outcome": outcome}
        )

    assert count("bad_channel") == 1 and count("internal") == 1


def test_registry_declares_each_worker_once_by_its_name() -> None:
    assert sorted(WORKERS) == [
        "accounts",
        "allocation",
        "analytics",
        "checkin",
        "engagement",
        "events",
        "exports",
        "mail",
        "metrics",
        "persistence",
        "qa",
        "tickets",
        "webhooks",
    ]
    assert all(name == worker.name for name, worker in WORKERS.items())
    assert set(WORKERS["allocation"].snapshots) == {"seats"}
    assert set(WORKERS["qa"].snapshots) == {"qa"}
    assert set(WORKERS["engagement"].snapshots) == {"polls"}
    assert [c.durable for c in WORKERS["persistence"].consumers] == ["persistence"]
    assert set(WORKERS["metrics"].snapshots) == {"dashboard"}
    assert [c.durable for c in WORKERS["metrics"].consumers] == ["metrics"]
    assert [c.durable for c in WORKERS["webhooks"].consumers] == ["webhooks"]
    assert len(WORKERS["webhooks"].loops) == 1
    assert [c.durable for c in WORKERS["analytics"].consumers] == ["analytics"]
    assert WORKERS["analytics"].extra == "analytics"
    assert WORKERS["analytics"].uninstalled() is None  # the test extras install it


def test_a_worker_whose_extra_is_not_installed_says_what_to_install() -> None:
    absent = Worker("absent", extra="absent", imports=("bilten_no_such_module",))
    assert absent.uninstalled() == "pip install 'bilten[absent]'"
