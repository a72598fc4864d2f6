"""A webhooks worker killed with SIGKILL mid-attempt (issue 13): the delivery is not lost;
another worker makes the next attempt once the claim's lease runs out."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bilten.clients.sdk import verify_webhook
from bilten.infra.settings import Settings
from tests.hub.helpers import EVENT
from tests.ready import free_port, processes_answer, spawn_worker
from tests.waiting import WAIT_S, arrives, wait_for
from tests.webhooks.helpers import Received, hub, receiving, running, self_signed


@pytest.mark.request_timeout(3)  # the lease: the attempt timeout plus this
@pytest.mark.timeout(4 * WAIT_S)
async def test_sigkill_mid_attempt_loses_no_delivery(
    migrated: Settings, tmp_path: Path, aiohttp_client: Any, make_token: Any
) -> None:
    cert, key = self_signed(tmp_path)
    settings = migrated.replace(
        webhook_ca_file=cert, webhook_allow_private=True, webhook_timeout_s=5.0
    )
    loop = asyncio.get_running_loop()
    arrived = asyncio.Event()
    never: asyncio.Future[int] = loop.create_future()  # the first attempt is never answered

    def answer(request: Received) -> Any:
        arrived.set()
        return never if request.headers["Bilten-Attempt"] == "1" else 200

    port = free_port()
    victim = spawn_worker(settings, "webhooks", port)
    try:
        async with (
            receiving(cert, key) as receiver,
            running(settings, ["events"]),
            hub(settings, aiohttp_client, make_token("organizer")) as api,
        ):
            receiver.answer = answer
            await processes_answer(settings, "webhooks", [port])
            event = (await api("events.create", **EVENT))["id"]
            hook = await api("webhooks.create", url=receiver.url(), kinds=["events.updated"])
            await api("events.update", event_id=event, name="Renamed")
            await arrives(arrived.wait(), what="the first attempt under way")
            victim.send_signal(signal.SIGKILL)
            assert await asyncio.to_thread(victim.wait, WAIT_S) == -signal.SIGKILL
            # Killed before it could log anything: claimed, still pending, its attempt unlogged.
            assert settings.database_url
            db = await asyncpg.connect(settings.database_url)
            try:
                claimed = await db.fetchrow("SELECT status, attempts FROM webhook_deliveries")
                assert claimed is not None and tuple(claimed) == ("pending", 1)
                assert await db.fetchval("SELECT count(*) FROM webhook_attempts") == 0
            finally:
                await db.close()

            async with running(settings, ["webhooks"]):

                async def delivered() -> list[dict[str, Any]]:
                    page = await api("webhooks.deliveries", webhook_id=hook["id"])
                    attempts: list[dict[str, Any]] = page["attempts"]
                    return attempts

                [attempt] = await wait_for(delivered, what="the second attempt logged")
                assert (await api("webhooks.get", webhook_id=hook["id"]))["pending"] == 0
            assert (attempt["attempt"], attempt["outcome"]) == (2, "delivered")
            first, second = receiver.received
            assert first.headers["Bilten-Delivery-Id"] == second.headers["Bilten-Delivery-Id"]
            assert first.body == second.body
            verify_webhook(hook["secret"], second.body, second.headers)
    finally:
        never.cancel()
        if victim.poll() is None:
            victim.kill()
            victim.wait()
