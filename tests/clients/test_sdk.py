"""The Python SDK against a real hub (NATS, JetStream, workers), plus its pure position rules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bilten.clients.sdk import (
    Backoff,
    BiltenClient,
    ConnectionClosed,
    Item,
    Publication,
    RecoveryFailed,
    SessionExpired,
    Subscription,
)
from bilten.protocol.errors import (
    BadChannel,
    Forbidden,
    NotFound,
    TokenExpired,
    Unauthorized,
    Unavailable,
    UnknownMethod,
)
from bilten.protocol.frames import Pub, Since, Subscribed
from tests.hub.helpers import frames_in
from tests.waiting import WAIT_S, arrives, wait_for

EVENT = {
    "name": "Sarajevo Jazz Night",
    "starts_at": "2027-01-01T18:00:00+00:00",
    "ends_at": "2027-01-01T23:00:00+00:00",
    "timezone": "Europe/Sarajevo",
    "locale": "bs-BA",
    "currency": "BAM",
}
FAST = Backoff(min_s=0.05, max_s=0.2)
# Calls through the SDK get the tests' generous deadline, not the SDK's 10 s default.
PATIENT = WAIT_S


def patient(url: str, token: str, **options: Any) -> BiltenClient:
    """A client that waits as long as the tests do to connect."""
    return BiltenClient(url, token, open_timeout=PATIENT, **options)


@pytest.fixture
def url(hub_server: Any) -> str:
    return f"ws://{hub_server.host}:{hub_server.port}/ws"


@pytest.fixture
async def organizer(url: str, make_token: Callable[..., str]) -> AsyncIterator[BiltenClient]:
    async with patient(url, make_token("organizer")) as client:
        yield client


@pytest.fixture
async def channel(organizer: BiltenClient) -> str:
    """The announcements channel of a new event."""
    event = await organizer.rpc("events.create", EVENT, timeout=PATIENT)
    return f"event.{event['id']}.announcements"


async def publish(client: BiltenClient, channel: str, n: int) -> int:
    result = await client.rpc(
        "channels.publish", {"channel": channel, "data": {"n": n}}, timeout=PATIENT
    )
    return int(result["offset"])


async def take(sub: Subscription, count: int) -> list[Item]:
    async def items() -> list[Item]:
        return [await anext(sub) for _ in range(count)]

    return await arrives(items(), what=f"{count} items on {sub.channel}")


def numbers(items: list[Item]) -> list[int]:
    assert all(isinstance(item, Publication) for item in items), items
    return [item.data["n"] for item in items if isinstance(item, Publication)]


def attendee_token(make_token: Callable[..., str], channel: str, **kwargs: Any) -> str:
    return make_token("attendee", events=[int(channel.split(".")[1])], sub="ana", **kwargs)


async def test_subscribe_receives_publications_in_order(
    url: str, organizer: BiltenClient, channel: str, make_token: Callable[..., str]
) -> None:
    async with patient(url, attendee_token(make_token, channel)) as client:
        sub = await client.subscribe(channel, timeout=PATIENT)
        assert sub.snapshot is None and sub.offset == 0
        for n in range(1, 6):
            assert await publish(organizer, channel, n) == n
        items = await take(sub, 5)
        assert numbers(items) == [1, 2, 3, 4, 5]
        assert [item.offset for item in items if isinstance(item, Publication)] == [1, 2, 3, 4, 5]
        assert sub.offset == 5
        await sub.unsubscribe(timeout=PATIENT)
        assert [item async for item in sub] == []  # iteration ends
        again = await client.subscribe(channel, timeout=PATIENT)  # the hub forgot the first one
        assert again.offset == 5


async def test_rpc_results_errors_and_ping(
    url: str, organizer: BiltenClient, channel: str, make_token: Callable[..., str]
) -> None:
    event_id = int(channel.split(".")[1])
    event = await organizer.rpc("events.get", {"event_id": event_id}, timeout=PATIENT)
    assert event["id"] == event_id and event["currency"] == "BAM"
    with pytest.raises(UnknownMethod):
        await organizer.rpc("nothing.here", timeout=PATIENT)
    async with patient(url, attendee_token(make_token, channel)) as client:
        with pytest.raises(Forbidden):
            await client.rpc("events.create", EVENT, timeout=PATIENT)
        with pytest.raises(Forbidden):
            await client.subscribe(f"event.{event_id}.dashboard", timeout=PATIENT)
        with pytest.raises(BadChannel):
            await client.subscribe(f"event.{event_id}.chekins", timeout=PATIENT)
        with pytest.raises(NotFound):
            await organizer.subscribe(f"event.{event_id + 1000}.announcements", timeout=PATIENT)
        assert await client.ping(timeout=PATIENT) > 0  # a round trip time, not judged
        await client.subscribe(channel, timeout=PATIENT)  # the refusals left nothing behind


async def test_reconnect_recovers_every_publication_once_in_order(
    url: str, organizer: BiltenClient, channel: str, make_token: Callable[..., str]
) -> None:
    slow = Backoff(min_s=0.5, max_s=0.5)  # long enough to publish while it is away
    async with patient(url, attendee_token(make_token, channel), backoff=slow) as client:
        sub = await client.subscribe(channel, timeout=PATIENT)
        for n in range(1, 4):
            await publish(organizer, channel, n)
        assert numbers(await take(sub, 3)) == [1, 2, 3]
        client._abort_connection()
        for n in range(4, 9):
            await publish(organizer, channel, n)
        items = await take(sub, 5)
        assert client.reconnects == 1
        for n in range(9, 12):
            await publish(organizer, channel, n)
        items += await take(sub, 3)
        assert numbers(items) == list(range(4, 12))
        assert sub.offset == 11 and sub.queued == 0


async def test_reconnect_during_a_stream_keeps_order(
    url: str, organizer: BiltenClient, channel: str, make_token: Callable[..., str]
) -> None:
    async with patient(url, attendee_token(make_token, channel), backoff=FAST) as client:
        sub = await client.subscribe(channel, timeout=PATIENT)
        await publish(organizer, channel, 0)
        await take(sub, 1)  # the channel now has an epoch the client was told of, or not

        async def stream() -> None:
            for n in range(1, 31):
                await publish(organizer, channel, n)

        task = asyncio.get_running_loop().create_task(stream())
        items = await take(sub, 10)
        client._abort_connection()
        items += await take(sub, 20)
        await task
        assert numbers(items) == list(range(1, 31))
        assert client.reconnects == 1


async def test_lost_history_yields_recovery_failed_and_goes_on(
    url: str, organizer: BiltenClient, channel: str, make_token: Callable[..., str]
) -> None:
    async with patient(url, attendee_token(make_token, channel), backoff=FAST) as client:
        sub = await client.subscribe(channel, timeout=PATIENT)
        for n in range(1, 3):
            await publish(organizer, channel, n)
        assert numbers(await take(sub, 2)) == [1, 2]
        sub._epoch = "f0f0f0f0"  # as if the channel's history had been lost meanwhile
        client._abort_connection()
        await publish(organizer, channel, 3)  # before or after the resubscribe: either way
        [failed] = await take(sub, 1)
        assert isinstance(failed, RecoveryFailed), failed
        assert failed.channel == channel and failed.offset in (2, 3) and failed.snapshot is None
        assert failed.epoch != "f0f0f0f0" and sub.epoch == failed.epoch
        await publish(organizer, channel, 4)
        rest = await take(sub, 4 - failed.offset)
        assert numbers(rest) == list(range(failed.offset + 1, 5))
        assert sub.since() == Since(4, failed.epoch)


async def _drain(sub: Subscription) -> None:
    async for _ in sub:
        pass


def _hub_side(hub_server: Any, sub: str) -> Any:
    from bilten.hub.runtime import HUB

    [conn] = [c for c in hub_server.app[HUB].connections if c.claims.sub == sub]
    return conn


@pytest.mark.parametrize("code", ["reconnect", "slow_consumer", "ping_timeout", "rate_limited"])
async def test_hub_disconnects_that_allow_reconnecting_are_recovered(
    hub_server: Any,
    url: str,
    organizer: BiltenClient,
    channel: str,
    make_token: Callable[..., str],
    code: str,
) -> None:
    async with patient(url, attendee_token(make_token, channel), backoff=FAST) as client:
        sub = await client.subscribe(channel, timeout=PATIENT)
        await publish(organizer, channel, 1)
        assert numbers(await take(sub, 1)) == [1]
        _hub_side(hub_server, "ana").disconnect(code, "test")
        for n in range(2, 5):
            await publish(organizer, channel, n)
        assert numbers(await take(sub, 3)) == [2, 3, 4]
        assert client.reconnects == 1


async def test_sdk_answers_the_hubs_pings_and_stays_connected(
    workers: Any, aiohttp_server: Any, make_token: Callable[..., str]
) -> None:
    """websockets answers pings itself: the hub keeps hearing the client, so no ping_timeout."""
    from bilten.hub.app import create_app

    timeout = 2.0  # generous against a stalled machine; the wait below spans it three times
    server = await aiohttp_server(
        create_app(workers.replace(ping_interval_s=0.1, ping_timeout_s=timeout))
    )
    url = f"ws://{server.host}:{server.port}/ws"
    async with patient(url, make_token("organizer"), backoff=FAST) as client:
        conn = _hub_side(server, "organizer-1")
        since = conn.heard
        # The client sends nothing on its own: only pongs move `heard` forward.
        await wait_for(
            lambda: conn.heard > since + 3 * timeout,
            what="the hub to hear pongs for three ping timeouts",
        )
        assert not conn.closed and client.reconnects == 0
        assert await client.ping(timeout=PATIENT) >= 0


@pytest.mark.parametrize("code", ["unauthorized", "forbidden"])
async def test_hub_disconnects_refusing_the_token_close_the_client(
    hub_server: Any, url: str, channel: str, make_token: Callable[..., str], code: str
) -> None:
    async with patient(url, attendee_token(make_token, channel), backoff=FAST) as client:
        sub = await client.subscribe(channel, timeout=PATIENT)
        _hub_side(hub_server, "ana").disconnect(code, "token revoked")
        with pytest.raises(ConnectionClosed) as raised:
            await take(sub, 1)
        assert not isinstance(raised.value, SessionExpired)
        assert raised.value.disconnect == code and "token revoked" in raised.value.message


async def test_rpc_in_flight_fails_with_unavailable_when_the_connection_drops(
    organizer: BiltenClient, channel: str
) -> None:
    call = asyncio.get_running_loop().create_task(
        organizer.rpc("events.get", {"event_id": int(channel.split(".")[1])})
    )
    await asyncio.sleep(0)  # sent, not yet answered
    organizer._abort_connection()
    with pytest.raises(Unavailable):
        await call
    assert (
        await organizer.rpc("events.get", {"event_id": int(channel.split(".")[1])}, timeout=PATIENT)
    )["id"]


async def test_a_call_the_hub_did_not_read_before_reconnect_is_sent_again(
    hub_server: Any, organizer: BiltenClient, channel: str
) -> None:
    """docs/protocol.md §Disconnect codes: a leaving connection's requests are not run, so
    after `reconnect` the SDK sends them on its next connection and the call succeeds."""
    conn = _hub_side(hub_server, "organizer-1")
    conn.leaving = True  # as during a goodbye: the hub reads on and runs nothing
    before = frames_in(hub_server)
    event_id = int(channel.split(".")[1])
    call = asyncio.get_running_loop().create_task(
        organizer.rpc("events.get", {"event_id": event_id}, timeout=PATIENT)
    )
    await wait_for(lambda: frames_in(hub_server) > before, what="the hub to read the call")
    conn.disconnect("reconnect", "test")
    assert (await arrives(call, what="the call's result"))["id"] == event_id
    assert organizer.reconnects == 1


async def test_full_queue_pauses_reading_instead_of_dropping(
    url: str, organizer: BiltenClient, channel: str, make_token: Callable[..., str]
) -> None:
    token = attendee_token(make_token, channel)
    async with patient(url, token, queue_size=3) as client:
        sub = await client.subscribe(channel, timeout=PATIENT)
        for n in range(1, 21):
            await publish(organizer, channel, n)
        await wait_for(lambda: sub.queued == 3, what="the queue to fill")
        assert numbers(await take(sub, 20)) == list(range(1, 21))


async def test_token_expiry_ends_the_subscription_without_a_provider(
    url: str, organizer: BiltenClient, channel: str, make_token: Callable[..., str]
) -> None:
    # Long enough to connect and subscribe on a busy machine, short enough to wait for.
    async with patient(url, attendee_token(make_token, channel, ttl_s=5)) as client:
        sub = await client.subscribe(channel, timeout=PATIENT)
        await publish(organizer, channel, 1)
        with pytest.raises(SessionExpired) as raised:
            await arrives(_drain(sub), what="the session to expire")
        assert isinstance(raised.value, TokenExpired | ConnectionClosed)
        assert raised.value.code == "token_expired" and raised.value.disconnect == "token_expired"
        with pytest.raises(SessionExpired):
            await client.rpc("events.list")
        assert client.reconnects == 0


async def test_token_expiry_reconnects_with_a_fresh_token_from_the_provider(
    url: str, organizer: BiltenClient, channel: str, make_token: Callable[..., str]
) -> None:
    renewed = asyncio.Event()

    async def fresh_token() -> str:
        renewed.set()
        return attendee_token(make_token, channel)

    token = attendee_token(make_token, channel, ttl_s=5)
    async with patient(url, token, token_provider=fresh_token, backoff=FAST) as client:
        sub = await client.subscribe(channel, timeout=PATIENT)
        await publish(organizer, channel, 1)
        assert numbers(await take(sub, 1)) == [1]
        await arrives(renewed.wait(), what="the provider to be asked for a token")
        for n in range(2, 5):
            await publish(organizer, channel, n)
        assert numbers(await take(sub, 3)) == [2, 3, 4]
        assert client.reconnects == 1


async def test_refused_handshakes_raise_the_hubs_error(
    url: str, make_token: Callable[..., str]
) -> None:
    with pytest.raises(Unauthorized):
        async with patient(url, "not-a-token"):
            pass

    async def fresh_token() -> str:
        return make_token("organizer")

    async with patient(url, "not-a-token", token_provider=fresh_token) as client:
        assert isinstance(await client.rpc("events.list", timeout=PATIENT), list | dict)


async def test_close_ends_iterators_and_calls(
    url: str, channel: str, make_token: Callable[..., str]
) -> None:
    client = patient(url, attendee_token(make_token, channel))
    await client.connect()
    sub = await client.subscribe(channel, timeout=PATIENT)
    reader = asyncio.get_running_loop().create_task(anext(sub, None))
    await asyncio.sleep(0)
    await client.aclose()
    assert await reader is None
    with pytest.raises(ConnectionClosed):
        await client.rpc("events.list")
    await client.aclose()  # idempotent


# --- pure: the position rules of docs/protocol.md §Recovery ---


def _sub(epoch: str = "e1", offset: int = 0) -> Subscription:
    async def unsubscribe(sub: Subscription, timeout: float) -> None:
        raise AssertionError("not here")

    sub = Subscription("event.1.announcements", 10, unsubscribe)
    sub.on_subscribed(Subscribed(1, sub.channel, offset, epoch, False, {"state": 1}))
    return sub


def test_first_subscribed_sets_position_and_snapshot() -> None:
    sub = _sub("e1", 7)
    assert (sub.epoch, sub.offset, sub.snapshot, sub.active) == ("e1", 7, {"state": 1}, True)
    assert sub.since() == Since(7, "e1")


def test_publications_advance_once_in_order() -> None:
    sub = _sub("e1", 7)
    accepted = [sub.on_pub(Pub(sub.channel, offset, "e1", {})) for offset in (7, 8, 8, 6, 9)]
    assert [p.offset if p else None for p in accepted] == [None, 8, None, None, 9]


def test_an_empty_channel_learns_its_epoch_from_the_first_publication() -> None:
    sub = _sub("", 0)
    assert sub.since() == Since(0, "")
    assert sub.on_pub(Pub(sub.channel, 1, "e5", {"n": 1})) == Publication(sub.channel, 1, {"n": 1})
    assert sub.since() == Since(1, "e5")


@pytest.mark.parametrize(
    ("frame", "position", "failed"),
    [
        # Resubscribe answered recovered: the missed pubs follow, the position stays.
        (Subscribed(2, "c", 12, "e1", True, None), ("e1", 5), None),
        # Not recovered: a new position, and the consumer is told.
        (
            Subscribed(2, "c", 40, "e2", False, {"s": 2}),
            ("e2", 40),
            RecoveryFailed("c", 40, "e2", {"s": 2}),
        ),
        # Unsolicited resync (id null): the hub could not fill a gap.
        (
            Subscribed(None, "c", 30, "e1", False, None),
            ("e1", 30),
            RecoveryFailed("c", 30, "e1", None),
        ),
    ],
)
def test_later_subscribed(
    frame: Subscribed, position: tuple[str, int], failed: RecoveryFailed | None
) -> None:
    sub = _sub("e1", 0)
    sub.channel = "c"
    for offset in range(1, 6):
        sub.on_pub(Pub("c", offset, "e1", {}))
    assert sub.on_subscribed(frame) == failed
    assert (sub.epoch, sub.offset) == position
    assert sub.snapshot == {"state": 1}  # the first snapshot stays
    assert sub.on_pub(Pub("c", position[1], position[0], {})) is None  # seen
    assert sub.on_pub(Pub("c", position[1] + 1, position[0], {})) is not None


def test_backoff_grows_with_jitter_within_bounds() -> None:
    backoff = Backoff(min_s=0.05, max_s=5.0)
    for attempt in range(40):
        assert 0.05 <= backoff.delay(attempt) <= min(5.0, 0.05 * 2 ** (attempt + 1))
    assert len({backoff.delay(0) for _ in range(10)}) > 1  # jittered from the start
    assert max(backoff.delay(10) for _ in range(200)) > 2.5
