"""WebSocket frames between clients and the hub: decoding and encoding.

docs/protocol.md §Frames. A frame holds one JSON object or a non-empty array of
them (a batch). Encoders return ready-to-send bytes; the hot path, `encode_pub`,
splices an already-encoded payload instead of re-parsing it. The message types
(frame_types.py) are re-exported here; disconnect codes are in disconnects.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeGuard

import orjson

from bilten.protocol.disconnects import CLOSE_CODES, DisconnectCode
from bilten.protocol.errors import (
    BadChannel,
    BadFrame,
    BadRequest,
    BiltenError,
    UnknownOp,
    error_from_wire,
)
from bilten.protocol.frame_types import (
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
)
from bilten.protocol.params import MAX_NESTING, nesting

__all__ = [
    "DEFAULT_MAX_BATCH",
    "MAX_ID",
    "ClientFrame",
    "Disconnect",
    "Error",
    "Ping",
    "Pong",
    "Pub",
    "Rejected",
    "Result",
    "Rpc",
    "ServerFrame",
    "Since",
    "Subscribe",
    "Subscribed",
    "Unsubscribe",
    "Unsubscribed",
    "decode_client_frames",
    "decode_server_frames",
    "encode_disconnect",
    "encode_error",
    "encode_ping",
    "encode_pong",
    "encode_pub",
    "encode_result",
    "encode_rpc",
    "encode_subscribe",
    "encode_subscribed",
    "encode_unsubscribe",
    "encode_unsubscribed",
    "join_frames",
]

MAX_ID = 2**53  # ids stay exact in every JSON implementation (IEEE doubles)
MAX_OFFSET = 2**63
MAX_EPOCH_LENGTH = 64
MAX_METHOD_LENGTH = 64
DEFAULT_MAX_BATCH = 100
_METHOD = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_SAFE_CHANNEL = re.compile(r"[A-Za-z0-9_.\-]{1,128}")  # channels.py's charset
_SAFE_EPOCH = re.compile(r"[A-Za-z0-9_\-]{1,64}")

# --- client → hub (docs/protocol.md §Frames) ---


def decode_client_frames(
    data: str | bytes, *, max_batch: int = DEFAULT_MAX_BATCH
) -> list[ClientFrame | Rejected]:
    """Decode one text frame from a client.

    Raises `BadFrame` when the frame as a whole is unusable (including one
    nested deeper than `MAX_NESTING`: its params could not be written on to a
    worker); a bad message inside it becomes `Rejected`, carrying its id when
    that id was valid.
    """
    messages = _messages(data, max_batch)
    raw = data.encode() if isinstance(data, str) else data
    # Fast path: a frame with few brackets cannot nest deeply; only others are walked.
    if raw.count(b"{") + raw.count(b"[") > MAX_NESTING and nesting(messages) > MAX_NESTING:
        raise BadFrame(f"the frame nests deeper than {MAX_NESTING} levels", limit=MAX_NESTING)
    return [_client_message(m) for m in messages]


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
    if not (
        isinstance(raw, dict)
        and _is_int(raw.get("offset"), 0, MAX_OFFSET)
        and isinstance(raw.get("epoch"), str)
        and len(raw["epoch"]) <= MAX_EPOCH_LENGTH
    ):
        raise BadRequest(
            'since must be {"offset": integer >= 0, "epoch": string of at '
            f"most {MAX_EPOCH_LENGTH} characters}}",
            field="since",
        )
    return Subscribe(id_, _str(msg, "channel"), Since(raw["offset"], raw["epoch"]))


def _rpc(id_: int, msg: dict[str, Any]) -> Rpc:
    method = _str(msg, "method")
    if len(method) > MAX_METHOD_LENGTH or not _METHOD.fullmatch(method):
        raise BadRequest(
            f"method {method[:MAX_METHOD_LENGTH]!r} is not a dotted lowercase "
            f"name of at most {MAX_METHOD_LENGTH} characters",
            field="method",
        )
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


def encode_subscribed(
    id: int | None, channel: str, offset: int, epoch: str, recovered: bool, snapshot: Any
) -> bytes:
    """Confirms a subscription; missed publications follow it (§Recovery, §Snapshots).

    `id` None: unsolicited, the hub moved a live subscription's position (§Recovery).
    """
    return orjson.dumps(
        {
            "op": "subscribed",
            "id": id,
            "channel": channel,
            "offset": offset,
            "epoch": epoch,
            "recovered": recovered,
            "snapshot": snapshot,
        }
    )


def encode_unsubscribed(id: int, channel: str) -> bytes:
    """Confirms an unsubscription."""
    return orjson.dumps({"op": "unsubscribed", "id": id, "channel": channel})


def encode_pub(channel: str, offset: int, epoch: str, data_json: bytes) -> bytes:
    """A publication, with the payload's JSON bytes spliced in as they are.

    `channel` must be a valid channel name and `epoch` a safe token (neither
    needs JSON escaping); `data_json` must be one complete JSON value.
    """
    if not _SAFE_CHANNEL.fullmatch(channel):
        raise BadChannel(f"refusing to splice channel {channel[:128]!r}")
    if not _SAFE_EPOCH.fullmatch(epoch):
        raise BadRequest(f"refusing to splice epoch {epoch[:64]!r}")
    return b'{"op":"pub","channel":"%b","offset":%d,"epoch":"%b","data":%b}' % (
        channel.encode(),
        offset,
        epoch.encode(),
        data_json,
    )


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
    return frames[0] if len(frames) == 1 else b"[" + b",".join(frames) + b"]"


# --- hub → client, decoded (for the SDK and tests) ---


def decode_server_frames(data: str | bytes) -> list[ServerFrame]:
    """Decode one text frame from the hub; raise `BadFrame` on malformed input.

    Messages with an op this version does not know are skipped, so older
    clients keep working when the hub learns new ones.
    """
    frames: list[ServerFrame] = []
    for msg in _messages(data, None):
        op = msg.get("op")
        if not isinstance(op, str):
            raise BadFrame("a server message has no op")
        decode = _SERVER_OPS.get(op)
        if decode is None:
            continue  # an op from a newer hub
        try:
            frames.append(decode(msg))
        except (BadRequest, TypeError, ValueError) as error:
            raise BadFrame(f"malformed {op} frame: {error}") from None
    return frames


def _error(msg: dict[str, Any]) -> Error:
    body = msg.get("error")
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("code"), str)
        or not isinstance(body.get("details", {}), dict)
    ):
        raise BadRequest("error needs an error object with a code")
    return Error(_id_or_none(msg), error_from_wire(body))


_SERVER_OPS: Mapping[str, Callable[[dict[str, Any]], ServerFrame]] = {
    "subscribed": lambda m: Subscribed(
        _id_or_none(m),
        _str(m, "channel"),
        _int(m, "offset", MAX_OFFSET),
        _str(m, "epoch"),
        _bool(m, "recovered"),
        m.get("snapshot"),
    ),
    "unsubscribed": lambda m: Unsubscribed(_id(m), _str(m, "channel")),
    "pub": lambda m: Pub(
        _str(m, "channel"), _int(m, "offset", MAX_OFFSET), _str(m, "epoch"), m.get("data")
    ),
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
    if isinstance(value, list) and max_batch is not None and len(value) > max_batch:
        raise BadFrame(
            f"a batch of {len(value)} messages exceeds the limit of {max_batch}",
            size=len(value),
            limit=max_batch,
        )
    if not isinstance(value, list) or not value or not all(isinstance(m, dict) for m in value):
        raise BadFrame("a frame is a JSON object or a non-empty array of objects")
    return value


def _is_int(value: object, low: int, high: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value < high


def _int(msg: dict[str, Any], key: str, high: int) -> int:
    value = msg.get(key)
    if not _is_int(value, 0, high):
        raise BadRequest(f"{key} must be an integer from 0 to {high - 1}", field=key)
    return value


def _id(msg: dict[str, Any]) -> int:
    return _int(msg, "id", MAX_ID)


def _id_or_none(msg: dict[str, Any]) -> int | None:  # unsolicited replies carry id null
    return None if msg.get("id") is None else _id(msg)


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
