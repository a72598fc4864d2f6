"""The hub-to-worker messages (`protocol.commands`): requests and replies round-trip, and
malformed ones become a coded error, never an unexpected exception."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bilten.protocol.commands import (
    ANONYMOUS,
    COMMANDS,
    CommandRequest,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
    resolve,
)
from bilten.protocol.errors import (
    BadChannel,
    BadFrame,
    BadRequest,
    BiltenError,
    Conflict,
    Forbidden,
    Internal,
    NotFound,
    RateLimited,
    Timeout,
    TokenExpired,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnknownMethod,
    UnknownOp,
)
from bilten.protocol.tokens import Claims

ORGANIZER = Claims("o-1", "acme", "organizer", "*", None, 1_800_000_600, 1_800_000_000)
STAFF = Claims("gate-3", "acme", "staff", (4, 7), ("north", "vip-1"), 1_800_000_600, 1_800_000_000)
NO_EVENTS = Claims("a-1", "acme", "attendee", (), (), 1_800_000_600, 1_800_000_000)


@pytest.mark.parametrize(
    "request_",
    [
        CommandRequest("events.create", ORGANIZER, {"name": "Jazz", "currency": "BAM"}),
        CommandRequest(
            "checkin.scan",
            STAFF,
            {"event_id": 4, "code": "AQEB", "gate": "north", "nonce": "door-3:000017"},
        ),
        CommandRequest("seats.hold", NO_EVENTS, {}),
        # A session command: the cookie's digest and the client's address travel along.
        CommandRequest("auth.me", ANONYMOUS, {}, session="ab" * 32, address="192.0.2.7"),
        # How long the hub waits for this answer: a worker reaching it later does not run it.
        CommandRequest("seats.confirm", STAFF, {"hold_id": "h"}, budget_s=1.667),
        # The hub's clock when the call came: the time of a scan sent without one.
        CommandRequest("checkin.scan", STAFF, {"code": "AQEB"}, sent_at=1_796_270_000.125),
        CommandRequest(
            "events.update",
            ORGANIZER,
            {"name": "Čevapi & Ćejf 🎷", "nested": {"list": [1, 2.5, None, True], "empty": {}}},
        ),
    ],
)
def test_request_round_trip(request_: CommandRequest) -> None:
    assert decode_request(encode_request(request_)) == request_


def test_request_wire_form() -> None:
    wire = orjson.loads(encode_request(CommandRequest("seats.hold", STAFF, {"event_id": 4})))
    assert wire == {
        "method": "seats.hold",
        "params": {"event_id": 4},
        "claims": {
            "sub": "gate-3",
            "org": "acme",
            "role": "staff",
            "events": [4, 7],
            "gates": ["north", "vip-1"],
            "exp": 1_800_000_600,
            "iat": 1_800_000_000,
        },
    }


def test_absent_or_null_params_are_empty() -> None:
    body = orjson.loads(encode_request(CommandRequest("events.list", ORGANIZER, {})))
    for params in ({"params": None}, {}):
        wire = {"method": body["method"], "claims": body["claims"], **params}
        assert decode_request(orjson.dumps(wire)).params == {}


_DROP = object()  # a key to leave out


def _request_with(**changes: Any) -> bytes:
    """A well-formed request to the events worker with some keys changed or dropped."""
    body = orjson.loads(encode_request(CommandRequest("events.get", STAFF, {"event_id": 4})))
    claims = changes.pop("claims", {})
    if claims is not _DROP:
        claims = {k: v for k, v in {**body["claims"], **claims}.items() if v is not _DROP}
    body = {**body, "claims": claims, **changes}
    return orjson.dumps({k: v for k, v in body.items() if v is not _DROP})


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b"\xff\xfe",
        b"null",
        b"42",
        b'"events.get"',
        b"[]",
        b"{}",
        _request_with(method=_DROP),
        _request_with(method=42),
        _request_with(method=None),
        _request_with(claims=_DROP),
        _request_with(params=[1, 2]),
        _request_with(params="x"),
        _request_with(claims={"sub": _DROP}),
        _request_with(claims={"events": _DROP}),
        _request_with(claims={"events": 4}),
        _request_with(claims={"events": ["four"]}),
        _request_with(claims={"gates": 3}),
        _request_with(claims={"exp": "soon"}),
        _request_with(claims={"iat": None}),
        _request_with(claims={"role": _DROP}),
        _request_with(budget_ms=0),
        _request_with(budget_ms=-5),
        _request_with(budget_ms=1.5),
        _request_with(budget_ms="soon"),
        _request_with(budget_ms=True),
        _request_with(sent_ms=-1),
        _request_with(sent_ms=1.5),
        _request_with(sent_ms=2**62),
        _request_with(sent_ms="now"),
    ],
)
def test_malformed_request_is_bad_request(data: bytes) -> None:
    with pytest.raises(BadRequest) as refused:
        decode_request(data)
    assert refused.value.code == "bad_request"
    assert refused.value.message.startswith("malformed command request")


@pytest.mark.parametrize(
    "result",
    [
        None,
        0,
        "",
        [],
        {},
        {"id": 7, "tickets": [{"code": "A"}]},
        [1, "two", None],
        2**53,
        -1.5,
        "Ž",
    ],
)
def test_reply_round_trip(result: Any) -> None:
    assert decode_reply(encode_reply(result)) == result


@pytest.mark.parametrize(
    "error",
    [
        BadFrame("not json"),
        UnknownOp("no op 'dance'"),
        BadChannel("lobby.1"),
        BadRequest("quantity must be positive", field="quantity"),
        BadRequest("missing: name", fields=["name"]),
        Unauthorized("bad token"),
        TokenExpired("token expired", exp=1_800_000_000),
        Forbidden("staff may not"),
        NotFound("no event 9"),
        UnknownMethod("no method 'x'"),
        Conflict("already confirmed"),
        TooLarge(70_000, 65_536),
        RateLimited("slow down"),
        Unavailable("no worker"),
        Timeout("seats.hold did not complete in time"),
        Internal(),
    ],
)
def test_error_reply_round_trip(error: BiltenError) -> None:
    with pytest.raises(BiltenError) as raised:
        decode_reply(encode_reply(error=error))
    again = raised.value
    assert type(again) is type(error)
    assert (again.code, again.message, again.details) == (error.code, error.message, error.details)
    assert again.http_status == error.http_status


def test_an_error_wins_over_a_result() -> None:
    with pytest.raises(Conflict):
        decode_reply(encode_reply({"id": 1}, error=Conflict("taken")))


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ({"code": "no_such_code", "message": "from a newer worker"}, "from a newer worker"),
        ({"code": None}, ""),
        ({"message": "no code"}, "no code"),
        ({}, ""),
    ],
)
def test_unknown_error_codes_become_internal(wire: dict[str, Any], message: str) -> None:
    with pytest.raises(Internal) as raised:
        decode_reply(orjson.dumps({"error": wire}))
    assert raised.value.code == "internal" and raised.value.message == (message or "internal")


@pytest.mark.parametrize(
    "error",
    [
        "boom",
        None,
        7,
        [],
        ["internal"],
        {"code": "too_large", "details": {"size": "big", "limit": 10}},
        {"code": "too_large", "details": {"size": 1.5, "limit": 10}},
        {"code": "too_large", "details": {"size": True, "limit": 10}},
        {"code": "too_large", "details": {"limit": 10}},
        {"code": "too_large", "details": [1, 2]},
        {"code": "too_large"},
    ],
)
def test_malformed_error_reply_is_internal(error: Any) -> None:
    with pytest.raises(Internal) as raised:
        decode_reply(orjson.dumps({"error": error}))
    assert raised.value.message == "malformed error reply"


@pytest.mark.parametrize(
    ("wire", "cls", "message", "details"),
    [
        ({"code": "conflict", "message": "taken", "details": ["a"]}, Conflict, "taken", {}),
        ({"code": "conflict", "message": "taken", "details": "x"}, Conflict, "taken", {}),
        (
            {"code": "bad_request", "message": "no", "details": {"message": "inner", "field": "q"}},
            BadRequest,
            "no",
            {"message": "inner", "field": "q"},
        ),
        ({"code": "not_found", "message": {"text": "no"}}, NotFound, "not_found", {}),
        ({"code": "not_found", "message": None, "details": None}, NotFound, "not_found", {}),
    ],
)
def test_error_reply_with_a_valid_code_keeps_it_with_sanitized_fields(
    wire: dict[str, Any], cls: type[BiltenError], message: str, details: dict[str, Any]
) -> None:
    with pytest.raises(cls) as raised:
        decode_reply(orjson.dumps({"error": wire}))
    assert type(raised.value) is cls
    assert (raised.value.message, raised.value.details) == (message, details)


@pytest.mark.parametrize("data", [b"", b"{", b"\xff", b"[]", b"[1]", b"null", b"7", b'"ok"'])
def test_malformed_reply_is_internal(data: bytes) -> None:
    with pytest.raises(Internal) as raised:
        decode_reply(data)
    assert raised.value.message == "malformed reply from worker"


def test_a_reply_without_result_is_none() -> None:
    assert decode_reply(b"{}") is None


@pytest.mark.parametrize(
    ("method", "claims", "refused"),
    [
        ("events.create", ORGANIZER, None),
        ("checkin.scan", STAFF, None),
        ("events.create", STAFF, Forbidden),
        ("seats.hold", STAFF, Forbidden),
        ("no.such", ORGANIZER, UnknownMethod),
        ("events.owner", ORGANIZER, UnknownMethod),  # internal: never reachable by clients
        ("", ORGANIZER, UnknownMethod),
        ("auth.signin", ORGANIZER, Forbidden),  # REST only, with no token
        ("orgs.members.list", ORGANIZER, Forbidden),  # REST only, with the session cookie
    ],
)
def test_resolve(method: str, claims: Claims, refused: type[BiltenError] | None) -> None:
    if refused is None:
        assert resolve(method, claims) is COMMANDS[method]
        return
    with pytest.raises(refused):
        resolve(method, claims)
