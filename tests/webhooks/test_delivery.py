"""Webhook deliveries to a real HTTPS receiver (issue 13): signed and verified, retried
with growing delays, paused after the limit and resumed, logged attempt by attempt."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from bilten.clients.sdk import verify_webhook
from bilten.infra.settings import Settings
from bilten.protocol.errors import BadSignature
from tests.hub.helpers import EVENT
from tests.waiting import wait_for
from tests.webhooks.helpers import Api, hub, receiving, running, self_signed

FAST = {
    "webhook_allow_private": True,  # the receiver is on this machine
    "webhook_retry_base_s": 0.2,
    "webhook_retry_max_s": 1.0,
    "webhook_timeout_s": 5.0,
}


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """The receiver's certificate (the workers trust it through BILTEN_WEBHOOK_CA_FILE)."""
    return self_signed(tmp_path)


async def _scan_once(api: Api, event_id: int) -> dict[str, Any]:
    """Issue a ticket of a new event and scan it at its gate: one `checkin.decided`."""
    await api("gates.set", event_id=event_id, gates=["north"])
    kind = await api("tickettypes.create", event_id=event_id, name="General", price_minor=0)
    issued = await api("tickets.issue", event_id=event_id, ticket_type_id=kind["id"], holder="Amra")
    code = issued["tickets"][0]["code"]
    verdict: dict[str, Any] = await api("checkin.scan", event_id=event_id, code=code, gate="north")
    return verdict


async def test_deliveries_arrive_signed_and_verify(
    migrated: Settings, certificate: tuple[Path, Path], aiohttp_client: Any, make_token: Any
) -> None:
    cert, key = certificate
    settings = migrated.replace(webhook_ca_file=cert, **FAST)
    async with (
        receiving(cert, key) as receiver,
        running(settings),
        hub(settings, aiohttp_client, make_token("organizer")) as api,
    ):
        event = (await api("events.create", **EVENT))["id"]
        other = (await api("events.create", **EVENT))["id"]
        updates = await api(
            "webhooks.create", url=receiver.url("/updates"), kinds=["events.updated"]
        )
        scans = await api(
            "webhooks.create", url=receiver.url("/scans"), kinds=["checkin.decided"], event_id=event
        )
        issues = await api(
            "webhooks.create", url=receiver.url("/issued"), kinds=["tickets.issued"], event_id=event
        )
        assert updates["secret"].startswith("whsec_") and updates["status"] == "active"
        assert "secret" not in await api("webhooks.get", webhook_id=updates["id"])

        await api("events.update", event_id=event, name="Renamed")
        [got] = await wait_for(lambda: receiver.at("/updates"), what="the update delivered")
        assert verify_webhook(updates["secret"], got.body, got.headers) > 0
        with pytest.raises(BadSignature):  # another webhook's secret does not verify it
            verify_webhook(scans["secret"], got.body, got.headers)
        body = orjson.loads(got.body)
        assert (body["kind"], body["event_id"]) == ("events.updated", event)
        assert body["data"]["event"]["name"] == "Renamed"
        assert got.headers["Bilten-Webhook-Id"] == str(updates["id"])
        assert got.headers["Bilten-Attempt"] == "1"

        # A scan at another event's door first: the scans webhook is filtered to `event`.
        await _scan_once(api, other)
        verdict = await _scan_once(api, event)
        [scan] = await wait_for(lambda: receiver.at("/scans"), what="the scan delivered")
        verify_webhook(scans["secret"], scan.body, scan.headers)
        body = orjson.loads(scan.body)
        assert (body["kind"], body["event_id"]) == ("checkin.decided", event)
        assert body["data"]["scan"]["status"] == verdict["status"] == "ok"
        [issued] = await wait_for(lambda: receiver.at("/issued"), what="the issue delivered")
        verify_webhook(issues["secret"], issued.body, issued.headers)
        body = orjson.loads(issued.body)
        assert (body["kind"], body["event_id"]) == ("tickets.issued", event)
        assert body["data"]["ticket"]["holder"] == "Amra"

        async def settled(webhook_id: int) -> bool:
            # The receiver has the request a moment before the worker records its answer.
            return (await api("webhooks.get", webhook_id=webhook_id))["pending"] == 0

        await wait_for(lambda: settled(scans["id"]), what="the scan's delivery settled")
        await wait_for(lambda: settled(updates["id"]), what="the update's delivery settled")

        log = await api("webhooks.deliveries", webhook_id=updates["id"])
        [attempt] = log["attempts"]
        assert attempt["delivery_id"] == int(got.headers["Bilten-Delivery-Id"])
        assert (attempt["outcome"], attempt["delivery_status"]) == ("delivered", "delivered")
        assert (attempt["response_code"], attempt["response_body"]) == (200, "answered 200")
        assert attempt["error"] is None and attempt["next_attempt_at"] is None
        assert attempt["duration_ms"] >= 0 and attempt["attempt"] == 1
        assert log["next"] is None
        assert len(receiver.at("/updates")) == 1  # the scans were no events.updated

        # A deleted event's row is gone; its organization travels in the event.
        gone = (await api("events.create", **EVENT))["id"]
        deletions = await api(
            "webhooks.create", url=receiver.url("/deleted"), kinds=["events.deleted"]
        )
        await api("events.delete", event_id=gone)
        [deleted] = await wait_for(lambda: receiver.at("/deleted"), what="the deletion delivered")
        verify_webhook(deletions["secret"], deleted.body, deleted.headers)
        assert orjson.loads(deleted.body)["event_id"] == gone


