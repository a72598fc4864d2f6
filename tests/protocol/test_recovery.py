"""The recovery rules as tables: the hub's fan-out and the SDK both follow these."""

from __future__ import annotations

import pytest

from bilten.protocol.recovery import (
    EMPTY,
    Position,
    Step,
    after_subscribed,
    classify,
    in_sequence,
    snapshot_offset,
)

E = "5f3a9c01"


@pytest.mark.parametrize(
    ("position", "epoch", "offset", "step"),
    [
        # The same history: exactly the next offset continues it.
        (Position(E, 17), E, 18, "next"),
        (Position(E, 17), E, 17, "duplicate"),
        (Position(E, 17), E, 3, "duplicate"),
        (Position(E, 17), E, 19, "gap"),
        (Position(E, 17), E, 500, "gap"),
        # Another history: never a duplicate, whatever the offset.
        (Position(E, 17), "c41d0e6a", 1, "new_epoch"),
        (Position(E, 17), "c41d0e6a", 18, "new_epoch"),
        (Position(E, 17), "", 18, "new_epoch"),
        # No epoch yet (the channel was empty): any epoch continues it.
        (EMPTY, E, 1, "next"),
        (EMPTY, "c41d0e6a", 1, "next"),
        (EMPTY, E, 2, "gap"),
        (EMPTY, E, 0, "duplicate"),
        # Recovered from "nothing yet" at an offset, the epoch still unknown.
        (Position("", 4), E, 5, "next"),
        (Position("", 4), E, 4, "duplicate"),
        (Position("", 4), E, 7, "gap"),
    ],
)
def test_classify(position: Position, epoch: str, offset: int, step: Step) -> None:
    assert classify(position, epoch, offset) == step


@pytest.mark.parametrize(
    ("position", "frame", "recovered", "after"),
    [
        # Recovered: the missed publications follow, the position stays.
        (Position(E, 17), (E, 25), True, Position(E, 17)),
        (EMPTY, (E, 3), True, EMPTY),
        # Not recovered: the frame's position is the new start.
        (Position(E, 17), ("c41d0e6a", 90), False, Position("c41d0e6a", 90)),
        (Position(E, 17), (E, 40), False, Position(E, 40)),
        (EMPTY, ("", 0), False, EMPTY),
        (EMPTY, (E, 310), False, Position(E, 310)),
    ],
)
def test_after_subscribed(
    position: Position, frame: tuple[str, int], recovered: bool, after: Position
) -> None:
    assert after_subscribed(position, *frame, recovered) == after


@pytest.mark.parametrize(
    ("offset", "items", "taken"),
    [
        (17, [18, 19, 20], [18, 19, 20]),
        (17, [], []),
        (17, [16, 17, 18, 18, 19], [18, 19]),  # repeats are skipped
        (17, [18, 20, 21], [18]),  # nothing beyond a hole
        (17, [19, 18, 19], [18, 19]),  # order as given: 19 first does not continue 17
        (0, [1, 2], [1, 2]),
    ],
)
def test_in_sequence(offset: int, items: list[int], taken: list[int]) -> None:
    assert in_sequence(offset, items, lambda item: item) == taken


def test_in_sequence_keeps_the_items() -> None:
    items = [(18, "a"), (18, "b"), (19, "c")]
    assert in_sequence(17, items, lambda item: item[0]) == [(18, "a"), (19, "c")]


@pytest.mark.parametrize(
    ("channel", "snap_epoch", "snap_offset", "start"),
    [
        (Position(E, 310), E, 300, 300),  # older than the channel: the hub fills in between
        (Position(E, 310), E, 320, 320),  # newer: live publications catch up
        (Position(E, 310), "c41d0e6a", 300, 310),  # another history: cannot be placed
        (Position(E, 310), None, None, 310),  # no position given with it
        (Position(E, 310), E, None, 310),
        (EMPTY, "", 0, 0),
    ],
)
def test_snapshot_offset(
    channel: Position, snap_epoch: str | None, snap_offset: int | None, start: int
) -> None:
    assert snapshot_offset(channel, snap_epoch, snap_offset) == start
