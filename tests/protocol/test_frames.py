"""Frames: encoding a frame then decoding it yields the frame; every rejection path."""

from __future__ import annotations

from typing import Any, cast

import orjson
import pytest

from bilten.protocol.disconnects import DisconnectCode
from bilten.protocol.errors import (
    BadChannel,
    BadFrame,
    BadRequest,
    BiltenError,
    Forbidden,
    TooLarge,
    Unauthorized,
)
from bilten.protocol.frames import (
    MAX_ID,
    ClientFrame,
    Disconnect,
    Error,
    Ping,
    Pong,
    Pub,
    Rejected,
    Result,
    Rpc,
    ServerFrame,
    Since,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    decode_client_frames,
    decode_server_frames,
    encode_disconnect,
    encode_error,
    encode_ping,
    encode_pong,
    encode_pub,
    encode_result,
    encode_rpc,
    encode_subscribe,
    encode_subscribed,
    encode_unsubscribe,
    encode_unsubscribed,
    join_frames,
)

# --- client → hub ---

CLIENT_ROUND_TRIPS: list[tuple[bytes, ClientFrame]] = [
    (encode_subscribe(1, "event.42.checkins"), Subscribe(1, "event.42.checkins")),
    (
        encode_subscribe(0, "event.42.checkins", Since(17, "a1b2c3d4")),
        Subscribe(0, "event.42.checkins", Since(17, "a1b2c3d4")),
    ),
    (encode_subscribe(5, "user.alice", Since(0, "")), Subscribe(5, "user.alice", Since(0, ""))),
    (encode_unsubscribe(2, "event.42.checkins"), Unsubscribe(2, "event.42.checkins")),
    (
        encode_rpc(3, "checkin.scan", {"code": "QR-1", "gate": "north"}),
        Rpc(3, "checkin.scan", {"code": "QR-1", "gate": "north"}),
    ),
    (encode_rpc(MAX_ID - 1, "events.list"), Rpc(MAX_ID - 1, "events.list", {})),
    (encode_ping(4), Ping(4)),
]


@pytest.mark.parametrize(("data", "frame"), CLIENT_ROUND_TRIPS)
def test_client_round_trip(data: bytes, frame: ClientFrame) -> None:
    assert decode_client_frames(data) == [frame]
    assert decode_client_frames(data.decode()) == [frame]  # text or bytes


def test_client_batch_keeps_order() -> None:
    data = join_frames([d for d, _ in CLIENT_ROUND_TRIPS])
    assert decode_client_frames(data) == [f for _, f in CLIENT_ROUND_TRIPS]


@pytest.mark.parametrize(
    ("message", "frame"),
    [
        (
            {"op": "subscribe", "id": 1, "channel": "not a channel"},
            Subscribe(1, "not a channel"),
        ),  # names are checked later, by parse_channel
        ({"op": "subscribe", "id": 1, "channel": "user.a", "since": None}, Subscribe(1, "user.a")),
        ({"op": "rpc", "id": 1, "method": "a.b", "params": None}, Rpc(1, "a.b", {})),
        (
            {"op": "rpc", "id": 1, "method": "a" * 30 + "." + "b" * 33},
            Rpc(1, "a" * 30 + "." + "b" * 33),
        ),
        ({"op": "ping", "id": 1, "extra": [1, 2], "v": 2}, Ping(1)),  # unknown fields ignored
        ({"op": "ping", "id": 2**53 - 1}, Ping(2**53 - 1)),
    ],
)
def test_client_lenient_cases(message: dict[str, Any], frame: ClientFrame) -> None:
    assert decode_client_frames(orjson.dumps(message)) == [frame]


