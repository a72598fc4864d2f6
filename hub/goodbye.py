"""Saying `reconnect`: only once a connection has answered every request it read.

docs/protocol.md §Disconnect codes. A client told `reconnect` may send again,
on its next connection, any request still unanswered, because the hub never
read it: from the moment a connection is leaving, the hub runs nothing more
it reads there, and it says `reconnect` once the requests already running are
answered and written. A request whose worker is stuck past `patience_s` (the
request timeout, after which the hub has answered it `timeout` itself) does
not hold the goodbye up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from bilten.hub.connection import Connection

GOODBYE_POLL_S = 0.02  # how often a goodbye looks whether each connection is idle


async def say_reconnect(conns: Iterable[Connection], reason: str, patience_s: float) -> None:
    """Tell each connection `reconnect` as soon as it is idle, or after `patience_s` anyway."""
    loop = asyncio.get_running_loop()
    answered_by = loop.time() + patience_s
    waiting = list(conns)
    for conn in waiting:
        conn.leaving = True
    while waiting:
        late = loop.time() >= answered_by
        for conn in waiting:
            if late or conn.idle:
                conn.disconnect("reconnect", reason)
        waiting = [conn for conn in waiting if not conn.closed]
        if waiting:
            await asyncio.sleep(GOODBYE_POLL_S)
