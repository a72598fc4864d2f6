"""What the two baseline servers share: the entry point, the wait for a stop signal,
and their replies outside the broadcast path.

`baseline_server` (aiohttp) and `picows_server` (picows) differ only in how
they serve sockets and broadcast; how they start, stop and answer a
`subscribe` or an unknown op is one thing, kept here. The `pub` message and
the `result` of a publish stay in each server, written out on the path the
benchmark measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import orjson


def subscribed(req_id: Any, channel: Any) -> bytes:
    """The `subscribed` reply: no history, no recovery, offset 0."""
    return orjson.dumps(
        {
            "op": "subscribed",
            "id": req_id,
            "channel": channel,
            "offset": 0,
            "epoch": "",
            "recovered": False,
            "snapshot": None,
        }
    )


def unknown_op(req_id: Any) -> bytes:
    """The `error` reply to anything but `subscribe` and rpc `channels.publish`."""
    return orjson.dumps(
        {
            "op": "error",
            "id": req_id,
            "error": {"code": "unknown_op", "message": "the baseline knows subscribe and publish"},
        }
    )


async def until_stopped() -> None:
    """Return on SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def main(
    serve: Callable[[str, int], Coroutine[Any, Any, None]], description: str, port: int
) -> None:
    """Entry point of a server module: parse `--host` and `--port`, then `serve` on uvloop."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is absent on Windows only
            asyncio.run(serve(args.host, args.port))
        else:
            uvloop.run(serve(args.host, args.port))
