"""A hub goes away under 1,000 Python SDK clients on two hubs sharing a port (issue 15).

Two `bilten hub --reuse-port --own-port` processes share one port, as under
`bilten up --hubs 2`, so the kernel spreads the clients over both; the
workers run in a process of their own. Every client subscribes to one
announcements channel, and a publisher on hub-2's own port publishes a
numbered sequence. When hub-1 is killed or told to stop, its clients come
back through the shared port, now hub-2's alone, and resume from where they
were (docs/protocol.md §Recovery, docs/deploy.md §Stopping): each ends with
every number once, in order.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bilten.clients.sdk import BiltenClient, Publication, Subscription
from bilten.infra.settings import Settings
from tests.ready import free_port, hub_answers, spawn_hub, spawn_worker, workers_answer
from tests.waiting import WAIT_S, allowance, arrives, wait_for

# Bounded by the waits inside; this only stops a hang the waits cannot see.
pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

CLIENTS = 1_000
PUBLICATIONS = 30  # in three runs of ten: before, during and after the fault
CONNECTING = 50  # handshakes under way at once
CALLING = 10  # one client in ten calls a command over and over in the SIGTERM test
EVENT = {
    "name": "Hub faults",
    "starts_at": "2030-01-01T18:00:00+00:00",
    "ends_at": "2030-01-01T22:00:00+00:00",
    "timezone": "UTC",
    "locale": "en",
    "currency": "EUR",
}


@dataclass(frozen=True, slots=True)
class Cluster:
    """Two hub processes on one shared port, each also on a port of its own."""

    url: str  # the shared port's WebSocket URL
    hubs: tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]
    own: tuple[str, str]  # each hub's own http://host:port

    async def connections(self, hub: int) -> float:
        """Open WebSockets on hub `hub` (0 or 1), from its own /metrics."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.own[hub]}/metrics") as resp:
            text = await resp.text()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "bilten_ws_connections"
        )


@dataclass(frozen=True, slots=True)
class Listener:
    """One SDK client and its subscription to the channel."""

    client: BiltenClient
    sub: Subscription


@pytest.fixture
async def cluster(migrated: Settings) -> AsyncIterator[Cluster]:
    shared = migrated.replace(port=free_port())
    workers = spawn_worker(shared, "events", free_port())  # events.create, .get and .owner
    ports = (free_port(), free_port())
    hubs = (
        spawn_hub(shared, "--reuse-port", "--own-port", str(ports[0])),
        spawn_hub(shared, "--reuse-port", "--own-port", str(ports[1])),
    )
    own = (f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}")
    try:
        await workers_answer(shared, ["events"])
        for hub, url in zip(hubs, own, strict=True):
            await hub_answers(hub, f"{url}/healthz")  # /readyz wants every worker
        yield Cluster(f"ws://127.0.0.1:{shared.port}/ws", hubs, own)
    finally:
        for process in (*hubs, workers):
            if process.poll() is None:
                process.kill()
            process.wait()


@asynccontextmanager
async def listening(
    cluster: Cluster, channel: str, token: Callable[[int], str]
) -> AsyncIterator[list[Listener]]:
    """CLIENTS clients on the shared port, each subscribed to `channel`; closed on exit."""
    opened: list[BiltenClient] = []
    gate = asyncio.Semaphore(CONNECTING)

    async def listener(n: int) -> Listener:
        async with gate:
            client = BiltenClient(cluster.url, token(n), open_timeout=WAIT_S)
            opened.append(client)
            await client.connect()
            return Listener(client, await client.subscribe(channel, timeout=WAIT_S))

    try:
        yield await arrives(
            asyncio.gather(*(listener(n) for n in range(CLIENTS))),
            what=f"{CLIENTS} clients subscribed",
            timeout=allowance(CLIENTS, per_operation=0.1),
        )
    finally:
        await asyncio.gather(*(client.aclose() for client in opened))


async def publish(publisher: BiltenClient, channel: str, numbers: range) -> None:
    """Publish each number in turn, each once (its offset is its number)."""
    for n in numbers:
        result = await publisher.rpc(
            "channels.publish", {"channel": channel, "data": {"n": n}}, timeout=WAIT_S
        )
        assert result["offset"] == n, result


async def every_number_once(listeners: list[Listener]) -> None:
    """Wait until each client has seen the last publication, then read its whole queue."""
    await wait_for(
        lambda: all(one.sub.offset == PUBLICATIONS for one in listeners),
        what=f"every client at offset {PUBLICATIONS}",
        timeout=allowance(CLIENTS, per_operation=0.1),
    )
    expected = [(n, n) for n in range(1, PUBLICATIONS + 1)]
    for one in listeners:
        items = [await anext(one.sub) for _ in range(one.sub.queued)]
        assert all(isinstance(item, Publication) for item in items), items
        seen = [(item.offset, item.data["n"]) for item in items if isinstance(item, Publication)]
        assert seen == expected, (one.sub, seen)