async def test_a_failing_receiver_gets_retries_with_growing_delays_then_success(
    migrated: Settings, certificate: tuple[Path, Path], aiohttp_client: Any, make_token: Any
) -> None:
    cert, key = certificate
    settings = migrated.replace(webhook_ca_file=cert, **FAST)
    answers = iter([500, 500, 500])
    async with (
        receiving(cert, key) as receiver,
        running(settings, ["events", "webhooks"]),
        hub(settings, aiohttp_client, make_token("organizer")) as api,
    ):
        receiver.answer = lambda _request: next(answers, 200)
        event = (await api("events.create", **EVENT))["id"]
        hook = await api("webhooks.create", url=receiver.url(), kinds=["events.updated"])
        await api("events.update", event_id=event, name="Renamed")
        got = await wait_for(
            lambda: len(receiver.received) >= 4 and receiver.received, what="four attempts"
        )
        assert [r.headers["Bilten-Attempt"] for r in got] == ["1", "2", "3", "4"]
        assert len({r.headers["Bilten-Delivery-Id"] for r in got}) == 1
        assert len({r.body for r in got}) == 1  # the same body, signed anew each time
        for request in got:
            verify_webhook(hook["secret"], request.body, request.headers)

        async def settled() -> list[dict[str, Any]]:
            page = await api("webhooks.deliveries", webhook_id=hook["id"])
            attempts: list[dict[str, Any]] = page["attempts"]
            return attempts if attempts and attempts[0]["outcome"] == "delivered" else []

        attempts = list(reversed(await wait_for(settled, what="the success logged")))
        assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
        assert [a["response_code"] for a in attempts] == [500, 500, 500, 200]
        assert [a["error"] for a in attempts] == ["answered 500"] * 3 + [None]
        assert {a["delivery_status"] for a in attempts} == {"delivered"}
        # Each wait is in the upper half of a doubling delay: 0.2, 0.4, 0.8 s.
        waits = [
            (datetime.fromisoformat(a["next_attempt_at"]) - datetime.fromisoformat(a["at"]))
            for a in attempts[:3]
        ]
        for n, wait in enumerate(waits):
            assert 0.1 * 2**n <= wait.total_seconds() <= 0.2 * 2**n, waits
        assert attempts[3]["next_attempt_at"] is None
        webhook = await api("webhooks.get", webhook_id=hook["id"])
        assert (webhook["failures"], webhook["pending"], webhook["status"]) == (0, 0, "active")
        # The log pages newest first.
        first = await api("webhooks.deliveries", webhook_id=hook["id"], limit=3)
        rest = await api("webhooks.deliveries", webhook_id=hook["id"], before=first["next"])
        assert [a["attempt"] for a in first["attempts"] + rest["attempts"]] == [4, 3, 2, 1]


