"""Helpers for hub tests: a raw WebSocket client speaking the wire protocol."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from tests.waiting import WAIT_S, arrives

EVENT = {
    "name": "Sarajevo Jazz Night",
    "starts_at": "2027-06-01T19:00:00+02:00",
    "ends_at": "2027-06-01T23:30:00+02:00",
    "timezone": "Europe/Sarajevo",
    "locale": "bs-BA",
    "currency": "BAM",
}


class Raw:
    """A WebSocket to the hub that sends dicts and returns decoded messages, unbatched.

    `patience` is how long a receive may wait by default: WAIT_S, or a storm's whole
    deadline for a client in a storm (its replies queue behind everyone else's).
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, patience: float = WAIT_S) -> None:
        self.ws = ws
        self.patience = patience
        self.inbox: list[dict[str, Any]] = []
        self.next_id = 0

    async def send(self, **message: Any) -> int:
        if "id" not in message:
            self.next_id += 1
            message["id"] = self.next_id
        await self.ws.send_bytes(orjson.dumps(message))
        return int(message["id"])

    async def recv(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message; `timeout` (default: `patience`) only bounds a hang."""
        while not self.inbox:
            msg = await arrives(
                self.ws.receive(), what="a message from the hub", timeout=timeout or self.patience
            )
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                decoded = orjson.loads(msg.data)
                self.inbox.extend(decoded if isinstance(decoded, list) else [decoded])
            else:
                raise ConnectionError(f"socket closed: {msg.type} {msg.data} {msg.extra}")
        return self.inbox.pop(0)

    async def until(self, op: str, timeout: float | None = None) -> dict[str, Any]:
        """The next message with this `op`, skipping others."""

        async def first() -> dict[str, Any]:
            while True:
                message = await self.recv(timeout)
                if message["op"] == op:
                    return message

        return await arrives(first(), what=f"an {op!r} message", timeout=timeout or self.patience)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        req = await self.send(op="rpc", method=method, params=params or {})
        reply = await self.recv()
        assert reply.get("id") == req, reply
        return reply

    async def subscribe(self, channel: str, since: dict[str, Any] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"op": "subscribe", "channel": channel}
        if since is not None:
            message["since"] = since
        await self.send(**message)
        return await self.recv()


async def connect(client: Any, token: str, *, patience: float = WAIT_S, **kwargs: Any) -> Raw:
    """Open /ws on a pytest-aiohttp TestClient with the token in the query string."""
    ws = await client.ws_connect(f"/ws?token={token}", **kwargs)
    return Raw(ws, patience)


async def create_event(raw: Raw, **fields: Any) -> int:
    reply = await raw.call("events.create", {**EVENT, **fields})
    assert reply["op"] == "result", reply
    return int(reply["result"]["id"])


def frames_in(server: Any) -> float:
    """How many WebSocket frames the hub of a pytest-aiohttp server has read from clients."""
    from bilten.hub.runtime import HUB

    return server.app[HUB].metrics.registry.get_sample_value("bilten_ws_frames_in_total") or 0.0
