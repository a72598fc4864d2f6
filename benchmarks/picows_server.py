"""The second baseline: a raw picows (Cython) broadcast, `transport.send` per socket.

The floor for a Python server: picows parses and frames WebSocket messages in
Cython, so what is left per delivery is one call into it and the kernel's
send. Like `baseline_server` it speaks just enough of Bilten's wire format
for the same load generator: `subscribe` gets `subscribed`, rpc
`channels.publish` encodes one `pub` message, sends it to every subscriber in
a loop and answers `result`. No authentication, history, presence, rate
limiting or slow-consumer handling; no compression (picows has none).

    python -m benchmarks.picows_server --port 8766
"""

from __future__ import annotations

import orjson
from picows import (
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from benchmarks import servers_common


class Broadcast:
    """The subscribed sockets (insertion-ordered) and each channel's last offset."""

    def __init__(self) -> None:
        self.sockets: dict[WSTransport, None] = {}
        self.offsets: dict[str, int] = {}

    def publish(self, channel: str, data: object) -> int:
        """Send one `pub` message to every subscriber, one `send` at a time."""
        offset = self.offsets[channel] = self.offsets.get(channel, 0) + 1
        text = orjson.dumps({"op": "pub", "channel": channel, "offset": offset, "data": data})
        for transport in list(self.sockets):
            transport.send(WSMsgType.TEXT, text)
        return offset


class Client(WSListener):
    """One client: subscribe and publish, one JSON object per text frame."""

    def __init__(self, broadcast: Broadcast) -> None:
        self.broadcast = broadcast

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type == WSMsgType.TEXT:
            transport.send(WSMsgType.TEXT, self.answer(transport, frame.get_payload_as_bytes()))

    def answer(self, transport: WSTransport, raw: bytes) -> bytes:
        """The reply to one client message."""
        msg = orjson.loads(raw)
        op, req_id = msg.get("op"), msg.get("id")
        if op == "subscribe":
            self.broadcast.sockets[transport] = None
            return servers_common.subscribed(req_id, msg.get("channel"))
        if op == "rpc" and msg.get("method") == "channels.publish":
            params = msg.get("params") or {}
            offset = self.broadcast.publish(params["channel"], params.get("data"))
            return orjson.dumps({"op": "result", "id": req_id, "result": {"offset": offset}})
        return servers_common.unknown_op(req_id)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.broadcast.sockets.pop(transport, None)


def route(broadcast: Broadcast, request: WSUpgradeRequest) -> object:
    """`/ws` upgrades to a client; `/healthz` answers 200 (the benchmark's readiness check)."""
    if request.path == b"/healthz":
        return WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_ok_response(b'{"status":"ok"}'), None
        )
    if request.path == b"/ws":
        return Client(broadcast)
    return None


async def serve(host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    broadcast = Broadcast()
    server = await ws_create_server(
        lambda request: route(broadcast, request), host, port, backlog=4096
    )
    try:
        await servers_common.until_stopped()
    finally:
        server.close()
        await server.wait_closed()


def main() -> None:
    """Entry point: `python -m benchmarks.picows_server --port P`."""
    servers_common.main(serve, __doc__.splitlines()[0], port=8766)


if __name__ == "__main__":
    main()
