"""Channel fan-out: one NATS subscription per channel with local subscribers.

A publication arrives once from NATS (republished by the history stream with
its offset and epoch), is encoded once into `pub` message bytes, and reaches
every subscribed connection through the channel's `Delivery` (hub/delivery.py:
one frame per round, written as it is to every socket with nothing queued
ahead). Each connection keeps its position per channel and accepts exactly
the next offset: duplicates are dropped, and a gap (or a
subscribe with `since`) is filled from JetStream history before live messages
flow again, so a client sees every publication once, in order
(docs/protocol.md §Recovery). The rules themselves are protocol/recovery.py's,
shared with the SDK; this module does the I/O around them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from bilten.hub.connection import Connection, Flusher, SubState
from bilten.hub.delivery import Delivery
from bilten.hub.goodbye import say_reconnect
from bilten.infra.channel_history import Position, Stored
from bilten.infra.channel_log import ChannelLog
from bilten.infra.faults import faults_as_errors
from bilten.infra.flush import flush
from bilten.infra.metrics import Metrics
from bilten.infra.rpc import request
from bilten.protocol.batch import publications
from bilten.protocol.channels import Channel, parse_channel
from bilten.protocol.errors import BiltenError, Conflict, Unavailable
from bilten.protocol.frames import Since, encode_pub, encode_subscribed
from bilten.protocol.recovery import Position as Cursor
from bilten.protocol.recovery import classify, in_sequence, snapshot_offset
from bilten.protocol.subjects import HDR_COUNT, HDR_EPOCH, HDR_OFFSET, HDR_SEQUENCE, Subjects

log = logging.getLogger(__name__)

MAX_RECOVERY_BUFFER = 10_000


@dataclass(eq=False, slots=True)
class Feed:
    """One channel's NATS subscription and the local connections on it."""

    channel: str
    delivery: Delivery
    members: dict[Connection, SubState]
    sub: Subscription | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    # The channel as last seen by this hub (live messages keep it current), so a
    # subscribe needs no JetStream read once the feed knows where it stands.
    position: Position | None = None