async def test_a_failing_endpoint_is_paused_and_resume_delivers_the_backlog(
    migrated: Settings, certificate: tuple[Path, Path], aiohttp_client: Any, make_token: Any
) -> None:
    cert, key = certificate
    settings = migrated.replace(
        webhook_ca_file=cert,
        webhook_pause_after=3,
        **{**FAST, "webhook_retry_base_s": 0.05, "webhook_retry_max_s": 0.1},
    )
    down = True
    async with (
        receiving(cert, key) as receiver,
        running(settings, ["events", "webhooks"]),
        hub(settings, aiohttp_client, make_token("organizer")) as api,
    ):
        receiver.answer = lambda request: 503 if down and request.path == "/down" else 200
        event = (await api("events.create", **EVENT))["id"]
        failing = await api("webhooks.create", url=receiver.url("/down"), kinds=["events.updated"])
        await api("webhooks.create", url=receiver.url("/probe"), kinds=["events.updated"])
        await api("events.update", event_id=event, name="First")

        async def paused() -> dict[str, Any] | None:
            webhook: dict[str, Any] = await api("webhooks.get", webhook_id=failing["id"])
            return webhook if webhook["status"] == "paused" else None

        webhook = await wait_for(paused, what="the failing webhook paused")
        assert webhook["failures"] == 3 and webhook["paused_at"] and webhook["pending"] == 1
        assert len(receiver.at("/down")) == 3

        # Paused: later events are recorded, and not sent. Both webhooks' deliveries of an
        # event are recorded in one statement, so once the probe's arrive, the failing
        # webhook's were due too, and skipped.
        await api("events.update", event_id=event, name="Second")
        await api("events.update", event_id=event, name="Third")
        await wait_for(lambda: len(receiver.at("/probe")) == 3, what="the probe's deliveries")
        assert (await api("webhooks.get", webhook_id=failing["id"]))["pending"] == 3
        assert len(receiver.at("/down")) == 3

        # A test ping goes out even while paused; its failure is logged, not counted.
        ping = await api("webhooks.test", webhook_id=failing["id"])
        assert (ping["outcome"], ping["response_code"], ping["kind"]) == (
            "failed",
            503,
            "webhooks.ping",
        )
        pinged = receiver.at("/down")[-1]
        verify_webhook(failing["secret"], pinged.body, pinged.headers)
        assert (await api("webhooks.get", webhook_id=failing["id"]))["failures"] == 3

        down = False
        resumed = await api("webhooks.resume", webhook_id=failing["id"])
        assert (resumed["status"], resumed["failures"], resumed["requeued"]) == ("active", 0, 3)
        assert resumed["paused_at"] is None

        async def drained() -> bool:
            webhook = await api("webhooks.get", webhook_id=failing["id"])
            return bool(webhook["pending"] == 0)

        await wait_for(drained, what="the backlog delivered")
        names = {orjson.loads(r.body)["data"]["event"]["name"] for r in receiver.at("/down")[4:]}
        assert names == {"First", "Second", "Third"}
        log = await api("webhooks.deliveries", webhook_id=failing["id"])
        delivered = [a for a in log["attempts"] if a["outcome"] == "delivered"]
        assert len(delivered) == 3 and {a["kind"] for a in delivered} == {"events.updated"}


async def test_a_slow_receiver_holds_up_only_its_own_deliveries(
    migrated: Settings, certificate: tuple[Path, Path], aiohttp_client: Any, make_token: Any
) -> None:
    cert, key = certificate
    settings = migrated.replace(
        webhook_ca_file=cert, webhook_endpoint_concurrency=2, **{**FAST, "webhook_timeout_s": 60.0}
    )
    held = asyncio.get_running_loop().create_future()  # the slow receiver's answers
    async with (
        receiving(cert, key) as receiver,
        running(settings, ["events", "webhooks"]),
        hub(settings, aiohttp_client, make_token("organizer")) as api,
    ):
        receiver.answer = lambda request: held if request.path == "/slow" else 200
        event = (await api("events.create", **EVENT))["id"]
        for path in ("/slow", "/fast"):
            await api("webhooks.create", url=receiver.url(path), kinds=["events.updated"])
        for n in range(5):
            await api("events.update", event_id=event, name=f"Set {n}")
        await wait_for(lambda: len(receiver.at("/fast")) == 5, what="every fast delivery")
        await wait_for(lambda: len(receiver.at("/slow")) == 2, what="two slow attempts")
        assert len(receiver.at("/slow")) == 2  # its limit: the rest wait their turn
        held.set_result(200)
        await wait_for(lambda: len(receiver.at("/slow")) == 5, what="the slow deliveries")
        ids = {r.headers["Bilten-Delivery-Id"] for r in receiver.at("/slow")}
        assert len(ids) == 5
