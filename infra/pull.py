"""Whole batches from a durable pull consumer, without a task per message.

nats-py's `PullSubscription.fetch(n)` awaits `next_msg` once per message, and
each of those makes a uuid4 and an asyncio task: on the event-log path that
was most of the worker's CPU (benchmarks/README.md §eventlog). Here the pull
request is the JetStream API's own (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>`,
reply to an inbox of ours), the messages arrive through one subscription
callback into a buffer, and a fetch takes them from it. Every request ends
with the server's status message (404 nothing there, 408 expired or fewer than
asked) unless it was filled; a request whose status never came (NATS away)
ends at the client's deadline, and what it still delivers later waits in the
buffer for the next fetch: delivered messages are never dropped, and those
never handled are redelivered after the consumer's ack wait.

A fetch asks for a whole batch with a short expiry (`FILL_S`), not `no_wait`:
after a storm the server answered `no_wait` requests with a handful of
messages each while 50,000 waited, and the event log wrote ~7 rows a
transaction at 8k events/s; with the expiry it fills the batch (500 rows,
42k/s; benchmarks/README.md). The price is at most `FILL_S` more before a
batch short of full is handed over.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError

_HEARTBEAT = "100"
_ENDED = ("404", "408")  # nothing there; expired, or fewer there than asked
# Beyond a long poll's own expiry, how long the client waits for the server's answer.
_GRACE_S = 1.0
FILL_S = 0.01  # how long a fetch lets the server fill its batch


class PullRefused(NatsError):
    """The server refused a pull request (no such consumer, no responders, …): the
    caller backs off instead of asking again at once."""

    def __init__(self, status: str, description: str) -> None:
        super().__init__(f"pull request refused: {status} {description}")
        self.status = status
        self.description = description


class BatchPuller:
    """Fetches of up to `batch` messages from `durable` on `stream`; `close` when done."""

    def __init__(self, nc: NATS, stream: str, durable: str) -> None:
        self._nc = nc
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._buffer: deque[Msg] = deque()
        self._ended = 0  # requests the server closed with a status
        self._changed = asyncio.Event()
        self._refused: PullRefused | None = None
        self._sub: Subscription | None = None
        self._longest_s = FILL_S  # the longest expiry asked of the server

    async def open(self) -> None:
        """Subscribe to the inbox the consumer delivers to."""
        self._sub = await self._nc.subscribe(self._inbox, cb=self._arrived)

    async def close(self) -> None:
        """Unsubscribe, and hand what was delivered but never fetched back to the stream.

        Safe to call twice. With NATS away both are skipped: the subscription is
        gone with the connection, and the server redelivers after the ack wait.
        """
        sub, self._sub = self._sub, None
        with contextlib.suppress(NatsError):
            if sub is not None:
                await sub.unsubscribe()
            while self._buffer:  # after any request of ours still open has expired, or the
                # server may hand it straight back to one, read by nobody until the ack wait
                await self._buffer.popleft().nak(delay=self._longest_s + _GRACE_S)

    async def _arrived(self, msg: Msg) -> None:
        headers = msg.headers or {}
        status = headers.get("Status")
        if status is None:
            self._buffer.append(msg)
        elif status != _HEARTBEAT:
            self._ended += 1
            if status not in _ENDED:
                self._refused = PullRefused(status, headers.get("Description", ""))
        self._changed.set()

    async def fetch(self, batch: int, wait_s: float) -> list[Msg]:
        """Up to `batch` messages: those there within `FILL_S`, else the first to come
        within `wait_s`.

        Raises `PullRefused` when the server refused the request and nothing came.
        """
        if not self._buffer:
            fill: dict[str, object] = {"batch": batch, "expires": int(FILL_S * 1e9)}
            # The server holds a request it could not fill until it expires, and may send
            # no status for one it part-filled: stop waiting soon after; what comes later
            # waits in the buffer for the next fetch.
            await self._request(fill, batch, 2 * FILL_S)
        if not self._buffer:  # nothing there: wait for one, then answer at once
            self._longest_s = max(self._longest_s, wait_s)
            expires_ns = int(wait_s * 1e9)
            await self._request({"batch": 1, "expires": expires_ns}, 1, wait_s + _GRACE_S)
        refused, self._refused = self._refused, None
        if refused is not None and not self._buffer:
            raise refused
        count = min(batch, len(self._buffer))
        return [self._buffer.popleft() for _ in range(count)]

    async def _request(self, ask: dict[str, object], batch: int, deadline_s: float) -> None:
        """Ask for `batch` messages; until they are all here, the server ends it, or time's up."""
        ended, wanted = self._ended, len(self._buffer) + batch
        self._changed.clear()
        if self._refused is not None:
            return
        await self._nc.publish(self._next, orjson.dumps(ask), reply=self._inbox)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(deadline_s):
                while self._ended == ended and len(self._buffer) < wanted:
                    await self._changed.wait()
                    self._changed.clear()
