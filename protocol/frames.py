"""WebSocket frames between clients and the hub: decoding, encoding, close codes.

docs/protocol.md §Frames. A text frame holds one JSON object, or a non-empty
array of them (a batch). Encoders return ready-to-send bytes; the hub's hot
path, `encode_pub`, splices an already-encoded payload instead of re-parsing it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import orjson

from bilten.protocol.errors import (
    BadChannel, BadFrame, BadRequest, BiltenError, UnknownOp, error_from_wire,
)

MAX_ID = 2**53  # ids stay exact in every JSON implementation (IEEE doubles)
MAX_OFFSET = 2**63
MAX_EPOCH_LENGTH = 64
MAX_METHOD_LENGTH = 64
DEFAULT_MAX_BATCH = 100
_METHOD = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_SAFE_CHANNEL = re.compile(r"[A-Za-z0-9_.\-]{1,128}")  # channels.py's charset

# docs/protocol.md §Disconnect codes: the `disconnect` frame's code and the
# WebSocket close code that follows it, in one table.
DisconnectCode = Literal["protocol_error", "token_expired", "unauthorized", "forbidden",
                         "slow_consumer", "reconnect", "ping_timeout", "rate_limited"]
CLOSE_CODES: Mapping[DisconnectCode, int] = MappingProxyType({
    "protocol_error": 4000,  # the client keeps breaking the protocol
    "token_expired": 4001,   # reconnect with a fresh token
    "unauthorized": 4002,    # the token is not (or no longer) valid
    "forbidden": 4003,       # the token no longer grants this connection
    "slow_consumer": 4008,   # the client fell behind; reconnect and recover
    "reconnect": 4009,       # the hub is shutting down or rebalancing
    "ping_timeout": 4010,    # nothing heard from the client for too long
    "rate_limited": 4029,    # too many frames; reconnect after a backoff
})
_SAME_TOKEN_FAILS = frozenset({"token_expired", "unauthorized", "forbidden"})
CLOSE_TOO_LARGE = 1009  # RFC 6455 §7.4.1: message too big (not a disconnect code)
CLOSE_INTERNAL = 1011   # RFC 6455 §7.4.1: unexpected server error, no details


def close_code(code: DisconnectCode) -> int:
    """The WebSocket close code sent after a `disconnect` frame with `code`."""
    return CLOSE_CODES[code]


def disconnect_code(close: int) -> DisconnectCode | None:
    """The disconnect code behind a close code (for a client that missed the frame)."""
    return next((name for name, value in CLOSE_CODES.items() if value == close), None)


def reconnect_allowed(code: str) -> bool:
    """Whether reconnecting with the same token can succeed after `code`.

    Unknown codes (a newer hub) allow it, with the client's usual backoff.
    """
    return code not in _SAME_TOKEN_FAILS


# --- client → hub (docs/protocol.md §Frames) ---


@dataclass(frozen=True, slots=True)
class Since:
    """The last publication a client saw on a channel (§Recovery)."""

    offset: int
    epoch: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Subscribe to `channel`, recovering what was missed after `since`."""

    id: int
    channel: str  # raw; checked by channels.parse_channel
    since: Since | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Stop receiving `channel`."""

    id: int
    channel: str


@dataclass(frozen=True, slots=True)
class Rpc:
    """Call a command (protocol/commands.py) by its method name."""

    id: int
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ping:
    """Application-level keepalive; answered by `pong`."""

    id: int


ClientFrame = Subscribe | Unsubscribe | Rpc | Ping


@dataclass(frozen=True, slots=True)
class Rejected:
    """One message of a frame that could not be decoded; answer it with `error`."""

    id: int | None
    error: BiltenError


def decode_client_frames(data: str | bytes, *,
                         max_batch: int = DEFAULT_MAX_BATCH) -> list[ClientFrame | Rejected]:
    """Decode one text frame from a client.

    Raises `BadFrame` when the frame as a whole is unusable; a bad message
    inside it becomes `Rejected`, carrying its id when that id was valid.
    """
    return [_client_message(m) for m in _messages(data, max_batch)]


def _client_message(msg: dict[str, Any]) -> ClientFrame | Rejected:
    raw_id = msg.get("id")
    id_ = raw_id if _is_int(raw_id, 0, MAX_ID) else None
    try:
        op = msg.get("op")
        if not isinstance(op, str):
            raise BadRequest("op must be a string", field="op")
        decode = _CLIENT_OPS.get(op)
        if decode is None:
            raise UnknownOp(f"unknown op {op[:32]!r}", op=op[:32])
        if id_ is None:
            raise BadRequest("id must be an integer from 0 to 2**53 - 1", field="id")
        return decode(id_, msg)
    except (BadRequest, UnknownOp) as error:
        return Rejected(id_, error)


def _subscribe(id_: int, msg: dict[str, Any]) -> Subscribe:
    raw = msg.get("since")
    if raw is None:
        return Subscribe(id_, _str(msg, "channel"))
    if not (isinstance(raw, dict) and _is_int(raw.get("offset"), 0, MAX_OFFSET)
            and isinstance(raw.get("epoch"), str) and len(raw["epoch"]) <= MAX_EPOCH_LENGTH):
        raise BadRequest('since must be {"offset": integer >= 0, "epoch": string of at '
                         f"most {MAX_EPOCH_LENGTH} characters}}", field="since")
    return Subscribe(id_, _str(msg, "channel"), Since(raw["offset"], raw["epoch"]))


def _rpc(id_: int, msg: dict[str, Any]) -> Rpc:
    method = _str(msg, "method")
    if len(method) > MAX_METHOD_LENGTH or not _METHOD.fullmatch(method):
        raise BadRequest(f"method {method[:MAX_METHOD_LENGTH]!r} is not a dotted lowercase "
                         f"name of at most {MAX_METHOD_LENGTH} characters", field="method")
    params = msg.get("params")
    if params is None:
        return Rpc(id_, method)
    if not isinstance(params, dict):
        raise BadRequest("params must be an object", field="params")
    return Rpc(id_, method, params)


_CLIENT_OPS: Mapping[str, Callable[[int, dict[str, Any]], ClientFrame]] = {
    "subscribe": _subscribe,
    "unsubscribe": lambda id_, msg: Unsubscribe(id_, _str(msg, "channel")),
    "rpc": _rpc,
    "ping": lambda id_, msg: Ping(id_),
}


def encode_subscribe(id: int, channel: str, since: Since | None = None) -> bytes:
    """A `subscribe` frame (client side)."""
    body: dict[str, Any] = {"op": "subscribe", "id": id, "channel": channel}
    if since is not None:
        body["since"] = {"offset": since.offset, "epoch": since.epoch}
    return orjson.dumps(body)


def encode_unsubscribe(id: int, channel: str) -> bytes:
    """An `unsubscribe` frame (client side)."""
    return orjson.dumps({"op": "unsubscribe", "id": id, "channel": channel})


def encode_rpc(id: int, method: str, params: Mapping[str, Any] | None = None) -> bytes:
    """An `rpc` frame (client side)."""
    return orjson.dumps({"op": "rpc", "id": id, "method": method, "params": dict(params or {})})


def encode_ping(id: int) -> bytes:
    """A `ping` frame (client side)."""
    return orjson.dumps({"op": "ping", "id": id})


# --- hub → client ---


def encode_subscribed(id: int, channel: str, offset: int, epoch: str, recovered: bool,
                      snapshot: Any) -> bytes:
    """Confirms a subscription; missed publications follow it (§Recovery, §Snapshots)."""
    return orjson.dumps({"op": "subscribed", "id": id, "channel": channel, "offset": offset,
                         "epoch": epoch, "recovered": recovered, "snapshot": snapshot})


def encode_unsubscribed(id: int, channel: str) -> bytes:
    """Confirms an unsubscription."""
    return orjson.dumps({"op": "unsubscribed", "id": id, "channel": channel})


def encode_pub(channel: str, offset: int, data_json: bytes) -> bytes:
    """A publication, with the payload's JSON bytes spliced in as they are.

    `channel` must be a valid channel name (its charset needs no JSON
    escaping) and `data_json` one complete JSON value.
    """
    if not _SAFE_CHANNEL.fullmatch(channel):
        raise BadChannel(f"refusing to splice channel {channel[:128]!r}")
    return b'{"op":"pub","channel":"%b","offset":%d,"data":%b}' % (
        channel.encode(), offset, data_json)


def encode_result(id: int, result: Any) -> bytes:
    """The successful answer to an `rpc`."""
    return orjson.dumps({"op": "result", "id": id, "result": result})


def encode_error(id: int | None, error: BiltenError) -> bytes:
    """The failed answer to a message (`id` None: the message had no valid id)."""
    # str() anything in details orjson cannot encode: an error must always go out.
    return orjson.dumps({"op": "error", "id": id, "error": error.to_wire()}, default=str)


def encode_pong(id: int) -> bytes:
    """The answer to a `ping`."""
    return orjson.dumps({"op": "pong", "id": id})


def encode_disconnect(code: DisconnectCode, reason: str) -> bytes:
    """Sent right before closing with `close_code(code)` (§Disconnect codes)."""
    if code not in CLOSE_CODES:
        raise ValueError(f"unknown disconnect code {code!r}")
    return orjson.dumps({"op": "disconnect", "code": code, "reason": reason})


def join_frames(frames: Sequence[bytes]) -> bytes:
    """One text frame for several encoded messages: itself alone, else a JSON array."""
    if not frames:
        raise ValueError("nothing to join")
    if len(frames) == 1:
        return frames[0]
    return b"[" + b",".join(frames) + b"]"


# --- hub → client, decoded (for the SDK and tests) ---


@dataclass(frozen=True, slots=True)
class Subscribed:
    """The hub's answer to `subscribe`."""

    id: int
    channel: str
    offset: int
    epoch: str
    recovered: bool
    snapshot: Any


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """The hub's answer to `unsubscribe`."""

    id: int
    channel: str