def moved_and_recovered(listeners: list[Listener], on_hub_1: float) -> None:
    """hub-1's clients reconnected once, and the hub recovered their subscription."""
    moved = [one for one in listeners if one.client.reconnects]
    assert len(moved) == on_hub_1, (len(moved), on_hub_1)
    assert all(one.client.reconnects == 1 and one.sub.recoveries == 1 for one in moved)
    assert not any(one.sub.recoveries for one in listeners if not one.client.reconnects)


async def setting_up(
    cluster: Cluster, make_token: Callable[..., str]
) -> tuple[BiltenClient, str, Callable[[int], str]]:
    """The publisher on hub-2's own port, a new event's channel, and attendee tokens for it."""
    hub_2 = cluster.own[1].replace("http", "ws", 1)
    publisher = BiltenClient(f"{hub_2}/ws", make_token("organizer"), open_timeout=WAIT_S)
    await publisher.connect()
    event = await publisher.rpc("events.create", EVENT, timeout=WAIT_S)
    channel = f"event.{event['id']}.announcements"

    def token(n: int) -> str:
        return make_token("attendee", events=[event["id"]], sub=f"fan-{n}")

    return publisher, channel, token


async def test_sigkill_a_hub_its_clients_recover_every_publication(
    cluster: Cluster, make_token: Callable[..., str]
) -> None:
    """hub-1 is frozen (SIGSTOP) while a third of the sequence is published, so its clients
    surely miss those, then SIGKILLed while the rest goes on."""
    publisher, channel, token = await setting_up(cluster, make_token)
    try:
        async with listening(cluster, channel, token) as listeners:
            on_hub_1 = await cluster.connections(0)
            assert 0 < on_hub_1 < CLIENTS, on_hub_1  # all on one hub: a 2**-999 chance
            third = PUBLICATIONS // 3
            await publish(publisher, channel, range(1, third + 1))
            cluster.hubs[0].send_signal(signal.SIGSTOP)
            await publish(publisher, channel, range(third + 1, 2 * third + 1))
            cluster.hubs[0].kill()
            await publish(publisher, channel, range(2 * third + 1, PUBLICATIONS + 1))
            await every_number_once(listeners)
            moved_and_recovered(listeners, on_hub_1)
    finally:
        await publisher.aclose()


async def test_sigterm_a_hub_no_client_sees_an_error(
    cluster: Cluster, make_token: Callable[..., str]
) -> None:
    """A tenth of the clients call `events.get` over and over while hub-1 is told to stop
    and the sequence goes on: hub-1 answers what it took, says `reconnect` and exits 0; no
    call raises, and its clients carry on on hub-2 with every publication."""
    publisher, channel, token = await setting_up(cluster, make_token)
    event_id = int(channel.split(".")[1])
    answered = 0
    stop = asyncio.Event()

    async def calling(client: BiltenClient) -> None:
        nonlocal answered
        while not stop.is_set():
            event = await client.rpc("events.get", {"event_id": event_id}, timeout=WAIT_S)
            assert event["id"] == event_id, event
            answered += 1

    async def answers(more: int) -> None:
        goal = answered + more
        await wait_for(
            lambda: answered >= goal,
            what=f"{more} more calls answered",
            timeout=allowance(more, per_operation=0.1),
        )

    try:
        async with listening(cluster, channel, token) as listeners:
            on_hub_1 = await cluster.connections(0)
            assert 0 < on_hub_1 < CLIENTS, on_hub_1
            third = PUBLICATIONS // 3
            async with asyncio.TaskGroup() as calls:
                for one in listeners[::CALLING]:
                    calls.create_task(calling(one.client))
                await publish(publisher, channel, range(1, third + 1))
                await answers(CLIENTS // CALLING)
                cluster.hubs[0].send_signal(signal.SIGTERM)
                await publish(publisher, channel, range(third + 1, 2 * third + 1))
                exited = arrives(asyncio.to_thread(cluster.hubs[0].wait), what="hub-1 to exit")
                assert await exited == 0
                await publish(publisher, channel, range(2 * third + 1, PUBLICATIONS + 1))
                await answers(CLIENTS // CALLING)  # on hub-2 alone now
                stop.set()
            await every_number_once(listeners)
            moved_and_recovered(listeners, on_hub_1)
    finally:
        await publisher.aclose()
