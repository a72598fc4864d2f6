"""infra/faults.translate: every server fault is `unavailable` or `timeout`, bugs stay bugs."""

from __future__ import annotations

import asyncpg
import nats.errors
import nats.js.errors
import pytest
import redis.exceptions

from bilten.infra.faults import faults_as_errors, translate
from bilten.infra.pull import PullRefused
from bilten.protocol.errors import BadRequest, Timeout, Unavailable

FAULTS: list[tuple[BaseException, type[Exception]]] = [
    (ConnectionRefusedError(111, "refused"), Unavailable),
    (ConnectionResetError(104, "reset"), Unavailable),
    (OSError(113, "no route"), Unavailable),
    (TimeoutError(), Timeout),
    (nats.errors.TimeoutError(), Timeout),
    (nats.errors.FlushTimeoutError(), Timeout),
    (nats.errors.NoRespondersError(), Unavailable),
    (nats.errors.ConnectionClosedError(), Unavailable),
    (nats.errors.ConnectionReconnectingError(), Unavailable),
    (nats.errors.StaleConnectionError(), Unavailable),
    (nats.errors.NoServersError(), Unavailable),
    (nats.errors.OutboundBufferLimitError(), Unavailable),
    (nats.js.errors.NoStreamResponseError(), Unavailable),
    (
        nats.js.errors.ServiceUnavailableError(code=503, description="JetStream unavailable"),
        Unavailable,
    ),
    (nats.js.errors.ServerError(code=500, description="raft"), Unavailable),
    (nats.js.errors.ServiceUnavailableError(), Unavailable),  # as a pull fetch raises it
    (  # the same Nats-Msg-Id's first publish not yet stored (a healed partition)
        nats.js.errors.APIError(
            code=409, err_code=10158, description="duplicate message id is in process"
        ),
        Unavailable,
    ),
    (PullRefused("409", "Server Shutdown"), Unavailable),  # a batch pull while NATS stops
    (asyncpg.exceptions.InterfaceError("connection is closed"), Unavailable),
    (asyncpg.exceptions.ConnectionDoesNotExistError("lost"), Unavailable),
    (asyncpg.exceptions.InternalClientError("cannot switch to state 15"), Unavailable),
    (asyncpg.exceptions.CannotConnectNowError("starting up"), Unavailable),
    (asyncpg.exceptions.AdminShutdownError("terminating"), Unavailable),
    (asyncpg.exceptions.CrashShutdownError("crash"), Unavailable),
    (asyncpg.exceptions.TooManyConnectionsError("too many"), Unavailable),
    (asyncpg.exceptions.QueryCanceledError("statement timeout"), Timeout),
    (redis.exceptions.ConnectionError("refused"), Unavailable),
    (redis.exceptions.BusyLoadingError("loading"), Unavailable),
    (redis.exceptions.TimeoutError("slow"), Timeout),
]

BUGS: list[BaseException] = [
    KeyError("x"),
    ValueError("x"),
    TypeError("x"),
    ZeroDivisionError(),
    asyncpg.exceptions.UniqueViolationError("dup"),
    asyncpg.exceptions.UndefinedColumnError("no column"),
    nats.js.errors.NotFoundError(code=404, description="no message"),
    nats.js.errors.BadRequestError(code=400, description="bad"),
    nats.js.errors.APIError(code=400, err_code=10071, description="wrong last sequence"),
    nats.errors.BadSubjectError(),
    redis.exceptions.ResponseError("WRONGTYPE"),
]


@pytest.mark.parametrize(("error", "kind"), FAULTS, ids=lambda v: type(v).__name__)
def test_faults_are_retryable_codes(error: BaseException, kind: type[Exception]) -> None:
    translated = translate(error)
    assert type(translated) is kind
    assert translated.http_status in (503, 504)


@pytest.mark.parametrize("error", BUGS, ids=lambda v: type(v).__name__)
def test_bugs_are_not_faults(error: BaseException) -> None:
    assert translate(error) is None


def test_bilten_errors_pass_through() -> None:
    error = BadRequest("no")
    assert translate(error) is error


def test_faults_as_errors_raises_the_code_and_keeps_the_cause() -> None:
    cause = asyncpg.exceptions.AdminShutdownError("terminating connection")
    with pytest.raises(Unavailable) as caught, faults_as_errors():
        raise cause
    assert caught.value.__cause__ is cause
    with pytest.raises(KeyError), faults_as_errors():
        raise KeyError("a bug stays a bug")