@dataclass(frozen=True, slots=True)
class Pub:
    """A publication on a subscribed channel."""

    channel: str
    offset: int
    data: Any


@dataclass(frozen=True, slots=True)
class Result:
    """The successful answer to an `rpc`."""

    id: int
    result: Any


@dataclass(frozen=True, slots=True)
class Error:
    """The failed answer to a client message."""

    id: int | None
    error: BiltenError


@dataclass(frozen=True, slots=True)
class Pong:
    """The answer to a `ping`."""

    id: int


@dataclass(frozen=True, slots=True)
class Disconnect:
    """The hub is about to close the connection; `code` says why (§Disconnect codes)."""

    code: str
    reason: str


ServerFrame = Subscribed | Unsubscribed | Pub | Result | Error | Pong | Disconnect


def decode_server_frames(data: str | bytes) -> list[ServerFrame]:
    """Decode one text frame from the hub; raise `BadFrame` on malformed input.

    Messages with an op this version does not know are skipped, so older
    clients keep working when the hub learns new ones.
    """
    frames: list[ServerFrame] = []
    for msg in _messages(data, None):
        op = msg.get("op")
        decode = _SERVER_OPS.get(op) if isinstance(op, str) else None
        if decode is None:
            if isinstance(op, str):
                continue
            raise BadFrame("a server message has no op")
        try:
            frames.append(decode(msg))
        except (BadRequest, TypeError, ValueError) as error:
            raise BadFrame(f"malformed {op} frame: {error}") from None
    return frames