BAD_FRAMES: list[tuple[bytes, str]] = [
    (b"", "not JSON"),
    (b"not json", "not JSON"),
    (b'{"op":"ping","id":1', "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"NaN", "not JSON"),
    (b"[]", "non-empty array"),
    (b"1", "non-empty array"),
    (b'"ping"', "non-empty array"),
    (b"null", "non-empty array"),
    (b"[1]", "non-empty array"),
    (b'[{"op":"ping","id":1},2]', "non-empty array"),
    (b'[[{"op":"ping","id":1}]]', "non-empty array"),
    (join_frames([encode_ping(i) for i in range(101)]), "exceeds the limit of 100"),
]


@pytest.mark.parametrize(("data", "fragment"), BAD_FRAMES)
def test_bad_frames(data: bytes, fragment: str) -> None:
    with pytest.raises(BadFrame) as caught:
        decode_client_frames(data)
    assert fragment in caught.value.message
    assert (caught.value.code, caught.value.http_status) == ("bad_frame", 400)


def test_batch_limit_is_configurable() -> None:
    data = join_frames([encode_ping(i) for i in range(3)])
    assert len(decode_client_frames(data, max_batch=3)) == 3
    with pytest.raises(BadFrame):
        decode_client_frames(data, max_batch=2)


LONG_EPOCH = "e" * 65
REJECTED: list[tuple[dict[str, Any] | bytes, int | None, str, str | None]] = [
    # (message, id in the rejection, error code, details["field"])
    ({"op": "ping"}, None, "bad_request", "id"),
    ({"op": "ping", "id": None}, None, "bad_request", "id"),
    ({"op": "ping", "id": -1}, None, "bad_request", "id"),
    ({"op": "ping", "id": 2**53}, None, "bad_request", "id"),
    (b'{"op":"ping","id":18446744073709551616}', None, "bad_request", "id"),  # read as float
    ({"op": "ping", "id": 1.0}, None, "bad_request", "id"),
    ({"op": "ping", "id": True}, None, "bad_request", "id"),
    ({"op": "ping", "id": "1"}, None, "bad_request", "id"),
    ({"id": 1}, 1, "bad_request", "op"),
    ({"op": 5, "id": 1}, 1, "bad_request", "op"),
    ({"op": None, "id": 1}, 1, "bad_request", "op"),
    ({"op": "publish", "id": 1}, 1, "unknown_op", None),
    ({"op": "PING", "id": 1}, 1, "unknown_op", None),
    ({"op": "pong", "id": 1}, 1, "unknown_op", None),  # a server op
    ({"op": "nope"}, None, "unknown_op", None),
    ({"op": "subscribe", "id": 1}, 1, "bad_request", "channel"),
    ({"op": "subscribe", "id": 1, "channel": 5}, 1, "bad_request", "channel"),
    ({"op": "subscribe", "id": 1, "channel": ["user.a"]}, 1, "bad_request", "channel"),
    ({"op": "subscribe", "id": 1, "channel": "user.a", "since": "17"}, 1, "bad_request", "since"),
    (
        {"op": "subscribe", "id": 1, "channel": "user.a", "since": [17, "e"]},
        1,
        "bad_request",
        "since",
    ),
    (
        {"op": "subscribe", "id": 1, "channel": "user.a", "since": {"offset": 1}},
        1,
        "bad_request",
        "since",
    ),
    (
        {"op": "subscribe", "id": 1, "channel": "user.a", "since": {"epoch": "e"}},
        1,
        "bad_request",
        "since",
    ),
    (
        {"op": "subscribe", "id": 1, "channel": "user.a", "since": {"offset": -1, "epoch": "e"}},
        1,
        "bad_request",
        "since",
    ),
    (
        {"op": "subscribe", "id": 1, "channel": "user.a", "since": {"offset": 1.5, "epoch": "e"}},
        1,
        "bad_request",
        "since",
    ),
    (
        {"op": "subscribe", "id": 1, "channel": "user.a", "since": {"offset": True, "epoch": "e"}},
        1,
        "bad_request",
        "since",
    ),
    (
        {"op": "subscribe", "id": 1, "channel": "user.a", "since": {"offset": 2**63, "epoch": "e"}},
        1,
        "bad_request",
        "since",
    ),
    (
        {"op": "subscribe", "id": 1, "channel": "user.a", "since": {"offset": 1, "epoch": 5}},
        1,
        "bad_request",
        "since",
    ),
    (
        {
            "op": "subscribe",
            "id": 1,
            "channel": "user.a",
            "since": {"offset": 1, "epoch": LONG_EPOCH},
        },
        1,
        "bad_request",
        "since",
    ),
    ({"op": "unsubscribe", "id": 2}, 2, "bad_request", "channel"),
    ({"op": "unsubscribe", "id": 2, "channel": None}, 2, "bad_request", "channel"),
    ({"op": "rpc", "id": 3}, 3, "bad_request", "method"),
    ({"op": "rpc", "id": 3, "method": 5}, 3, "bad_request", "method"),
    *[
        ({"op": "rpc", "id": 3, "method": method}, 3, "bad_request", "method")
        for method in [
            "",
            "checkin",
            "Checkin.scan",
            "checkin.",
            ".scan",
            "checkin..scan",
            "checkin.scan!",
            "checkin.Scan",
            "1checkin.scan",
            "checkin.1scan",
            "checkin scan",
            "checkin.*",
            "a." + "b" * 63,
        ]
    ],
    ({"op": "rpc", "id": 3, "method": "a.b", "params": []}, 3, "bad_request", "params"),
    ({"op": "rpc", "id": 3, "method": "a.b", "params": "x"}, 3, "bad_request", "params"),
    ({"op": "rpc", "id": 3, "method": "a.b", "params": 1}, 3, "bad_request", "params"),
]


@pytest.mark.parametrize(("message", "id_", "code", "field"), REJECTED)
def test_rejected(
    message: dict[str, Any] | bytes, id_: int | None, code: str, field: str | None
) -> None:
    data = message if isinstance(message, bytes) else orjson.dumps(message)
    [rejected] = decode_client_frames(data)
    assert isinstance(rejected, Rejected)
    assert rejected.id == id_
    assert rejected.error.code == code
    assert rejected.error.http_status == 400
    assert rejected.error.details.get("field") == field


def test_one_bad_message_does_not_spoil_the_batch() -> None:
    data = orjson.dumps(
        [
            {"op": "ping", "id": 1},
            {"op": "nope", "id": 2},
            {"op": "rpc", "id": 3},
            {"op": "ping", "id": 4},
        ]
    )
    frames = decode_client_frames(data)
    assert frames[0] == Ping(1) and frames[3] == Ping(4)
    assert [(f.id, f.error.code) for f in frames[1:3] if isinstance(f, Rejected)] == [
        (2, "unknown_op"),
        (3, "bad_request"),
    ]


def test_unknown_op_is_cut_in_the_error() -> None:
    [rejected] = decode_client_frames(orjson.dumps({"op": "x" * 10_000, "id": 1}))
    assert isinstance(rejected, Rejected)
    assert len(rejected.error.message) < 100


# --- hub → client ---

SERVER_ENCODINGS: list[tuple[bytes, dict[str, Any], ServerFrame]] = [
    (
        encode_subscribed(1, "event.42.seats", 17, "a1b2", True, {"free": [1, 2]}),
        {
            "op": "subscribed",
            "id": 1,
            "channel": "event.42.seats",
            "offset": 17,
            "epoch": "a1b2",
            "recovered": True,
            "snapshot": {"free": [1, 2]},
        },
        Subscribed(1, "event.42.seats", 17, "a1b2", True, {"free": [1, 2]}),
    ),
    (
        encode_subscribed(2, "user.a", 0, "", False, None),
        {
            "op": "subscribed",
            "id": 2,
            "channel": "user.a",
            "offset": 0,
            "epoch": "",
            "recovered": False,
            "snapshot": None,
        },
        Subscribed(2, "user.a", 0, "", False, None),
    ),
    (
        encode_subscribed(None, "event.42.seats", 90, "e2", False, None),  # a resync
        {
            "op": "subscribed",
            "id": None,
            "channel": "event.42.seats",
            "offset": 90,
            "epoch": "e2",
            "recovered": False,
            "snapshot": None,
        },
        Subscribed(None, "event.42.seats", 90, "e2", False, None),
    ),
    (
        encode_unsubscribed(2, "event.42.checkins"),
        {"op": "unsubscribed", "id": 2, "channel": "event.42.checkins"},
        Unsubscribed(2, "event.42.checkins"),
    ),
    (
        encode_pub("event.42.checkins", 18, "5f3a9c01", b'{"ticket":"T-1"}'),
        {
            "op": "pub",
            "channel": "event.42.checkins",
            "offset": 18,
            "epoch": "5f3a9c01",
            "data": {"ticket": "T-1"},
        },
        Pub("event.42.checkins", 18, "5f3a9c01", {"ticket": "T-1"}),
    ),
    (
        encode_result(3, {"ok": True}),
        {"op": "result", "id": 3, "result": {"ok": True}},
        Result(3, {"ok": True}),
    ),
    (encode_result(3, None), {"op": "result", "id": 3, "result": None}, Result(3, None)),
    (encode_pong(4), {"op": "pong", "id": 4}, Pong(4)),
    (
        encode_disconnect("slow_consumer", "fell 1000 messages behind"),
        {"op": "disconnect", "code": "slow_consumer", "reason": "fell 1000 messages behind"},
        Disconnect("slow_consumer", "fell 1000 messages behind"),
    ),
]


@pytest.mark.parametrize(("data", "wire", "frame"), SERVER_ENCODINGS)
def test_server_encoding(data: bytes, wire: dict[str, Any], frame: ServerFrame) -> None:
    assert orjson.loads(data) == wire
    assert decode_server_frames(data) == [frame]


def test_server_batch() -> None:
    data = join_frames([d for d, _, _ in SERVER_ENCODINGS])
    assert orjson.loads(data) == [w for _, w, _ in SERVER_ENCODINGS]
    assert decode_server_frames(data) == [f for _, _, f in SERVER_ENCODINGS]


@pytest.mark.parametrize(
    ("id_", "error", "wire"),
    [
        (
            3,
            Forbidden("role attendee may not call tokens.create"),
            {"code": "forbidden", "message": "role attendee may not call tokens.create"},
        ),
        (None, BadFrame("not JSON"), {"code": "bad_frame", "message": "not JSON"}),
        (
            7,
            TooLarge(2_000_000, 1_048_576),
            {
                "code": "too_large",
                "message": "2000000 bytes exceeds the limit of 1048576",
                "details": {"size": 2_000_000, "limit": 1_048_576},
            },
        ),
        (
            8,
            Unauthorized("bad", field="token"),
            {"code": "unauthorized", "message": "bad", "details": {"field": "token"}},
        ),
    ],
)
def test_error_round_trip(id_: int | None, error: BiltenError, wire: dict[str, Any]) -> None:
    data = encode_error(id_, error)
    assert orjson.loads(data) == {"op": "error", "id": id_, "error": wire}
    [frame] = decode_server_frames(data)
    assert isinstance(frame, Error) and frame.id == id_
    assert type(frame.error) is type(error)
    assert (frame.error.code, frame.error.message, frame.error.details) == (
        error.code,
        error.message,
        error.details,
    )


def test_error_with_unencodable_details_still_goes_out() -> None:
    wire = orjson.loads(encode_error(1, Forbidden("no", cause=object())))
    assert wire["error"]["details"]["cause"].startswith("<object object")


PAYLOADS: list[Any] = [
    {"a": 1},
    [1, "two", None],
    'text with "quotes", \\ and \u2603',
    42,
    -1.5,
    None,
    True,
    {"nested": {"deep": [{"x": "ü"}]}, "empty": {}},
    "",
]


@pytest.mark.parametrize("data", PAYLOADS)
@pytest.mark.parametrize(
    "channel", ["event.42.checkins", "user.A-b_9", f"event.{2**63 - 1}.dashboard"]
)
@pytest.mark.parametrize("offset", [0, 1, 2**63 - 1])
def test_pub_splice_equals_dict_form(data: Any, channel: str, offset: int) -> None:
    spliced = encode_pub(channel, offset, "e-1_Z", orjson.dumps(data))
    as_dict = {"op": "pub", "channel": channel, "offset": offset, "epoch": "e-1_Z", "data": data}
    assert orjson.loads(spliced) == as_dict
    assert spliced == orjson.dumps(as_dict)  # byte-identical to the slow path, too
    assert decode_server_frames(spliced) == [Pub(channel, offset, "e-1_Z", data)]


def test_pub_keeps_the_payload_bytes() -> None:
    # Not re-encoded: whatever JSON the publisher produced goes through as is.
    assert encode_pub("user.a", 1, "e1", b' { "a" : 1 } ') == (
        b'{"op":"pub","channel":"user.a","offset":1,"epoch":"e1","data": { "a" : 1 } }'
    )


@pytest.mark.parametrize("channel", ['user."a', "user.a\\", "", "user.ü", "x" * 129, 'a","op":"x'])
def test_pub_refuses_unsafe_channels(channel: str) -> None:
    with pytest.raises(BadChannel):
        encode_pub(channel, 1, "e1", b"{}")


@pytest.mark.parametrize("epoch", ["", 'a"b', "x" * 65, "é", "a b"])
def test_pub_refuses_unsafe_epochs(epoch: str) -> None:
    with pytest.raises(BadRequest):
        encode_pub("user.a", 1, epoch, b"{}")


def test_join_frames() -> None:
    one = encode_pong(1)
    assert join_frames([one]) is one
    assert join_frames([one, encode_pong(2)]) == b'[{"op":"pong","id":1},{"op":"pong","id":2}]'
    with pytest.raises(ValueError):
        join_frames([])


def test_disconnect_refuses_unknown_codes() -> None:
    with pytest.raises(ValueError):
        encode_disconnect(cast(DisconnectCode, "bored"), "x")


def test_server_frames_skip_unknown_ops() -> None:
    data = orjson.dumps([{"op": "presence", "who": []}, {"op": "pong", "id": 1}])
    assert decode_server_frames(data) == [Pong(1)]


@pytest.mark.parametrize(
    "message",
    [
        {"id": 1},
        {"op": 5},
        {"op": "subscribed", "id": 1, "channel": "user.a", "offset": 0, "recovered": False},
        {
            "op": "subscribed",
            "id": 1,
            "channel": "user.a",
            "offset": 0,
            "epoch": "",
            "recovered": "no",
        },
        {
            "op": "subscribed",
            "id": -1,
            "channel": "user.a",
            "offset": 0,
            "epoch": "",
            "recovered": False,
        },
        {"op": "unsubscribed", "id": 1},
        {"op": "pub", "channel": "user.a", "offset": "1", "data": 1},
        {"op": "pub", "offset": 1, "data": 1},
        {"op": "result", "result": 1},
        {"op": "error", "id": 1},
        {"op": "error", "id": 1, "error": "forbidden"},
        {"op": "error", "id": 1, "error": {"message": "no code"}},
        {"op": "error", "id": 1.5, "error": {"code": "forbidden"}},
        {"op": "error", "id": 1, "error": {"code": "forbidden", "details": [1]}},
        {"op": "pong"},
        {"op": "disconnect", "code": "reconnect"},
        {"op": "disconnect", "code": 4009, "reason": ""},
    ],
)
def test_malformed_server_frames(message: dict[str, Any]) -> None:
    with pytest.raises(BadFrame):
        decode_server_frames(orjson.dumps(message))


@pytest.mark.parametrize("data", [b"", b"[]", b"[1]", b"nope", b"null"])
def test_garbage_server_frames(data: bytes) -> None:
    with pytest.raises(BadFrame):
        decode_server_frames(data)


def test_unknown_error_codes_become_internal() -> None:
    [frame] = decode_server_frames(
        orjson.dumps(
            {"op": "error", "id": None, "error": {"code": "from_the_future", "message": "?"}}
        )
    )
    assert isinstance(frame, Error) and frame.error.code == "internal"


def test_a_malformed_too_large_fails_its_request_not_the_connection() -> None:
    [frame] = decode_server_frames(
        orjson.dumps(
            {"op": "error", "id": 1, "error": {"code": "too_large", "details": {"size": "big"}}}
        )
    )
    assert isinstance(frame, Error) and frame.error.code == "internal"
