"""Mail tests: a real SMTP server (the embedded aiosmtpd one) per test, and workers sending to it.

`migrated` is narrowed here to point BILTEN_SMTP_URL at the test's own mail
server, so the `workers` and `hub_server` fixtures run the mail worker too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bilten.deploy.embedded_mail import EmbeddedMail
from bilten.infra import outbox
from bilten.infra.deps import Deps, open_deps
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, declare
from bilten.protocol.mail import MAIL_REQUESTED
from bilten.protocol.subjects import MAIL_CONSUMER
from bilten.workers.main import run_workers
from tests.waiting import arrives


@pytest.fixture
def mail_server() -> Iterator[EmbeddedMail]:
    """An SMTP server on a free loopback port keeping what it receives, with its mailbox pages."""
    with EmbeddedMail() as server:
        yield server


@pytest.fixture
async def migrated(migrated: Settings, mail_server: EmbeddedMail) -> Settings:
    """The migrated settings, sending mail to this test's server."""
    return migrated.replace(smtp_url=mail_server.smtp_url)


@asynccontextmanager
async def running(settings: Settings, names: Sequence[str]) -> AsyncIterator[Deps]:
    """The named workers running in this process, and connections for the test's own use."""
    stop = asyncio.Event()
    async with open_deps(settings, "bilten-test-mail") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())  # before the test publishes
        task = asyncio.get_running_loop().create_task(run_workers(settings, names, stop))
        try:
            yield deps
        finally:
            stop.set()
            await arrives(task, what="the workers to stop")


async def request_mail(deps: Deps, payload: dict[str, Any]) -> None:
    """Queue a mail as other workers do: through the outbox, in a transaction, then flushed."""
    async with deps.pg.acquire() as conn, conn.transaction():
        row = await outbox.enqueue(conn, MAIL_REQUESTED, payload)
    await outbox.flush(deps, [row])


async def mail_settled(deps: Deps) -> bool:
    """Whether the mail consumer has nothing left to deliver or to hear back about."""
    info = await deps.js.consumer_info(
        deps.subjects.events_stream, deps.subjects.durable(MAIL_CONSUMER)
    )
    return info.num_pending == 0 and info.num_ack_pending == 0
