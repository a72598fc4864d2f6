"""Diagnostic publisher: straight into channel history, bypassing the hub's publish API.

With `--publish-via jetstream` the load generator stores publications with
its own `ChannelLog` (the hub's own code path for offsets and epochs), so they
reach the hub only through its NATS subscription. The hub then does nothing
but fan-out, which separates the cost of fan-out from the cost of accepting
publications (rpc, permission checks, the per-channel JetStream round trip).
"""

from __future__ import annotations

import asyncio

import nats
from nats.aio.client import Client as NATS

from benchmarks.loadclients import Waker
from bilten.infra.channel_log import ChannelLog
from bilten.protocol.errors import BiltenError
from bilten.protocol.subjects import Subjects


class JetStreamPublisher:
    """Same interface as `loadclients.Publisher`: publish, in_flight, acked, failed."""

    def __init__(self, nc: NATS, namespace: str, channel: str, pad: int, waker: Waker) -> None:
        self._nc = nc
        self._log = ChannelLog(nc.jetstream(), Subjects(namespace))
        self._tasks: set[asyncio.Task[None]] = set()
        self.channel = channel
        self.pad = b"x" * pad
        self.waker = waker
        self.next_seq = 1
        self.in_flight = 0
        self.acked: list[int] = []
        self.failed: list[str] = []

    @classmethod
    async def connect(
        cls, url: str, namespace: str, channel: str, pad: int, waker: Waker
    ) -> JetStreamPublisher:
        """Connect to NATS and return a publisher for `channel`."""
        return cls(await nats.connect(url, connect_timeout=5), namespace, channel, pad, waker)

    def publish(self, t_ns: int) -> None:
        """Store the next publication, stamped `t_ns` (ChannelLog keeps them in order)."""
        seq = self.next_seq
        self.next_seq += 1
        self.in_flight += 1
        data = b'{"t":%d,"seq":%d,"pad":"%b"}' % (t_ns, seq, self.pad)
        task = asyncio.get_running_loop().create_task(self._store(seq, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _store(self, seq: int, data: bytes) -> None:
        try:
            await self._log.publish(self.channel, data)
            self.acked.append(seq)
        except BiltenError as error:
            self.failed.append(f"{error.code}: {error}")
        finally:
            self.in_flight -= 1
            if self.waker.waiting:
                self.waker.wake()

    async def aclose(self) -> None:
        """Wait for stores in flight (briefly), then close the NATS connection."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await self._nc.close()
