"""One process at a time: an exclusive `flock` on a file, waited for without blocking.

A resource that only one process may open (the embedded analytics store's
directory) is guarded by a lock file beside it. A second process stands by,
asking again every `POLL_S`, and takes over when the first exits: the kernel
drops a lock when its holder's descriptor closes, SIGKILL included.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

log = logging.getLogger(__name__)

POLL_S = 0.5


def try_lock(fd: int) -> bool:
    """Take the exclusive lock on open file `fd` if no other process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@asynccontextmanager
async def held_alone(path: Path, stop: asyncio.Event, *, what: str) -> AsyncIterator[bool]:
    """Hold the lock on `path` for the block: True once held, False if `stop` came first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        held = try_lock(fd)
        if not held:
            log.info("%s standing by: another process holds %s", what, path)
        while not held and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_S)
            held = try_lock(fd)
        if held:
            log.info("%s holds %s", what, path)
        yield held
    finally:
        os.close(fd)
