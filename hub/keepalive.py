"""The hub's keep-alive: one sweep pings every connection, one checks the answers.

docs/protocol.md §Connecting (Keepalive): every `ping_interval_s` the hub
sends a WebSocket ping to every connection; a connection from which nothing
(a pong, a frame) has arrived within `ping_timeout_s` after a ping gets
`disconnect ping_timeout` (4010) through `Connection.disconnect`, like every
other disconnect. One task sweeps all connections per ping and per check, so
thousands of connections cost no timer each. aiohttp's own heartbeat is not
used: it closes with 1006 and no frame.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

from bilten.hub.connection import Connection


async def keep_alive(
    connections: Iterable[Connection], interval_s: float, timeout_s: float, stop: asyncio.Event
) -> None:
    """Ping every `interval_s`, cut who stayed silent for `timeout_s` after a ping, until `stop`."""
    loop = asyncio.get_running_loop()
    pings: deque[float] = deque()  # when each ping whose answers are not yet checked went out
    next_ping = loop.time() + interval_s
    while not stop.is_set():
        due = min(next_ping, pings[0] + timeout_s) if pings else next_ping
        try:
            async with asyncio.timeout_at(due):
                await stop.wait()
        except TimeoutError:
            pass
        now = loop.time()
        while pings and pings[0] + timeout_s <= now:
            sent = pings.popleft()
            for conn in list(connections):
                if conn.heard < sent:
                    conn.disconnect("ping_timeout", f"no answer to a ping within {timeout_s:g} s")
        if next_ping <= now:
            for conn in list(connections):
                conn.ping()
            pings.append(now)
            next_ping = now + interval_s
