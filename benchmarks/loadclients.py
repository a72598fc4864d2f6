"""The load generator's two kinds of socket: subscribers that count, a publisher that pipelines.

Counting is the hot path: a subscriber adds `payload.count(b'"op":"pub"')` per
text frame, which is exact for the hub's batches (a JSON array of messages)
and for one-message frames alike, without decoding JSON. Only *sampled*
subscribers decode their frames with orjson, to record each publication's
`seq` (exact loss, duplicate and order checks) and its latency (`now - t`,
both from `time.time_ns()` in this one process, so the clocks agree).
"""

from __future__ import annotations

import asyncio
from array import array
from typing import Any, Protocol

import orjson

from benchmarks.wsclient import WsClient

PUB_MARK = b'"op":"pub"'
PUBLISH_METHOD = b"channels.publish"


class Waker:
    """Wakes the publisher when a result or a sampled delivery arrives, only if it waits."""

    def __init__(self) -> None:
        self.waiting = False
        self._event = asyncio.Event()

    def wake(self) -> None:
        """Called from protocol callbacks."""
        self._event.set()

    async def wait(self, timeout: float) -> None:
        """Sleep until woken or `timeout` passes."""
        self.waiting = True
        self._event.clear()
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self.waiting = False


def _messages(payload: bytes | bytearray) -> list[dict[str, Any]]:
    value = orjson.loads(payload)
    return value if isinstance(value, list) else [value]


class Subscriber(WsClient):
    """Counts publications; when sampled, also records their seqs and latencies."""

    def __init__(
        self, host: str, port: int, path: str, *, sampled: bool = False, waker: Waker | None = None
    ) -> None:
        super().__init__(host, port, path)
        self.sampled = sampled
        self.waker = waker
        self.count = 0
        self.last_ns = 0
        self.seqs: list[int] = []
        self.lats: array[int] = array("q")
        self.problems: list[str] = []
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def subscribe(self, channel: str) -> None:
        """Send the `subscribe` frame; `subscribed` resolves on the answer."""
        self.send(orjson.dumps({"op": "subscribe", "id": 1, "channel": channel}))

    def reset_samples(self) -> None:
        """Start a new phase's seq and latency records."""
        self.seqs = []
        self.lats = array("q")

    def on_text(self, data: bytes | bytearray, start: int, end: int, now_ns: int) -> None:
        n = data.count(PUB_MARK, start, end)
        if not n:
            self._control(data[start:end])
            return
        self.count += n
        self.last_ns = now_ns
        if self.sampled:
            seqs, lats = self.seqs, self.lats
            for msg in _messages(data[start:end]):
                if msg.get("op") == "pub":
                    body = msg["data"]
                    seqs.append(body["seq"])
                    lats.append(now_ns - body["t"])
            if self.waker is not None and self.waker.waiting:
                self.waker.wake()

    def _control(self, payload: bytes | bytearray) -> None:
        for msg in _messages(payload):
            op = msg.get("op")
            if op == "subscribed" and not self.subscribed.done():
                self.subscribed.set_result(None)
            elif op in ("error", "disconnect"):
                problem = f"{op}: {msg.get('error') or msg.get('code')}"
                self.problems.append(problem)
                if not self.subscribed.done():
                    self.subscribed.set_exception(ConnectionError(problem))

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.subscribed.done():
            self.subscribed.set_exception(exc or ConnectionError("closed before subscribed"))


class PublishSink(Protocol):
    """What the load generator needs of a publisher (see `Publisher`)."""

    next_seq: int
    in_flight: int
    acked: list[int]
    failed: list[str]

    def publish(self, t_ns: int) -> None:
        """Send the next publication, stamped `t_ns`."""

    async def aclose(self) -> None:
        """Stop and release the connection."""


class Publisher(WsClient):
    """Publishes `{"t", "seq", "pad"}` through rpc `channels.publish`, several in flight.

    The rpc id is the publication's seq; `acked` collects the seqs the server
    confirmed and `failed` the errors of the others.
    """

    def __init__(
        self, host: str, port: int, path: str, *, channel: str, pad: int, waker: Waker
    ) -> None:
        super().__init__(host, port, path)
        self.channel = channel.encode()
        self.pad = b"x" * pad
        self.waker = waker
        self.next_seq = 1
        self.in_flight = 0
        self.acked: list[int] = []
        self.failed: list[str] = []

    def publish(self, t_ns: int) -> None:
        """Send the next publication, stamped `t_ns`."""
        seq = self.next_seq
        self.next_seq += 1
        self.in_flight += 1
        self.send(
            b'{"op":"rpc","id":%d,"method":"%b","params":{"channel":"%b","data":'
            b'{"t":%d,"seq":%d,"pad":"%b"}}}'
            % (seq, PUBLISH_METHOD, self.channel, t_ns, seq, self.pad)
        )

    async def aclose(self) -> None:
        """Close the socket and wait (briefly) until it is gone."""
        self.close()
        await asyncio.wait([asyncio.ensure_future(self.closed)], timeout=5)

    def on_text(self, data: bytes | bytearray, start: int, end: int, now_ns: int) -> None:
        for msg in _messages(data[start:end]):
            op = msg.get("op")
            if op == "result":
                self.in_flight -= 1
                self.acked.append(msg["id"])
            elif op == "error":
                self.in_flight -= 1
                self.failed.append(str(msg.get("error")))
            elif op == "disconnect":
                self.failed.append(f"publisher disconnected: {msg.get('code')}")
        if self.waker.waiting:
            self.waker.wake()


def pad_for(channel: str, size: int) -> int:
    """Padding that makes a delivered `pub` message about `size` bytes long."""
    sample = b'{"op":"pub","channel":"%b","offset":%d,"data":{"t":%d,"seq":%d,"pad":""}}' % (
        channel.encode(),
        1000,
        1_700_000_000_000_000_000,
        1000,
    )
    return max(0, size - len(sample))