def _error(msg: dict[str, Any]) -> Error:
    raw_id, body = msg.get("id"), msg.get("error")
    if not (raw_id is None or _is_int(raw_id, 0, MAX_ID)) or not isinstance(body, dict) \
            or not isinstance(body.get("code"), str) \
            or not isinstance(body.get("details", {}), dict):
        raise BadRequest("error needs an id (or null) and an error object with a code")
    return Error(raw_id, error_from_wire(body))


_SERVER_OPS: Mapping[str, Callable[[dict[str, Any]], ServerFrame]] = {
    "subscribed": lambda m: Subscribed(
        _id(m), _str(m, "channel"), _int(m, "offset", MAX_OFFSET), _str(m, "epoch"),
        _bool(m, "recovered"), m.get("snapshot")),
    "unsubscribed": lambda m: Unsubscribed(_id(m), _str(m, "channel")),
    "pub": lambda m: Pub(_str(m, "channel"), _int(m, "offset", MAX_OFFSET), m.get("data")),
    "result": lambda m: Result(_id(m), m.get("result")),
    "error": _error,
    "pong": lambda m: Pong(_id(m)),
    "disconnect": lambda m: Disconnect(_str(m, "code"), _str(m, "reason")),
}


# --- shared field checks ---


def _messages(data: str | bytes, max_batch: int | None) -> list[dict[str, Any]]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise BadFrame(f"not JSON: {error}") from None
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list) or not value:
        raise BadFrame("a frame is a JSON object or a non-empty array of objects")
    if max_batch is not None and len(value) > max_batch:
        raise BadFrame(f"a batch of {len(value)} messages exceeds the limit of {max_batch}",
                       size=len(value), limit=max_batch)
    if not all(isinstance(m, dict) for m in value):
        raise BadFrame("a frame is a JSON object or a non-empty array of objects")
    return value


def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value < high


def _int(msg: dict[str, Any], key: str, high: int) -> int:
    value = msg.get(key)
    if not _is_int(value, 0, high):
        raise BadRequest(f"{key} must be an integer from 0 to {high - 1}", field=key)
    return int(value)  # type: ignore[arg-type]  # checked just above


def _id(msg: dict[str, Any]) -> int:
    return _int(msg, "id", MAX_ID)


def _str(msg: dict[str, Any], key: str) -> str:
    value = msg.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string", field=key)
    return value


def _bool(msg: dict[str, Any], key: str) -> bool:
    value = msg.get(key)
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false", field=key)
    return value
