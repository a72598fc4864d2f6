"""`protocol.checkin.decide` as a table: every verdict and reason, for every direction,
ticket standing and re-entry rule (docs/checkin.md §Verdicts)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bilten.protocol.checkin import REASONS, Decision, Direction, Previous, TicketState, decide

EARLIER = datetime(2027, 6, 1, 17, 2, 26, tzinfo=UTC)
NOW = datetime(2027, 6, 1, 18, 30, tzinfo=UTC)

# A ticket's standing before the scan.
FRESH = TicketState(valid=True)
INSIDE = TicketState(valid=True, inside=True, entries=1, last_gate="north", last_at=EARLIER)
LEFT = TicketState(valid=True, inside=False, entries=1, last_gate="south", last_at=EARLIER)
REVOKED = TicketState(valid=False, inside=True, entries=1, last_gate="north", last_at=EARLIER)
# Known to be inside (from an offline bundle) but not when: no time, so no `previous`.
INSIDE_UNTIMED = TicketState(valid=True, inside=True, entries=1, last_gate="north")

PREV_NORTH = Previous("north", EARLIER)
PREV_SOUTH = Previous("south", EARLIER)

# Reasons decided before `decide` runs: the code itself (signature, event, ticket row).
BEFORE_DECIDE = {"invalid", "unknown", "wrong_event"}

# (before, direction, gate, allowed gates, re-entry allowed) → (status, reason, previous)
TABLE: list[
    tuple[
        TicketState,
        Direction,
        str,
        tuple[str, ...] | None,
        bool,
        str,
        str | None,
        Previous | None,
    ]
] = [
    # In, for each standing, with and without re-entry.
    (FRESH, "in", "north", None, True, "ok", None, None),
    (FRESH, "in", "north", None, False, "ok", None, None),
    (INSIDE, "in", "south", None, True, "rejected", "already_inside", PREV_NORTH),
    (INSIDE, "in", "south", None, False, "rejected", "already_inside", PREV_NORTH),
    (LEFT, "in", "north", None, True, "ok", None, PREV_SOUTH),
    (LEFT, "in", "north", None, False, "rejected", "reentry_forbidden", PREV_SOUTH),
    (INSIDE_UNTIMED, "in", "north", None, True, "rejected", "already_inside", None),
    # Out, for each standing, with and without re-entry (the rule is about coming back).
    (FRESH, "out", "north", None, True, "rejected", "not_inside", None),
    (FRESH, "out", "north", None, False, "rejected", "not_inside", None),
    (INSIDE, "out", "south", None, True, "ok", None, PREV_NORTH),
    (INSIDE, "out", "south", None, False, "ok", None, PREV_NORTH),
    (LEFT, "out", "north", None, True, "rejected", "not_inside", PREV_SOUTH),
    (LEFT, "out", "north", None, False, "rejected", "not_inside", PREV_SOUTH),
    # Revoked: nobody gets in or out on it, and it says nothing of where it was.
    (REVOKED, "in", "north", None, True, "rejected", "revoked", None),
    (REVOKED, "out", "north", None, True, "rejected", "revoked", None),
    # Staff gate limits come first, even before a revocation.
    (FRESH, "in", "south", ("north",), True, "rejected", "gate_not_allowed", None),
    (REVOKED, "in", "south", ("north",), True, "rejected", "gate_not_allowed", None),
    (INSIDE, "out", "south", ("north",), True, "rejected", "gate_not_allowed", None),
    (FRESH, "in", "north", (), True, "rejected", "gate_not_allowed", None),
    (FRESH, "in", "north", ("north", "south"), True, "ok", None, None),
]


@pytest.mark.parametrize(
    ("before", "direction", "gate", "allowed", "reentry", "status", "reason", "previous"), TABLE
)
def test_decide(
    before: TicketState,
    direction: Direction,
    gate: str,
    allowed: tuple[str, ...] | None,
    reentry: bool,
    status: str,
    reason: str | None,
    previous: Previous | None,
) -> None:
    decision = decide(before, direction, gate, NOW, allowed_gates=allowed, allow_reentry=reentry)
    assert (decision.status, decision.reason, decision.previous) == (status, reason, previous)
    if status == "rejected":
        assert decision.state == before  # a refusal moves no one
    else:
        moved = TicketState(
            valid=True,
            inside=direction == "in",
            entries=before.entries + (direction == "in"),
            last_gate=gate,
            last_at=NOW,
        )
        assert decision.state == moved


def test_the_table_covers_every_reason_decide_gives() -> None:
    given = {row[6] for row in TABLE if row[6] is not None}
    assert given == set(REASONS) - BEFORE_DECIDE
    assert {row[5] for row in TABLE} == {"ok", "rejected"}  # conflicts are for synced scans


def test_a_day_at_the_door() -> None:
    """Decisions chain: each one's state is the next one's input."""
    state, seen = FRESH, []
    for direction, gate in (
        ("in", "north"),
        ("in", "south"),
        ("out", "south"),
        ("out", "north"),
        ("in", "north"),
    ):
        decision: Decision = decide(
            state, direction, gate, NOW, allowed_gates=None, allow_reentry=True
        )
        seen.append(decision.reason or decision.status)
        state = decision.state
    assert seen == ["ok", "already_inside", "ok", "not_inside", "ok"]
    assert (state.inside, state.entries, state.last_gate) == (True, 2, "north")
