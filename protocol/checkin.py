"""Door check-in rules: scan requests, verdicts, and the decision itself.

docs/checkin.md. `decide` is the whole rule of who gets in, as a pure
function of the ticket's state and the scan: the check-in worker runs it
inside a transaction holding the ticket's row lock (so one entry per ticket
under any concurrency), and an offline scanner runs the same function on its
local copy of the ticket list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from bilten.protocol.errors import BadRequest
from bilten.protocol.params import parse_time

Direction = Literal["in", "out"]
Status = Literal["ok", "rejected", "conflict"]
REASONS = (
    "invalid",
    "unknown",
    "wrong_event",
    "revoked",
    "already_inside",
    "not_inside",
    "gate_not_allowed",
    "reentry_forbidden",
)
GATE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NONCE = re.compile(r"^[A-Za-z0-9_.:-]{8,80}$")


@dataclass(frozen=True, slots=True)
class ScanRequest:
    """One scan as a door device reports it."""

    code: str
    gate: str
    direction: Direction
    scanned_at: datetime | None
    nonce: str | None


@dataclass(frozen=True, slots=True)
class TicketState:
    """What the decision needs to know about a ticket."""

    valid: bool
    inside: bool = False
    entries: int = 0
    last_gate: str | None = None
    last_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of `decide`: verdict, reason, and the ticket's next state."""

    status: Status
    reason: str | None
    state: TicketState
    previous: dict[str, Any] | None = None


def parse_scan(params: dict[str, Any]) -> ScanRequest:
    """Validate `checkin.scan` params (docs/checkin.md §Scanning)."""
    code = params.get("code")
    if not isinstance(code, str) or not code or len(code) > 512:
        raise BadRequest("code must be the scanned text", field="code")
    gate = params.get("gate")
    if not isinstance(gate, str) or not GATE.match(gate):
        raise BadRequest("gate must be a gate name", field="gate")
    direction = params.get("direction", "in")
    if direction not in ("in", "out"):
        raise BadRequest('direction must be "in" or "out"', field="direction")
    nonce = params.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not NONCE.match(nonce)):
        raise BadRequest("nonce must be 8-80 characters of [A-Za-z0-9_.:-]", field="nonce")
    raw_time = params.get("scanned_at")
    scanned_at = None if raw_time is None else parse_time(raw_time, "scanned_at")
    return ScanRequest(code.strip(), gate, direction, scanned_at, nonce)


def decide(
    state: TicketState,
    direction: Direction,
    gate: str,
    at: datetime,
    *,
    allowed_gates: tuple[str, ...] | None,
    allow_reentry: bool,
) -> Decision:
    """Who gets in: the rule, for a ticket known to belong to the event."""
    if allowed_gates is not None and gate not in allowed_gates:
        return Decision("rejected", "gate_not_allowed", state)
    if not state.valid:
        return Decision("rejected", "revoked", state)
    previous = (
        {"gate": state.last_gate, "at": state.last_at.isoformat()}
        if state.last_at is not None
        else None
    )
    if direction == "in":
        if state.inside:
            return Decision("rejected", "already_inside", state, previous)
        if state.entries > 0 and not allow_reentry:
            return Decision("rejected", "reentry_forbidden", state, previous)
        return Decision(
            "ok",
            None,
            replace(state, inside=True, entries=state.entries + 1, last_gate=gate, last_at=at),
            previous,
        )
    if not state.inside:
        return Decision("rejected", "not_inside", state, previous)
    return Decision("ok", None, replace(state, inside=False, last_gate=gate, last_at=at), previous)
