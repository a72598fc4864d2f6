"""Door check-in rules: scan requests, verdicts, and the decision itself.

docs/checkin.md. `decide` is the whole rule of who gets in, as a pure
function of the ticket's state and the scan: the check-in worker runs it
inside a transaction holding the ticket's row lock (so one entry per ticket
under any concurrency), and an offline scanner runs the same function on its
local copy of the ticket list. A decided scan is a `ScanVerdict`: the worker
builds it, stores it, publishes it and revises it as a typed value, and it
becomes JSON (docs/checkin.md §Verdicts) only in `to_wire`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, get_args

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
class Previous:
    """Where and when the ticket's last standing movement before a scan was."""

    gate: str
    at: datetime

    def to_wire(self) -> dict[str, Any]:
        """`previous` of a verdict: `{gate, at}`."""
        return {"gate": self.gate, "at": self.at.isoformat()}


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of `decide`: verdict, reason, and the ticket's next state."""

    status: Status
    reason: str | None
    state: TicketState
    previous: Previous | None = None


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
        Previous(state.last_gate, state.last_at)
        if state.last_gate is not None and state.last_at is not None
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


@dataclass(frozen=True, slots=True)
class VerdictTicket:
    """The ticket a verdict is about, as staff at the door see it."""

    id: int
    holder: str
    type: str
    state: str

    def to_wire(self) -> dict[str, Any]:
        """`ticket` of a verdict: `{id, holder, type, state}`."""
        return {"id": self.id, "holder": self.holder, "type": self.type, "state": self.state}


@dataclass(frozen=True, slots=True)
class ScanVerdict:
    """A decided scan (docs/checkin.md §Verdicts), online or synced.

    The same value is the answer of `checkin.scan`, the stored `scans.verdict`,
    the publication on `event.{id}.checkins` and the `checkin.decided` domain
    event, so it is built once and changed only into new values
    (`dataclasses.replace`) when a later sync revises it (`revised_at`).
    """

    status: Status
    reason: str | None
    ticket: VerdictTicket | None
    previous: Previous | None
    gate: str
    direction: Direction
    scanned_at: datetime
    nonce: str
    code: str
    event_id: int
    offline: bool
    device: str | None
    inside: int
    revised_at: datetime | None = None

    def to_wire(self) -> dict[str, Any]:
        """The verdict's JSON object; `revised_at` only on a revised one."""
        body: dict[str, Any] = {
            "status": self.status,
            "reason": self.reason,
            "ticket": None if self.ticket is None else self.ticket.to_wire(),
            "previous": None if self.previous is None else self.previous.to_wire(),
            "gate": self.gate,
            "direction": self.direction,
            "scanned_at": self.scanned_at.isoformat(),
            "nonce": self.nonce,
            "code": self.code,
            "event_id": self.event_id,
            "offline": self.offline,
            "device": self.device,
            "inside": self.inside,
        }
        if self.revised_at is not None:
            body["revised_at"] = self.revised_at.isoformat()
        return body

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> ScanVerdict:
        """A verdict from its JSON object (a stored one, or one a server sent).

        Raises `ValueError` naming the field on anything `to_wire` would not
        have written: such a verdict is corrupt, not a caller's mistake.
        """
        ticket, previous = body.get("ticket"), body.get("previous")
        revised_at = body.get("revised_at")
        return cls(
            _one_of(body, "status", get_args(Status)),
            _text(body, "reason", nullable=True),
            None
            if ticket is None
            else VerdictTicket(
                _int(ticket, "id"),
                _text(ticket, "holder"),
                _text(ticket, "type"),
                _text(ticket, "state"),
            ),
            None if previous is None else Previous(_text(previous, "gate"), _time(previous, "at")),
            _text(body, "gate"),
            _one_of(body, "direction", get_args(Direction)),
            _time(body, "scanned_at"),
            _text(body, "nonce"),
            _text(body, "code"),
            _int(body, "event_id"),
            _bool(body, "offline"),
            _text(body, "device", nullable=True),
            _int(body, "inside"),
            None if revised_at is None else _time(body, "revised_at"),
        )


def _field(body: Any, name: str, kind: type) -> Any:
    value = body.get(name) if isinstance(body, Mapping) else None
    # bool is an int to Python, never to JSON.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"verdict field {name!r} must be {kind.__name__}, not {value!r}")
    return value


def _text(body: Any, name: str, *, nullable: bool = False) -> Any:
    if nullable and isinstance(body, Mapping) and body.get(name) is None:
        return None
    return _field(body, name, str)


def _int(body: Any, name: str) -> int:
    value: int = _field(body, name, int)
    return value


def _bool(body: Any, name: str) -> bool:
    value: bool = _field(body, name, bool)
    return value


def _one_of(body: Any, name: str, allowed: tuple[str, ...]) -> Any:
    value = _field(body, name, str)
    if value not in allowed:
        raise ValueError(f"verdict field {name!r} must be one of {allowed}, not {value!r}")
    return value


def _time(body: Any, name: str) -> datetime:
    text = _field(body, name, str)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValueError(f"verdict field {name!r} must be an ISO 8601 time with offset: {text!r}")
    return value
