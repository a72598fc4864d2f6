"""The baseline: a minimal aiohttp broadcast server, `await ws.send_str(msg)` per socket.

What a competent developer writes in an afternoon: one WebSocket endpoint, a
collection of sockets, and for every publication a loop that awaits
`send_str` on each subscriber. It speaks just enough of Bilten's wire format
for the same load generator to drive it: `subscribe` gets `subscribed`, rpc
`channels.publish` fans out a `pub` message and answers `result`. There is no
authentication, history, presence or rate limiting, and permessage-deflate is
off, as on the hub.

    python -m benchmarks.baseline_server --port 8765
"""

from __future__ import annotations

import orjson
from aiohttp import WSMsgType, web

from benchmarks import servers_common

# An insertion-ordered set of subscribed sockets, and each channel's last offset.
SOCKETS = web.AppKey("sockets", dict[web.WebSocketResponse, None])
OFFSETS = web.AppKey("offsets", dict[str, int])


async def broadcast(app: web.Application, channel: str, data: object) -> int:
    """Send one `pub` message to every subscriber, one `send_str` at a time."""
    offsets = app[OFFSETS]
    offset = offsets[channel] = offsets.get(channel, 0) + 1
    text = orjson.dumps({"op": "pub", "channel": channel, "offset": offset, "data": data}).decode()
    sockets = app[SOCKETS]
    for ws in list(sockets):
        try:
            await ws.send_str(text)
        except ConnectionError:
            sockets.pop(ws, None)
    return offset


async def handle(app: web.Application, ws: web.WebSocketResponse, raw: str) -> None:
    """One client message: subscribe, or rpc channels.publish."""
    msg = orjson.loads(raw)
    op, req_id = msg.get("op"), msg.get("id")
    if op == "subscribe":
        app[SOCKETS][ws] = None
        await ws.send_str(servers_common.subscribed(req_id, msg.get("channel")).decode())
    elif op == "rpc" and msg.get("method") == "channels.publish":
        params = msg.get("params") or {}
        offset = await broadcast(app, params["channel"], params.get("data"))
        await ws.send_str(
            orjson.dumps({"op": "result", "id": req_id, "result": {"offset": offset}}).decode()
        )
    else:
        await ws.send_str(servers_common.unknown_op(req_id).decode())


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """GET /ws: one client, until it closes."""
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await handle(request.app, ws, msg.data)
    finally:
        request.app[SOCKETS].pop(ws, None)
    return ws


async def healthz(request: web.Request) -> web.Response:
    """200 while running."""
    return web.json_response({"status": "ok"})


def create_app() -> web.Application:
    """The broadcast application."""
    app = web.Application()
    app[SOCKETS] = {}
    app[OFFSETS] = {}
    app.router.add_get("/ws", websocket)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT."""
    runner = web.AppRunner(
        create_app(), access_log=None, handle_signals=False, shutdown_timeout=2.0
    )
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=4096).start()
    try:
        await servers_common.until_stopped()
    finally:
        await runner.cleanup()


def main() -> None:
    """Entry point: `python -m benchmarks.baseline_server --port P`."""
    servers_common.main(serve, __doc__.splitlines()[0], port=8765)


if __name__ == "__main__":
    main()
