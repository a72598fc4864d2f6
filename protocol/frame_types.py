"""The typed messages of the WebSocket protocol, one frozen dataclass per op.

docs/protocol.md §Frames. Pure data: frames.py decodes JSON into these and
encodes them back; `match` on the class narrows a decoded message. Import them
from frames.py, which re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bilten.protocol.errors import BiltenError

# --- client → hub ---


@dataclass(frozen=True, slots=True)
class Since:
    """The last publication a client saw on a channel (§Recovery)."""

    offset: int
    epoch: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    """`subscribe`: receive `channel`, first recovering what was missed after `since`."""

    id: int
    channel: str  # raw; the hub checks it with channels.parse_channel
    since: Since | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """`unsubscribe`: stop receiving `channel`."""

    id: int
    channel: str


@dataclass(frozen=True, slots=True)
class Rpc:
    """`rpc`: call a command (protocol/commands.py) by its method name."""

    id: int
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ping:
    """`ping`: application-level keepalive, answered by `pong`."""

    id: int


ClientFrame = Subscribe | Unsubscribe | Rpc | Ping


@dataclass(frozen=True, slots=True)
class Rejected:
    """One message of a client frame that could not be decoded; answer with `error`."""

    id: int | None
    error: BiltenError


# --- hub → client ---


@dataclass(frozen=True, slots=True)
class Subscribed:
    """`subscribed`: the answer to `subscribe`; missed publications follow it.

    `id` None: the hub resynchronized a subscription on its own (§Recovery).
    """

    id: int | None
    channel: str
    offset: int
    epoch: str
    recovered: bool
    snapshot: Any


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """`unsubscribed`: the answer to `unsubscribe`."""

    id: int
    channel: str


@dataclass(frozen=True, slots=True)
class Pub:
    """`pub`: a publication on a subscribed channel."""

    channel: str
    offset: int
    epoch: str
    data: Any


@dataclass(frozen=True, slots=True)
class Result:
    """`result`: the successful answer to an `rpc`."""

    id: int
    result: Any


@dataclass(frozen=True, slots=True)
class Error:
    """`error`: the failed answer to a client message (`id` None: it had no valid id)."""

    id: int | None
    error: BiltenError


@dataclass(frozen=True, slots=True)
class Pong:
    """`pong`: the answer to a `ping`."""

    id: int


@dataclass(frozen=True, slots=True)
class Disconnect:
    """`disconnect`: the hub is about to close; `code` says why (§Disconnect codes)."""

    code: str
    reason: str


ServerFrame = Subscribed | Unsubscribed | Pub | Result | Error | Pong | Disconnect
