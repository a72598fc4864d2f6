"""Recovery rules: where a publication stands against a subscriber's position.

docs/protocol.md §Recovery. A subscriber's position in a channel is the epoch
and offset of the last publication it has. The hub (hub/fanout.py) keeps one
per connection and channel and fills gaps from history; the SDK
(clients/_subscription.py) keeps one per subscription and drops what it has
already seen. Both judge every publication by `classify`, move by
`after_subscribed` when the hub answers a subscribe, and the hub also by
`in_sequence` and `snapshot_offset`: one rule for both sides, tested without I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, TypeVar

T = TypeVar("T")

Step = Literal["next", "duplicate", "gap", "new_epoch"]
"""next: offset + 1 in the same history; duplicate: at or before the position;
gap: publications are missing in between; new_epoch: another history."""


@dataclass(frozen=True, slots=True)
class Position:
    """The epoch and offset of the last publication a subscriber has ("", 0: none yet)."""

    epoch: str = ""
    offset: int = 0


EMPTY = Position()


def classify(position: Position, epoch: str, offset: int) -> Step:
    """Where the publication at `offset` in `epoch` stands against `position`.

    A position without an epoch was taken on an empty channel: any epoch
    continues it, so the channel's first publication (offset 1) is `next`.
    """
    if epoch != position.epoch and position.epoch:
        return "new_epoch"
    if offset <= position.offset:
        return "duplicate"
    return "next" if offset == position.offset + 1 else "gap"


def after_subscribed(position: Position, epoch: str, offset: int, recovered: bool) -> Position:
    """The position once `subscribed` arrives with `epoch`, `offset` and `recovered`.

    Recovered: the missed publications follow, so the position stays where it
    was. Otherwise the frame's offset and epoch are the new start, and what
    lies before is lost to the subscriber.
    """
    return position if recovered else Position(epoch, offset)


def in_sequence(offset: int, items: Iterable[T], offset_of: Callable[[T], int]) -> list[T]:
    """The items that continue `offset` one by one, in the order given.

    An item is taken when its offset is one more than the last taken (or than
    `offset`); repeats and items beyond a hole are skipped.
    """
    taken = []
    for item in items:
        if offset_of(item) == offset + 1:
            taken.append(item)
            offset += 1
    return taken


def snapshot_offset(channel: Position, snap_epoch: str | None, snap_offset: int | None) -> int:
    """The offset a snapshot stands at: its own when it is of the channel's epoch.

    A snapshot of another (older) history cannot be placed in this one; the
    subscriber then starts at the channel's current offset.
    """
    if snap_epoch == channel.epoch and snap_offset is not None:
        return snap_offset
    return channel.offset
