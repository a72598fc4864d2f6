"""Every error path of the WebSocket protocol gets its code, and the hub goes on."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
import orjson
import pytest

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from tests.hub.helpers import Raw, connect, create_event
from tests.waiting import arrives, wait_for


async def _alive(raw: Raw) -> None:
    await raw.send(op="ping", id=77)
    assert await raw.until("pong") == {"op": "pong", "id": 77}


async def test_malformed_frames_get_errors_and_the_connection_goes_on(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    raw = await connect(client, make_token("organizer"))
    cases: list[tuple[bytes, str]] = [
        (b"{not json", "bad_frame"),
        (b"42", "bad_frame"),
        (orjson.dumps({"op": "dance", "id": 1}), "unknown_op"),
        (orjson.dumps({"op": "subscribe", "id": 2, "channel": "event.*.checkins"}), "bad_channel"),
        (orjson.dumps({"op": "subscribe", "id": 3, "channel": "lobby.1"}), "bad_channel"),
        (orjson.dumps({"op": "rpc", "id": 4, "method": "no.such"}), "unknown_method"),
        (orjson.dumps({"op": "unsubscribe", "id": 5, "channel": "event.1.polls"}), "not_found"),
        (orjson.dumps({"op": "unsubscribe", "id": 7, "channel": "bad..chan"}), "bad_channel"),
        (
            orjson.dumps(
                {"op": "rpc", "id": 6, "method": "events.get", "params": {"event_id": "x"}}
            ),
            "bad_request",
        ),
    ]
    for frame, code in cases:
        await raw.ws.send_bytes(frame)
        reply = await raw.until("error")
        assert reply["error"]["code"] == code, (frame, reply)
        assert reply["error"]["message"]
    await _alive(raw)


async def test_batched_frame_answers_each_message(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    raw = await connect(client, make_token("organizer"))
    await raw.ws.send_bytes(
        orjson.dumps([{"op": "ping", "id": 1}, {"op": "nope", "id": 2}, {"op": "ping", "id": 3}])
    )
    got = [await raw.recv() for _ in range(3)]
    assert sorted((m["op"], m["id"]) for m in got) == [("error", 2), ("pong", 1), ("pong", 3)]


async def test_oversize_frame_closes_with_1009(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    app = create_app(workers.replace(max_frame_bytes=2048))
    client = await aiohttp_client(await aiohttp_server(app))
    raw = await connect(client, make_token("organizer"))
    await raw.ws.send_bytes(orjson.dumps({"op": "ping", "id": 1, "pad": "x" * 4096}))
    msg = await arrives(raw.ws.receive(), what="the close for an oversize frame")
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert raw.ws.close_code == 1009
    other = await connect(client, make_token("organizer"))
    await _alive(other)


async def test_flood_is_rate_limited_then_recovers(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    app = create_app(workers.replace(rate_limit_per_s=5.0, rate_limit_burst=10))
    client = await aiohttp_client(await aiohttp_server(app))
    raw = await connect(client, make_token("organizer"))
    started = time.monotonic()
    await raw.ws.send_bytes(orjson.dumps([{"op": "ping", "id": n} for n in range(30)]))
    got = [await raw.recv() for _ in range(30)]
    elapsed = time.monotonic() - started
    limited = [m for m in got if m["op"] == "error"]
    pongs = len([m for m in got if m["op"] == "pong"])
    # The burst of 10, plus what refilled at 5/s meanwhile (a slow machine refills more).
    assert 10 <= pongs <= 10 + 5 * elapsed, (pongs, elapsed)
    assert limited and {m["error"]["code"] for m in limited} == {"rate_limited"}

    async def answered() -> bool:  # once the bucket refills, pings get pongs again
        await raw.send(op="ping", id=99)
        return (await raw.recv())["op"] == "pong"

    await wait_for(answered, what="a pong after the flood")


async def test_connect_without_valid_token_is_refused(hub_server: Any, aiohttp_client: Any) -> None:
    client = await aiohttp_client(hub_server)
    for url in ("/ws", "/ws?token=garbage"):
        resp = await client.get(
            url,
            headers={
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_foreign_origin_is_refused(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    try:
        await client.ws_connect(
            f"/ws?token={make_token('attendee')}", headers={"Origin": "https://evil.example"}
        )
    except aiohttp.WSServerHandshakeError as error:
        assert error.status == 403
    else:
        raise AssertionError("a foreign origin must be refused")
    same = await client.ws_connect(
        f"/ws?token={make_token('attendee')}",
        headers={"Origin": f"http://{client.host}:{client.port}"},
    )
    await same.close()


async def test_token_expiry_disconnects(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    # `exp` is in whole seconds: a 1 s token could expire before the handshake.
    raw = await connect(client, make_token("organizer", ttl_s=3))
    reply = await raw.until("disconnect")
    assert reply["code"] == "token_expired"
    msg = await arrives(raw.ws.receive(), what="the close after the disconnect")
    assert msg.type == aiohttp.WSMsgType.CLOSE and raw.ws.close_code == 4001


async def test_worker_validation_errors_reach_the_client(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    raw = await connect(client, make_token("organizer"))
    event_id = await create_event(raw)
    reply = await raw.call("events.update", {"event_id": event_id, "name": "x" * 500})
    assert reply["error"]["code"] == "bad_request"
    assert reply["error"]["details"] == {"field": "name"}
    await _alive(raw)


async def test_unexpected_exception_is_internal_and_logged_once(
    hub_server: Any,
    aiohttp_client: Any,
    make_token: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug in a handler: the client gets a bare `internal`, the log gets the story."""
    from bilten.hub import dispatch

    async def broken(hub: Any, claims: Any, params: Any) -> Any:
        raise KeyError("db_password")

    monkeypatch.setitem(dispatch.LOCAL, "tokens.create", broken)
    client = await aiohttp_client(hub_server)
    raw = await connect(client, make_token("organizer"))
    with caplog.at_level(logging.ERROR, logger="bilten.hub.session"):  # valid params: reaches it
        reply = await raw.call("tokens.create", {"role": "staff", "sub": "s", "events": "*"})
    assert reply["error"] == {"code": "internal", "message": "internal"}
    records = [r for r in caplog.records if r.name == "bilten.hub.session"]
    assert len(records) == 1 and "db_password" in (records[0].exc_text or "")
    assert records[0].ctx["sub"] == "organizer-1"  # type: ignore[attr-defined]
    await _alive(raw)