class Fanout:
    """Reference-counted channel subscriptions and per-connection delivery."""

    def __init__(
        self,
        nc: NATS,
        log_: ChannelLog,
        subjects: Subjects,
        metrics: Metrics,
        flusher: Flusher,
        timeout: float,
    ) -> None:
        self._nc = nc
        self._flusher = flusher
        self._log = log_
        self._subjects = subjects
        self._metrics = metrics
        self._timeout = timeout
        self._feeds: dict[str, Feed] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def channels(self) -> int:
        """How many channels this hub subscribes to on NATS."""
        return len(self._feeds)

    async def subscribe(
        self, conn: Connection, channel: Channel, req_id: int, since: Since | None
    ) -> None:
        """Join `conn` to the channel: reply `subscribed`, missed publications, then live."""
        name = channel.name
        if name in conn.subs:
            raise Conflict(f"already subscribed to {name}")
        state = SubState()
        conn.subs[name] = state
        feed = self._feeds.get(name)
        try:
            if feed is None:
                feed = self._feeds[name] = self._new_feed(name)
                feed.members[conn] = state
                try:
                    with faults_as_errors():  # NATS away: `unavailable`, not `internal`
                        feed.sub = await self._nc.subscribe(
                            self._subjects.deliver(name), cb=self._on_message_for(feed)
                        )
                        # Once flushed, the server routes the channel's messages to us.
                        await flush(self._nc, self._timeout)
                finally:
                    feed.ready.set()  # waiters check feed.sub
                self._metrics.channel_subscriptions.set(len(self._feeds))
            else:
                feed.members[conn] = state
                await feed.ready.wait()
                if feed.sub is None:
                    raise Unavailable(f"could not subscribe to {name}")
            await self._start(conn, feed, channel, state, req_id, since)
        except BaseException:
            await self.unsubscribe(conn, name)
            raise

    def subscribe_at_once(
        self, conn: Connection, channel: Channel, req_id: int, since: Since | None
    ) -> bool:
        """`subscribe`, when it needs no waiting: False (and nothing done) otherwise.

        That is a live channel whose position this hub knows, no `since` to
        recover from and no snapshot to fetch: `_start`'s case without reads,
        answered with the channel's position now.
        """
        name = channel.name
        feed = self._feeds.get(name)
        if (
            since is not None
            or channel.stateful
            or name in conn.subs
            or feed is None
            or not feed.ready.is_set()
            or feed.sub is None
            or feed.position is None
        ):
            return False
        top = feed.position
        state = SubState(top.epoch, top.offset)
        state.buffer = None
        conn.subs[name] = state
        feed.members[conn] = state
        conn.send(encode_subscribed(req_id, name, top.offset, top.epoch, False, None))
        return True

    def _new_feed(self, name: str) -> Feed:
        members: dict[Connection, SubState] = {}

        def careful(conn: Connection, state: SubState, offset: int, epoch: str, msg: bytes) -> None:
            self._deliver(conn, name, state, offset, epoch, msg)

        return Feed(name, Delivery(members, self._flusher, careful), members)

    async def _start(
        self,
        conn: Connection,
        feed: Feed,
        channel: Channel,
        state: SubState,
        req_id: int,
        since: Since | None,
    ) -> None:
        name = channel.name
        position = feed.position
        if position is None:
            position = await self._log.position(name)
            if feed.position is None:  # a live message may have come in meanwhile
                feed.position = position or Position("", 0, 0)
        if position is not None and position.offset == 0 and not position.epoch:
            position = None
        top = position or Position("", 0, 0)
        missed: list[Stored] | None = None
        if since is not None and position is not None:
            missed = await self._log.read_after(name, since.epoch, since.offset, position)
        elif since is not None:
            missed = [] if since.offset == 0 else None  # empty channel: only "nothing yet" holds
        recovered = missed is not None
        snapshot: Any = None
        start_epoch, start_offset = top.epoch, top.offset
        if recovered and since is not None:
            start_offset = since.offset
        elif channel.stateful:
            snapshot, snap_epoch, snap_offset = await self._snapshot(name)
            missed = []
            start_offset = snapshot_offset(Cursor(top.epoch, top.offset), snap_epoch, snap_offset)
            if start_offset < top.offset:
                # Older than what this hub saw: fill in between; newer: live ones catch up.
                missed = await self._log.read_after(name, top.epoch, start_offset, top)
        else:
            missed = []
        # Recovered: the client's position advances through the missed pubs up to `top`.
        # Otherwise its position is where the snapshot (or the channel) stands now.
        announced = top.offset if recovered else start_offset
        conn.send(encode_subscribed(req_id, name, announced, top.epoch, recovered, snapshot))
        state.epoch, state.offset = start_epoch, start_offset
        self._send_missed(conn, name, state, missed or [])
        self._drain_buffer(conn, name, state)

    @staticmethod
    def _send_missed(conn: Connection, name: str, state: SubState, missed: list[Stored]) -> None:
        """Send the stored publications that continue the connection's position."""
        for stored in in_sequence(state.offset, missed, lambda item: item.offset):
            conn.send(encode_pub(name, stored.offset, stored.epoch, stored.data))
            state.offset = stored.offset

    def _drain_buffer(self, conn: Connection, name: str, state: SubState) -> None:
        buffered, state.buffer = state.buffer or [], None
        for offset, epoch, message in sorted(buffered, key=lambda item: item[0]):
            self._deliver(conn, name, state, offset, epoch, message)

    async def _snapshot(self, name: str) -> tuple[Any, str | None, int | None]:
        """Ask the worker owning the channel's state for it (docs/protocol.md §Snapshots)."""
        reply = await request(
            self._nc,
            self._subjects.snapshot(name),
            orjson.dumps({"channel": name}),
            timeout=self._timeout,
            what=f"the snapshot of {name}",
        )
        if not isinstance(reply, dict):
            raise Unavailable(f"malformed snapshot of {name}")
        offset = reply.get("offset")
        return (
            reply.get("snapshot"),
            reply.get("epoch"),
            offset if isinstance(offset, int) else None,
        )

    async def unsubscribe(self, conn: Connection, name: str) -> bool:
        """Remove `conn` from the channel; drop the NATS subscription with the last one."""
        conn.subs.pop(name, None)
        feed = self._feeds.get(name)
        if feed is None or feed.members.pop(conn, None) is None:
            return False
        if not feed.members:
            del self._feeds[name]
            self._metrics.channel_subscriptions.set(len(self._feeds))
            if feed.sub is not None:
                try:
                    await feed.sub.unsubscribe()
                except Exception as error:  # connection closing: the server drops it anyway
                    log.debug("unsubscribe %s failed: %s", name, error)
        return True

    async def drop(self, conn: Connection) -> None:
        """Remove a closed connection from every channel it was on."""
        for name in list(conn.subs):
            await self.unsubscribe(conn, name)

    def _on_message_for(self, feed: Feed) -> Any:
        name = feed.channel
        metrics = self._metrics.publications

        async def on_message(msg: Msg) -> None:
            headers = msg.headers or {}
            try:
                first = int(headers[HDR_OFFSET])
                epoch = headers[HDR_EPOCH]
                items = publications(msg.data, headers.get(HDR_COUNT))
                messages = [
                    encode_pub(name, first + n, epoch, item) for n, item in enumerate(items)
                ]
            except (KeyError, ValueError, BiltenError) as error:
                log.warning("publication on %s dropped: %r", name, error)
                return
            if not messages:
                return
            metrics.inc(len(messages))
            last = first + len(messages) - 1
            feed.position = Position(epoch, last, int(headers.get(HDR_SEQUENCE, "0")))
            feed.delivery.add(first, epoch, messages)

        return on_message

    def _deliver(
        self, conn: Connection, name: str, state: SubState, offset: int, epoch: str, message: bytes
    ) -> None:
        """The careful path: buffering during recovery, duplicates, gaps, new epochs."""
        if state.buffer is not None:
            if len(state.buffer) >= MAX_RECOVERY_BUFFER:
                conn.disconnect("slow_consumer", "recovery fell too far behind")
                return
            state.buffer.append((offset, epoch, message))
            return
        step = classify(Cursor(state.epoch, state.offset), epoch, offset)
        if step == "duplicate":
            return
        if step == "next":  # also the channel's first publication, if it was empty
            state.epoch, state.offset = epoch, offset
            conn.send(message)
            return
        state.buffer = [(offset, epoch, message)]  # a gap, or another epoch: repair
        task = asyncio.get_running_loop().create_task(self._repair(conn, name, state))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _repair(self, conn: Connection, name: str, state: SubState) -> None:
        """Fill a gap from history; if history cannot, resynchronize the client."""
        try:
            position = await self._log.position(name)
            missed = None
            if position is not None:
                missed = await self._log.read_after(name, state.epoch, state.offset, position)
            if missed is None:
                top = position or Position("", 0, 0)
                snapshot: Any = None
                start = Cursor(top.epoch, top.offset)
                if parse_channel(name).stateful:
                    snapshot, snap_epoch, snap_offset = await self._snapshot(name)
                    start = Cursor(top.epoch, snapshot_offset(start, snap_epoch, snap_offset))
                conn.send(encode_subscribed(None, name, start.offset, start.epoch, False, snapshot))
                state.epoch, state.offset = start.epoch, start.offset
            else:
                self._send_missed(conn, name, state, missed)
        except BiltenError as error:
            log.warning(
                "gap repair on %s failed: %s", name, error, extra={"ctx": {"conn": conn.id}}
            )
            await say_reconnect([conn], "could not recover missed publications", self._timeout)
            return
        if conn.subs.get(name) is state:
            self._drain_buffer(conn, name, state)

    async def close(self) -> None:
        """Cancel repairs and drop every NATS subscription."""
        for task in list(self._tasks):
            task.cancel()
        for feed in list(self._feeds.values()):
            if feed.sub is not None:
                try:
                    await feed.sub.unsubscribe()
                except Exception as error:  # NATS already closed: nothing to undo
                    log.debug("unsubscribe failed on close: %s", error)
        self._feeds.clear()
