"""Async Python client for a Bilten hub: subscriptions that survive reconnects, and rpc.

docs/protocol.md is the contract; protocol.frames encodes and decodes every
frame. One supervisor task per client owns the socket: it feeds each frame to
the `Session` (clients/_subscription.py), and when the connection is lost it
fails the requests in flight with `Unavailable` (or, when the hub said
`reconnect`, which it says only with nothing read left unanswered, has them
sent again), backs off, connects again and resubscribes with `since`. A full
subscription queue stops the reader, so the hub sees a slow reader
(backpressure, never silent drops): consume each subscription in its own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
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
    Session,
    Subscription,
)
from bilten.protocol import errors, frames
from bilten.protocol.channels import parse_channel
from bilten.protocol.disconnects import disconnect_code, reconnect_allowed
from bilten.protocol.errors import BadSignature
from bilten.protocol.webhook_signature import REPLAY_WINDOW_S, verify

__all__ = [
    "Backoff",
    "BadSignature",
    "BiltenClient",
    "ConnectionClosed",
    "Item",
    "Publication",
    "RecoveryFailed",
    "SessionExpired",
    "Subscription",
    "TokenProvider",
    "verify_webhook",
]

log = logging.getLogger(__name__)
# Its own generator for reconnect jitter: the `random` module's shared one is the
# application's (and a test framework's), not ours to move.
_JITTER = random.Random()

TokenProvider = Callable[[], Awaitable[str]]
DEFAULT_TIMEOUT_S = 10.0
MAX_MESSAGE_BYTES = 16 * 2**20
CLOSE_TIMEOUT_S = 2.0
_TOKEN_REFUSED = (errors.Unauthorized, errors.TokenExpired, errors.Forbidden)


class ConnectionClosed(errors.BiltenError):
    """The client is closed for good: by its owner, or the hub will not take it back."""

    code = "connection_closed"

    def __init__(self, message: str, *, disconnect: str | None = None) -> None:
        super().__init__(message, **({"disconnect": disconnect} if disconnect else {}))
        self.disconnect = disconnect  # the hub's disconnect code, when it gave one


class _Unread(errors.Unavailable):
    """Internal: the hub said `reconnect` without answering a request, so it never read it."""


class SessionExpired(ConnectionClosed, errors.TokenExpired):
    """The token expired and there is no `token_provider` to get a fresh one."""

    code = "token_expired"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: random between `min_s` and a cap doubling up to `max_s`.

    Full jitter, so that clients dropped together (a hub restarting) do not
    come back together.
    """

    min_s: float = 0.05
    max_s: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect attempt `attempt` (0 for the first)."""
        cap = min(self.max_s, self.min_s * 2 ** min(attempt + 1, 32))
        return _JITTER.uniform(self.min_s, cap)


class BiltenClient:
    """A connection to a hub; use `async with` (or `connect()` and `aclose()`).

    `token` goes in `Authorization: Bearer`. When the hub refuses or ends the
    connection because of the token, `token_provider` (if given) is awaited for
    a fresh one; without it the client closes with `SessionExpired` or
    `ConnectionClosed`, which iterators and calls then raise.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        token_provider: TokenProvider | None = None,
        backoff: Backoff = Backoff(),
        queue_size: int = DEFAULT_QUEUE_SIZE,
        open_timeout: float = DEFAULT_TIMEOUT_S,
        max_size: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.url = url
        self.reconnects = 0  # connections opened after the first one
        self._token = token
        self._provider = token_provider
        self._backoff = backoff
        self._queue_size = queue_size
        self._open_timeout = open_timeout
        self._max_size = max_size
        self._ids = itertools.count(1)
        self._session = Session()
        self._ws: ClientConnection | None = None
        self._settled = asyncio.Event()  # set while connected, and once closed for good
        self._closed: ConnectionClosed | None = None
        self._supervisor: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BiltenClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def connect(self) -> None:
        """Open the connection; a refused handshake raises its error (e.g. `Unauthorized`)."""
        if self._supervisor is not None or self._closed is not None:
            raise RuntimeError("a client connects once")
        ws = await self._open()
        self._attach(ws)
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(ws), name=f"bilten-client {self.url}"
        )

    async def aclose(self) -> None:
        """End every subscription and call, stop the reader and close the socket; idempotent."""
        if self._closed is None:
            self._terminate(ConnectionClosed("the client is closed"), by_owner=True)
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # it closes its socket on the way out

    async def subscribe(self, channel: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> Subscription:
        """Subscribe and wait for `subscribed`; the hub's refusal raises its error."""
        name = parse_channel(channel).name  # BadChannel without a round trip
        if self._closed is not None:
            raise self._closed
        sub = Subscription(name, self._queue_size, self._unsubscribe)
        self._session.add(sub)

        def claim(req_id: int) -> None:
            sub.request_id = req_id

        try:
            await self._request(
                lambda i: frames.encode_subscribe(i, name), timeout, f"subscribe {name}", sent=claim
            )
        except BaseException as error:
            self._session.discard(sub)
            sub.close()
            if isinstance(error, errors.Timeout) and (ws := self._ws) is not None:
                with contextlib.suppress(WebSocketClosed):  # else the hub would keep it
                    await ws.send(frames.encode_unsubscribe(next(self._ids), name), text=True)
            raise
        return sub

    async def rpc(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> Any:
        """Call a command: its result, or the hub's error raised.

        Re-sent only when the hub certainly did not read it: the hub said
        `reconnect` before answering (docs/protocol.md §Disconnect codes); it
        goes again on the next connection, within `timeout`. `Timeout`: no
        answer in time (the command may have run). `Unavailable`: the
        connection was lost otherwise (it may have run), or not back in time
        to send it.
        """
        reply = await self._request(lambda i: frames.encode_rpc(i, method, params), timeout, method)
        if not isinstance(reply, frames.Result):
            raise errors.BadFrame(f"the hub answered {method} with {type(reply).__name__}")
        return reply.result

    async def ping(self, *, timeout: float = DEFAULT_TIMEOUT_S) -> float:
        """Seconds for a `ping` op to come back as `pong` (docs/protocol.md §Frames)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        await self._request(frames.encode_ping, timeout, "ping")
        return loop.time() - start

    def _abort_connection(self) -> None:
        """Test hook: drop the TCP connection at once, as a network failure would."""
        if self._ws is not None:
            self._ws.transport.abort()

    async def _request(
        self,
        encode: Callable[[int], bytes],
        timeout: float,
        what: str,
        *,
        sent: Callable[[int], None] | None = None,
    ) -> frames.ServerFrame:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            ws = await self._connection(deadline)
            req_id = next(self._ids)
            future = self._session.expect(req_id)
            if sent is not None:
                sent(req_id)
            try:
                async with asyncio.timeout_at(deadline):
                    # A lost connection settles the future (`_detach`), sent or not.
                    with contextlib.suppress(WebSocketClosed):
                        await ws.send(encode(req_id), text=True)
                    reply = await future
                break
            except _Unread:
                log.debug("%s was not read before the hub said reconnect; sending it again", what)
            except TimeoutError:
                raise errors.Timeout(f"{what} got no answer within {timeout} s") from None
            finally:
                self._session.forget(req_id)
        if isinstance(reply, frames.Error):
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
                raise errors.Unavailable(f"not connected to {self.url}") from None

    async def _unsubscribe(self, sub: Subscription, timeout: float) -> None:
        sub.close()
        if not self._session.discard(sub) or self._ws is None:
            return  # already gone, or the hub forgot it with the connection
        try:
            await self._request(
                lambda i: frames.encode_unsubscribe(i, sub.channel),
                timeout,
                f"unsubscribe {sub.channel}",
            )
        except (errors.NotFound, errors.Unavailable, ConnectionClosed):
            pass  # it is gone from the hub either way

    # --- the connection, owned by the supervisor task ---

    async def _open(self) -> ClientConnection:
        """One handshake; a refused token is renewed once through the provider."""
        renewed = False
        while True:
            try:
                return await connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self._token}"},
                    compression=None,
                    max_size=self._max_size,
                    open_timeout=self._open_timeout,
                    close_timeout=CLOSE_TIMEOUT_S,
                )
            except InvalidStatus as refused:
                error = _refusal(refused)
                if (
                    renewed
                    or self._provider is None
                    or not isinstance(error, errors.Unauthorized | errors.TokenExpired)
                ):
                    raise error from None
            except (OSError, TimeoutError, InvalidHandshake) as error:
                raise errors.Unavailable(f"cannot connect to {self.url}: {error}") from None
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
        self._ws, self._session.disconnect = ws, None
        self._settled.set()

    def _detach(self) -> None:
        self._ws = None
        self._settled.clear()
        last = self._session.disconnect
        if last is not None and last.code == "reconnect":
            self._session.connection_lost(_Unread("the hub said reconnect before reading it"))
        else:
            self._session.connection_lost(errors.Unavailable("the connection to the hub was lost"))

    def _terminate(self, error: ConnectionClosed, *, by_owner: bool = False) -> None:
        """Close for good: waiting calls get `error`; iterators end, or raise it."""
        self._closed, self._ws = error, None
        self._settled.set()
        self._session.close(error, end=None if by_owner else error)

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
                        last = self._session.disconnect
                        self._terminate(_ended_by(code, last.reason if last else "closed"))
                        return
                    self._token = await self._renew_token()
                if code == "reconnect" or loop.time() - opened > self._backoff.max_s:
                    attempt = 0  # asked to move at once, or the connection was healthy
                while True:
                    await asyncio.sleep(self._backoff.delay(attempt))
                    attempt += 1
                    try:
                        ws = await self._open()
                        break
                    except _TOKEN_REFUSED as error:
                        self._terminate(_ended_by(error.code, f"refused: {error.message}"))
                        return
                    except ConnectionClosed:
                        raise
                    except errors.BiltenError as error:
                        log.info("reconnecting to %s failed: %s", self.url, error)
                self.reconnects += 1
                self._attach(ws)
        except ConnectionClosed as error:  # the token provider failed
            self._terminate(error)
        except Exception as error:  # a bug: fail every caller rather than leave them hanging
            log.exception("bilten client supervisor failed")
            self._terminate(ConnectionClosed(f"the client failed: {error!r}"))
        finally:
            await ws.close()

    async def _serve(self, ws: ClientConnection) -> str | None:
        """Resubscribe, then apply frames until the socket closes; the disconnect code."""
        try:
            await self._resubscribe(ws)
            async for message in ws:
                for frame in frames.decode_server_frames(message):
                    failure = await self._session.on_frame(frame)
                    if failure is not None:
                        log.warning("resubscribing failed (%s); reconnecting", failure)
                        await ws.close(1000, "resubscribing")
                        return None
        except WebSocketClosed:
            pass
        except errors.BadFrame as error:
            log.warning("the hub sent a bad frame (%s); reconnecting", error)
            await ws.close(1002, "bad frame")
            return None
        last = self._session.disconnect
        return last.code if last is not None else disconnect_code(ws.close_code or 0)

    async def _resubscribe(self, ws: ClientConnection) -> None:
        encoded = self._session.resubscribe(self._ids)
        for n, start in enumerate(range(0, len(encoded), frames.DEFAULT_MAX_BATCH)):
            if n >= 2:  # past the hub's burst allowance (docs/protocol.md §Connecting)
                await asyncio.sleep(1.0)
            batch = encoded[start : start + frames.DEFAULT_MAX_BATCH]
            await ws.send(frames.join_frames(batch), text=True)


def _refusal(refused: InvalidStatus) -> errors.BiltenError:
    """The error in a refused handshake's body (docs/protocol.md §Connecting)."""
    try:
        body = orjson.loads(refused.response.body or b"null")
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return errors.error_from_wire(body["error"])
    return errors.Unavailable(f"the hub refused the handshake: {refused}")


def _ended_by(code: str, reason: str) -> ConnectionClosed:
    """The error that ends a client the hub will not take back with its token."""
    cls = SessionExpired if code == "token_expired" else ConnectionClosed
    return cls(f"the hub ended the session ({code}: {reason})", disconnect=code)


def verify_webhook(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
    window_s: float = REPLAY_WINDOW_S,
) -> int:
    """Check a webhook delivery as received (docs/webhooks.md §Verifying): the signature
    over the raw `body`, and a timestamp within `window_s` of `now` (default: this
    clock). Returns the timestamp; raises `BadSignature` with `details.reason`."""
    return verify(secret, body, headers, time.time() if now is None else now, window_s=window_s)
