"""Async Python client for a Bilten hub: subscriptions that survive reconnects, and rpc.

docs/protocol.md is the contract; protocol.frames encodes and decodes every
frame. One supervisor task per client owns the socket: it reads frames,
resubscribes with `since` after a reconnect, and when the connection is lost
fails the requests in flight with `Unavailable`, backs off and connects again.
The caller's coroutines only send frames and wait for their replies.

    async with BiltenClient("ws://127.0.0.1:8080/ws", token) as client:
        sub = await client.subscribe("event.42.announcements")
        async for item in sub:
            ...

A full subscription queue stops the reader, so the hub sees a slow reader
(backpressure, never silent drops); consume each subscription in its own task.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed as WebSocketClosed
from websockets.exceptions import InvalidHandshake, InvalidStatus

from bilten.clients._subscription import (
    DEFAULT_QUEUE_SIZE,
    Item,
    Publication,
    RecoveryFailed,
    Subscription,
)
from bilten.protocol.channels import parse_channel
from bilten.protocol.disconnects import disconnect_code, reconnect_allowed
from bilten.protocol.errors import (
    BadFrame,
    BiltenError,
    Conflict,
    Forbidden,
    Internal,
    NotFound,
    RateLimited,
    Timeout,
    TokenExpired,
    Unauthorized,
    Unavailable,
    error_from_wire,
)

__all__ = ["Backoff", "BiltenClient", "ConnectionClosed", "Item", "Publication",
           "RecoveryFailed", "SessionExpired", "Subscription", "TokenProvider"]

log = logging.getLogger(__name__)

TokenProvider = Callable[[], Awaitable[str]]
DEFAULT_TIMEOUT_S = 10.0
MAX_MESSAGE_BYTES = 16 * 2**20
CLOSE_TIMEOUT_S = 2.0
_RETRYABLE = (RateLimited, Unavailable, Timeout, Internal)  # worth a new connection


class ConnectionClosed(BiltenError):
    """The client is closed for good: by its owner, or the hub will not take it back."""

    code = "connection_closed"

    def __init__(self, message: str, *, disconnect: str | None = None) -> None:
        super().__init__(message, **({"disconnect": disconnect} if disconnect else {}))
        self.disconnect = disconnect  # the hub's disconnect code, when it gave one


class SessionExpired(ConnectionClosed, TokenExpired):
    """The token expired and no `token_provider` could give a fresh one."""

    code = "token_expired"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: doubling from `min_s` up to `max_s`, with full jitter."""

    min_s: float = 0.05
    max_s: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect attempt `attempt` (0 for the first)."""
        return random.uniform(self.min_s, min(self.max_s, self.min_s * 2 ** min(attempt, 32)))


class _Restart(Exception):
    """A resubscribe failed for a passing reason: reconnect and try them all again."""


class BiltenClient:
    """A connection to a hub; use `async with` (or `connect()` and `aclose()`).

    `token` goes in `Authorization: Bearer`. When the hub refuses or ends the
    connection because of the token, `token_provider` (if given) is awaited for
    a fresh one; without it the client closes with `SessionExpired` or
    `ConnectionClosed`, which iterators and calls then raise.
    """

    def __init__(self, url: str, token: str, *, token_provider: TokenProvider | None = None,
                 backoff: Backoff = Backoff(), queue_size: int = DEFAULT_QUEUE_SIZE,
                 open_timeout: float = DEFAULT_TIMEOUT_S,
                 max_size: int = MAX_MESSAGE_BYTES) -> None:
        self.url = url
        self.reconnects = 0  # connections opened after the first one
        self._token = token
        self._provider = token_provider
        self._backoff = backoff
        self._queue_size = queue_size
        self._open_timeout = open_timeout
        self._max_size = max_size
        self._ids = itertools.count(1)
        self._ws: ClientConnection | None = None
        self._settled = asyncio.Event()  # set while connected, and once closed for good
        self._closed: ConnectionClosed | None = None
        self._disconnect: Disconnect | None = None  # the current socket's last words
        self._pending: dict[int, asyncio.Future[ServerFrame]] = {}
        self._resubscribing: dict[int, Subscription] = {}
        self._subs: dict[str, Subscription] = {}
        self._supervisor: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BiltenClient:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def connect(self) -> None:
        """Open the connection; a refused handshake raises its error (e.g. `Unauthorized`)."""
        if self._supervisor is not None or self._closed is not None:
            raise RuntimeError("connect() is called once per client")
        ws = await self._open()
        self._attach(ws)
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(ws), name=f"bilten-client {self.url}")

    async def aclose(self) -> None:
        """End every subscription and call, stop the reader and close the socket; idempotent."""
        if self._closed is None:
            self._terminate(ConnectionClosed("the client is closed"), by_owner=True)
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    async def subscribe(self, channel: str, *, timeout: float = DEFAULT_TIMEOUT_S
                        ) -> Subscription:
        """Subscribe and wait for `subscribed`; the hub's refusal raises its error."""
        name = parse_channel(channel).name  # BadChannel without a round trip
        if self._closed is not None:
            raise self._closed
        if name in self._subs:
            raise Conflict(f"already subscribed to {name}")
        sub = self._subs[name] = Subscription(name, self._queue_size, self._unsubscribe)

        def claim(req_id: int) -> None:
            sub.request_id = req_id

        try:
            await self._request(lambda i: encode_subscribe(i, name), timeout, f"subscribe {name}",
                                sent=claim)
        except BaseException as error:
            if self._subs.get(name) is sub:
                del self._subs[name]
            sub.close()
            if isinstance(error, Timeout) and self._ws is not None:
                await self._send_quietly(self._ws, encode_unsubscribe(next(self._ids), name))
            raise
        return sub

    async def rpc(self, method: str, params: dict[str, Any] | None = None, *,
                  timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        """Call a command; its result, or the hub's error. Never re-sent after a drop.

        `Timeout`: no answer in time (the command may have run). `Unavailable`:
        the connection was lost or not restored in time.
        """
        reply = await self._request(lambda i: encode_rpc(i, method, params), timeout, method)
        if not isinstance(reply, Result):
            raise BadFrame(f"the hub answered {method} with {type(reply).__name__}")
        return reply.result

    async def ping(self, *, timeout: float = DEFAULT_TIMEOUT_S) -> float:
        """Round trip of a `ping` op through the hub, in seconds."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        await self._request(encode_ping, timeout, "ping")
        return loop.time() - start

    def _abort_connection(self) -> None:
        """Test hook: drop the TCP connection at once, as a network failure would."""
        if self._ws is not None:
            self._ws.transport.abort()

    # --- requests ---

    async def _request(self, encode: Callable[[int], bytes], timeout: float, what: str, *,
                       sent: Callable[[int], None] | None = None) -> ServerFrame:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        ws = await self._connection(deadline)
        req_id = next(self._ids)
        future: asyncio.Future[ServerFrame] = loop.create_future()
        self._pending[req_id] = future
        if sent is not None:
            sent(req_id)
        try:
            async with asyncio.timeout_at(deadline):
                await ws.send(encode(req_id), text=True)
                reply = await future
        except WebSocketClosed:
            raise Unavailable(f"the connection was lost before {what} was sent") from None
        except TimeoutError:
            raise Timeout(f"{what} got no answer within {timeout} s") from None
        finally:
            self._pending.pop(req_id, None)
        if isinstance(reply, Error):
            raise reply.error
        return reply

    async def _connection(self, deadline: float) -> ClientConnection:
        while True:
            if self._closed is not None:
                raise self._closed
            if self._ws is not None:
                return self._ws
            try:
                async with asyncio.timeout_at(deadline):
                    await self._settled.wait()
            except TimeoutError:
                raise Unavailable(f"not connected to {self.url}") from None

    async def _unsubscribe(self, sub: Subscription, timeout: float) -> None:
        sub.close()
        if self._subs.get(sub.channel) is not sub:
            return
        del self._subs[sub.channel]
        if self._ws is None:
            return  # the hub forgot it with the connection
        try:
            await self._request(lambda i: encode_unsubscribe(i, sub.channel), timeout,
                                f"unsubscribe {sub.channel}")
        except (NotFound, Unavailable, ConnectionClosed):
            pass  # it is gone from the hub either way

    # --- the connection (owned by the supervisor task) ---

    async def _open(self) -> ClientConnection:
        """One handshake; a refused token is renewed once through the provider."""
        renewed = False
        while True:
            try:
                return await connect(
                    self.url, additional_headers={"Authorization": f"Bearer {self._token}"},
                    compression=None, max_size=self._max_size, open_timeout=self._open_timeout,
                    close_timeout=CLOSE_TIMEOUT_S)
            except InvalidStatus as refused:
                error = _refusal(refused)
                if not isinstance(error, Unauthorized | TokenExpired) or renewed \
                        or self._provider is None:
                    raise error from None
            except (OSError, TimeoutError, InvalidHandshake) as error:
                raise Unavailable(f"cannot connect to {self.url}: {error}") from None
            self._token = await self._renew_token()
            renewed = True

    async def _renew_token(self) -> str:
        assert self._provider is not None
        try:
            async with asyncio.timeout(self._open_timeout):
                return await self._provider()
        except Exception as error:  # the owner's code: its failure ends the client
            raise ConnectionClosed(f"the token provider failed: {error!r}") from error

    def _attach(self, ws: ClientConnection) -> None:
        self._ws, self._disconnect = ws, None
        self._settled.set()

    def _detach(self, lost: BiltenError | None = None) -> None:
        self._ws = None
        self._settled.clear()
        lost = lost or Unavailable("the connection to the hub was lost")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(lost)
        self._pending.clear()
        self._resubscribing.clear()

    def _terminate(self, error: ConnectionClosed, *, by_owner: bool = False) -> None:
        """Close for good: waiting calls get `error`; iterators end (or raise it)."""
        self._closed = error
        self._detach(error)
        self._settled.set()
        for sub in self._subs.values():
            sub.close(None if by_owner else error)
        self._subs.clear()

    async def _supervise(self, ws: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        try:
            while True:
                opened = loop.time()
                code = await self._serve(ws)
                self._detach()
                if code is not None and not reconnect_allowed(code):
                    if self._provider is None:
                        reason = self._disconnect.reason if self._disconnect else "closed"
                        self._terminate(_ended_by(code, reason))
                        return
                    self._token = await self._renew_token()
                if code == "reconnect" or loop.time() - opened > self._backoff.max_s:
                    attempt = 0  # asked to move, or the connection was healthy
                while True:
                    await asyncio.sleep(self._backoff.delay(attempt))
                    attempt += 1
                    try:
                        ws = await self._open()
                        break
                    except ConnectionClosed:
                        raise
                    except (Unauthorized, TokenExpired, Forbidden) as error:
                        self._terminate(_ended_by(error.code, f"refused: {error.message}"))
                        return
                    except BiltenError as error:
                        log.info("reconnecting to %s failed: %s", self.url, error)
                self.reconnects += 1
                self._attach(ws)
        except ConnectionClosed as error:  # the token provider failed
            self._terminate(error)
        except Exception as error:  # a bug here: fail every caller instead of hanging them
            log.exception("bilten client supervisor failed")
            self._terminate(ConnectionClosed(f"the client failed: {error!r}"))
        finally:
            await ws.close()

    async def _serve(self, ws: ClientConnection) -> str | None:
        """Resubscribe, then handle frames until the socket closes; why it closed."""
        try:
            await self._resubscribe(ws)
            async for message in ws:
                for frame in decode_server_frames(message):
                    await self._on_frame(frame)
        except WebSocketClosed:
            pass
        except (BadFrame, _Restart) as error:
            log.warning("reconnecting to %s: %s", self.url, error)
            await ws.close(1000, "reconnecting")
            return None
        if self._disconnect is not None:
            return self._disconnect.code
        return disconnect_code(ws.close_code or 0)

    async def _resubscribe(self, ws: ClientConnection) -> None:
        frames = []
        for sub in self._subs.values():
            if sub.active:
                sub.request_id = next(self._ids)
                self._resubscribing[sub.request_id] = sub
                frames.append(encode_subscribe(sub.request_id, sub.channel, sub.since()))
        for n, start in enumerate(range(0, len(frames), DEFAULT_MAX_BATCH)):
            if n >= 2:  # past the hub's burst allowance (docs/protocol.md §Connecting)
                await asyncio.sleep(1.0)
            await ws.send(join_frames(frames[start:start + DEFAULT_MAX_BATCH]), text=True)

    async def _on_frame(self, frame: ServerFrame) -> None:
        if isinstance(frame, Pub):
            sub = self._subs.get(frame.channel)
            item = sub.on_pub(frame) if sub is not None else None
            if sub is not None and item is not None:
                await sub.put(item)
        elif isinstance(frame, Subscribed):
            await self._on_subscribed(frame)
        elif isinstance(frame, Error) and frame.id in self._resubscribing:
            sub = self._resubscribing.pop(frame.id)
            if isinstance(frame.error, _RETRYABLE):
                raise _Restart(f"resubscribing {sub.channel} failed: {frame.error}")
            if self._subs.get(sub.channel) is sub:
                del self._subs[sub.channel]
            sub.close(frame.error)
        elif isinstance(frame, Disconnect):
            log.info("hub disconnects: %s (%s)", frame.code, frame.reason)
            self._disconnect = frame
        elif frame.id is None:
            log.warning("hub reports an error: %s", getattr(frame, "error", frame))
        else:
            future = self._pending.get(frame.id)
            if future is not None and not future.done():
                future.set_result(frame)

    async def _on_subscribed(self, frame: Subscribed) -> None:
        sub = self._subs.get(frame.channel)
        if frame.id is not None:
            self._resubscribing.pop(frame.id, None)
            if sub is not None and sub.request_id != frame.id:
                sub = None  # a reply to an abandoned subscribe
        item = sub.on_subscribed(frame) if sub is not None else None
        future = self._pending.get(frame.id) if frame.id is not None else None
        if future is not None and not future.done():
            future.set_result(frame)
        if sub is not None and item is not None:
            await sub.put(item)

    async def _send_quietly(self, ws: ClientConnection, data: bytes) -> None:
        try:
            await ws.send(data, text=True)
        except WebSocketClosed:
            pass  # the connection took the hub-side state with it


def _refusal(refused: InvalidStatus) -> BiltenError:
    """The error in a refused handshake's body (docs/protocol.md §Connecting)."""
    status = refused.response.status_code
    try:
        body = orjson.loads(refused.response.body or b"null")
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return error_from_wire(body["error"])
    if status in (401, 403):
        return (Unauthorized if status == 401 else Forbidden)(f"HTTP {status}")
    return Unavailable(f"the hub answered the handshake with HTTP {status}")


def _ended_by(code: str, reason: str) -> ConnectionClosed:
    """The error that ends a client the hub will not take back with its token."""
    cls = SessionExpired if code == "token_expired" else ConnectionClosed
    return cls(f"the hub ended the session ({code}: {reason})", disconnect=code)