async def test_silent_client_gets_ping_timeout(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """A client that never answers the hub's pings gets `disconnect ping_timeout`, then 4010."""
    app = create_app(workers.replace(ping_interval_s=0.2, ping_timeout_s=0.2))
    client = await aiohttp_client(await aiohttp_server(app))
    ws = await client.ws_connect(f"/ws?token={make_token('organizer')}", autoping=False)

    async def first_not_ping() -> aiohttp.WSMessage:
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.PING:  # pings are deliberately never answered
                return msg

    msg = await arrives(first_not_ping(), what="the hub to disconnect a silent client")
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    assert orjson.loads(msg.data) == {
        "op": "disconnect",
        "code": "ping_timeout",
        "reason": "no answer to a ping within 0.2 s",
    }
    msg = await arrives(first_not_ping(), what="the close after the disconnect")
    assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 4010


async def test_client_answering_pings_stays_connected(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """Pongs alone keep a connection: it outlives many pings, and so many timeouts."""
    # The timeout is generous against a stalled machine; the pings counted span it many times.
    interval, timeout = 0.1, 2.0
    app = create_app(workers.replace(ping_interval_s=interval, ping_timeout_s=timeout))
    client = await aiohttp_client(await aiohttp_server(app))
    raw = await connect(client, make_token("organizer"), autoping=False)
    pings = 0
    while pings < 3 * timeout / interval:  # received at least `interval` apart, hub-side
        msg = await arrives(raw.ws.receive(), what="a ping from the hub")
        assert msg.type == aiohttp.WSMsgType.PING, msg
        await raw.ws.pong(msg.data)
        pings += 1
    await raw.ws.send_bytes(orjson.dumps({"op": "ping", "id": 5}))
    while (msg := await arrives(raw.ws.receive(), what="the pong")).type == aiohttp.WSMsgType.PING:
        await raw.ws.pong(msg.data)
    assert orjson.loads(msg.data) == {"op": "pong", "id": 5}
