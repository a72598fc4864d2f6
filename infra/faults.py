"""Faults of NATS, PostgreSQL and Redis as error codes, in one place.

A server that is down, restarting, stalled or out of connections is a
transient fault: the request may succeed if retried later, so the client gets
`unavailable` (503) or `timeout` (504), never `internal`. Every process
boundary (the hub's `execute`, the worker runner, ChannelLog, the background
loops of `infra/loops.py`) asks `translate` which exceptions are such faults;
anything it does not know stays a bug, reported as `internal` and logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import nats.errors
import nats.js.errors
import redis.exceptions

from bilten.infra.pull import PullRefused
from bilten.protocol.errors import BiltenError, Timeout, Unavailable

# A JetStream API error with a status of this or above is the server's, not ours.
_JS_SERVER_STATUS = 500
# JetStream's "duplicate message id is in process" (status 409): an earlier publish with
# the same Nats-Msg-Id is still being replicated, say one that a partition held back and
# that went through once it healed. Once stored, a retry is answered as its duplicate.
_JS_MSG_ID_IN_PROCESS = 10158

# Checked in order: the timeouts first, since some of them are also OSErrors.
_TIMEOUTS: tuple[type[BaseException], ...] = (
    TimeoutError,  # asyncio, asyncpg's command_timeout and nats-py's timeouts are one
    redis.exceptions.TimeoutError,
    asyncpg.exceptions.QueryCanceledError,
)
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.NoServersError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,  # a pull fetch's 503 status carries no code
    PullRefused,  # a pull request the server turned away: shutting down, no responders, …
    asyncpg.exceptions.InterfaceError,  # connection lost or closed, pool closing
    # Releasing a connection the server terminated mid-query: its protocol state is stuck.
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,  # starting up or shutting down
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    redis.exceptions.ConnectionError,  # also BusyLoadingError
)


def translate(error: BaseException) -> BiltenError | None:
    """The client-facing error for `error`: itself if a BiltenError, a fault's
    `Unavailable`/`Timeout`, or None for anything else (a bug)."""
    if isinstance(error, BiltenError):
        return error
    if isinstance(error, _TIMEOUTS):
        return Timeout(f"a dependency did not answer in time ({type(error).__name__})")
    if isinstance(error, _UNAVAILABLE):
        return Unavailable(f"a dependency cannot serve now ({type(error).__name__})")
    if isinstance(error, nats.js.errors.APIError) and (
        (error.code or 0) >= _JS_SERVER_STATUS or error.err_code == _JS_MSG_ID_IN_PROCESS
    ):
        return Unavailable(f"JetStream cannot serve now: {error.description}")
    return None


@contextmanager
def faults_as_errors() -> Iterator[None]:
    """Re-raise a server fault inside the block as `Unavailable` or `Timeout`."""
    try:
        yield
    except BiltenError:
        raise
    except Exception as error:
        translated = translate(error)
        if translated is None:
            raise
        raise translated from error
