"""Fuzzing WebSocket frames and rpc params against a live hub with real NATS, PG, Redis.

Hypothesis (derandomized, bounded) writes frames: garbage bytes, JSON too deep
to be written back, batches, and well-formed ops with hostile fields, above
all rpc calls of every command with params mixing declared names, unknown
names and edge values (unicode digits, far-off times, wrong types). Every
message must be answered with no `internal` error, and the connection must
stay usable (a ping gets its pong) or be closed with a documented code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import aiohttp
import hypothesis
import orjson
import pytest
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.protocol.commands import COMMANDS
from bilten.protocol.disconnects import CLOSE_CODES
from bilten.protocol.errors import BiltenError
from bilten.protocol.frames import decode_client_frames
from tests.hub.helpers import EVENT

T = TypeVar("T")
EXAMPLES = 150
# Close codes a client may see (docs/protocol.md §Disconnect codes).
DOCUMENTED_CLOSES = {*CLOSE_CODES.values(), 1000, 1001, 1009}
PARAM_NAMES = sorted({name for c in COMMANDS.values() for name in c.params})

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
edge_values = st.sampled_from(
    [
        0,
        1,
        -1,
        2**53,
        2**63 - 1,
        2**63,
        "1",
        "²",
        "٤٢",
        "42 ",
        "+7",
        "",
        "*",
        "x" * 600,
        "0001-01-01T00:30:00+14:00",
        "9999-12-31T23:00:00-14:00",
        "2027-06-01T19:00:00",
        "2027-06-01T19:00:00+02:00",
        ["north"],
        [1, 1],
        [0],
        {"gate": 1},
        [{}],
        True,
        1.5,
    ]
)
params = st.dictionaries(
    st.sampled_from(PARAM_NAMES) | st.text(max_size=12), edge_values | json_values, max_size=6
)
ids = st.integers(0, 2**53 - 1) | st.sampled_from([-1, 2**53, "7", None, 1.0])


def rpc_messages(event_id: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "op": st.just("rpc"),
            "id": ids,
            "method": st.sampled_from(sorted(COMMANDS)) | st.text(max_size=16),
            "params": params.map(lambda p: {"event_id": event_id, **p}) | params | json_values,
        }
    )


def other_messages(event_id: int) -> st.SearchStrategy[dict[str, Any]]:
    channels = st.sampled_from(
        [
            f"event.{event_id}.announcements",
            "user.organizer-1",
            "event.999999.announcements",
            "event.1",
            "",
        ]
    ) | st.text(max_size=20)
    return st.fixed_dictionaries(
        {
            "op": st.sampled_from(["subscribe", "unsubscribe", "ping", "nope"])
            | st.text(max_size=8),
            "id": ids,
        },
        optional={
            "channel": channels,
            "since": json_values
            | st.fixed_dictionaries(
                {"offset": st.integers(-1, 2**64 - 1), "epoch": st.text(max_size=70)}
            ),
        },
    )


def frames(event_id: int) -> st.SearchStrategy[bytes]:
    message = rpc_messages(event_id) | other_messages(event_id)
    structured = (message | st.lists(message, min_size=1, max_size=4) | json_values).map(
        orjson.dumps
    )
    # Deep JSON where the schema takes any value: what orjson could not write back.
    deep = st.integers(60, 1100).map(
        lambda d: (
            b'{"op":"rpc","id":1,"method":"channels.publish","params":{"channel":"event.%d.'
            b'announcements","data":%b}}' % (event_id, b"[" * d + b"]" * d)
        )
    )
    return structured | deep | st.binary(max_size=40)


def expected_replies(frame: bytes) -> int:
    """Each message of a frame gets one reply; a frame unusable as a whole gets one."""
    try:
        return len(decode_client_frames(frame))
    except BiltenError:
        return 1


class Probe:
    """One WebSocket to the hub, reopened when the hub closes it (with a checked code)."""

    def __init__(self, client: Any, token: str) -> None:
        self.client = client
        self.token = token
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.ping_id = 10**15

    async def open(self) -> aiohttp.ClientWebSocketResponse:
        if self.ws is None or self.ws.closed:
            self.ws = await self.client.ws_connect(f"/ws?token={self.token}")
        return self.ws

    async def exchange(self, frame: bytes) -> None:
        ws = await self.open()
        await ws.send_bytes(frame)
        self.ping_id += 1
        await ws.send_bytes(orjson.dumps({"op": "ping", "id": self.ping_id}))
        wanted, got, ponged = expected_replies(frame), 0, False
        async with asyncio.timeout(30):
            while got < wanted or not ponged:
                msg = await ws.receive()
                if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    assert ws.close_code in DOCUMENTED_CLOSES, (ws.close_code, frame)
                    return
                decoded = orjson.loads(msg.data)
                for reply in decoded if isinstance(decoded, list) else [decoded]:
                    if reply.get("op") == "error":
                        assert reply["error"]["code"] != "internal", (reply, frame)
                    if reply.get("op") == "pong" and reply.get("id") == self.ping_id:
                        ponged = True
                    elif reply.get("op") != "pub":
                        got += 1


@pytest.mark.timeout(600)
async def test_frames_and_params_never_fail_internally(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    # Generous rate limits: the fuzzer sends far faster than a client should.
    app = create_app(workers.replace(rate_limit_per_s=1e6, rate_limit_burst=1_000_000))
    client = await aiohttp_client(await aiohttp_server(app))
    token = make_token("organizer")
    resp = await client.post(
        "/api/v1/events", json=EVENT, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status == 201, await resp.text()
    event_id = (await resp.json())["id"]
    probe = Probe(client, token)
    loop = asyncio.get_running_loop()

    def on_loop(work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, loop).result()

    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(frame=frames(event_id))
    def fuzz(frame: bytes) -> None:
        on_loop(probe.exchange(frame))

    await asyncio.to_thread(fuzz)
    ws = await probe.open()
    await ws.close()
