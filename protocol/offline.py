"""Offline check-in: the bundle a door device decides from, and the sync of its scans.

docs/checkin.md §Offline bundle and §Sync. A device that loses the network
keeps scanning: it verifies codes with the event's public key, decides with
`protocol.checkin.decide` on its copy of the ticket list, and later uploads
what it decided with `checkin.sync`. Both wire shapes are encoded and
validated here, without I/O, for the worker and for the door CLI alike.

The bundle stays compact for events of 50,000 tickets: columns of arrays
instead of one object per ticket, ticket types and gates as indexes into a
name list, and every id list delta-encoded (ascending ids; the first value is
an id, each next one the difference to the one before).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from bilten.protocol.checkin import Direction, ScanRequest, TicketState, parse_scan
from bilten.protocol.errors import BadRequest, BiltenError
from bilten.protocol.params import parse_time

BUNDLE_FORMAT = 1
MAX_SYNC_SCANS = 1000
# A device clock this far ahead of the server's is wrong, not early.
MAX_CLOCK_AHEAD = timedelta(minutes=15)
DEVICE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
DeviceVerdict = Literal["ok", "rejected"]


class BadBundle(BiltenError):
    """A bundle that does not follow docs/checkin.md §Offline bundle."""

    code = "bad_bundle"


def initials(holder: str) -> str:
    """A holder's initials for the door: "Amra H." -> "A.H.", "Madonna" -> "M."."""
    letters = [
        next(c for c in word if c.isalnum()).upper()
        for word in holder.split()
        if any(c.isalnum() for c in word)
    ]
    if not letters:
        return "?"
    picked = letters if len(letters) == 1 else [letters[0], letters[-1]]
    return "".join(f"{letter}." for letter in picked)


@dataclass(frozen=True, slots=True)
class BundleTicket:
    """One ticket as a door device knows it."""

    id: int
    type: str
    initials: str
    revoked: bool = False
    inside_gate: str | None = None  # inside at bundle time, entered through this gate
    entered: bool = False  # entered at least once (inside now, or left since)

    def state(self) -> TicketState:
        """The ticket's state for `decide` (the time of the last entry is not carried)."""
        return TicketState(
            valid=not self.revoked,
            inside=self.inside_gate is not None,
            entries=1 if self.entered else 0,
            last_gate=self.inside_gate,
        )


@dataclass(frozen=True, slots=True)
class Bundle:
    """Everything a device needs to decide scans of one event alone."""

    event_id: int
    generated_at: datetime
    public_key: str
    gates: tuple[str, ...]
    allowed_gates: tuple[str, ...] | None  # the caller's token limits; None: every gate
    allow_reentry: bool
    tickets: tuple[BundleTicket, ...]


def _deltas(ids: Iterable[int]) -> list[int]:
    out: list[int] = []
    last = 0
    for value in ids:
        out.append(value - last)
        last = value
    return out


def encode_bundle(bundle: Bundle) -> dict[str, Any]:
    """The JSON form of a bundle (docs/checkin.md §Offline bundle)."""
    tickets = sorted(bundle.tickets, key=lambda t: t.id)
    types = sorted({t.type for t in tickets})
    type_index = {name: n for n, name in enumerate(types)}
    gate_index = {name: n for n, name in enumerate(bundle.gates)}
    inside = [t for t in tickets if t.inside_gate is not None]
    return {
        "format": BUNDLE_FORMAT,
        "event_id": bundle.event_id,
        "generated_at": bundle.generated_at.isoformat(),
        "public_key": bundle.public_key,
        "gates": list(bundle.gates),
        "allowed_gates": None if bundle.allowed_gates is None else list(bundle.allowed_gates),
        "allow_reentry": bundle.allow_reentry,
        "types": types,
        "tickets": {
            "id": _deltas(t.id for t in tickets),
            "type": [type_index[t.type] for t in tickets],
            "initials": [t.initials for t in tickets],
        },
        "revoked": _deltas(t.id for t in tickets if t.revoked),
        "inside": {
            "id": _deltas(t.id for t in inside),
            "gate": [gate_index.get(t.inside_gate or "", -1) for t in inside],
        },
        "exited": _deltas(t.id for t in tickets if t.entered and t.inside_gate is None),
    }


def _field(body: dict[str, Any], path: str, kind: type | tuple[type, ...]) -> Any:
    value: Any = body
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadBundle(f"bundle field {path} is missing or mistyped", field=path)
    return value


def _ids(body: dict[str, Any], path: str) -> list[int]:
    out: list[int] = []
    last = 0
    for delta in _field(body, path, list):
        if not isinstance(delta, int) or isinstance(delta, bool) or delta < 1:
            raise BadBundle(f"bundle field {path} is not a list of ascending ids", field=path)
        last += delta
        out.append(last)
    return out


def _names(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadBundle(f"bundle field {path} must be a list of names", field=path)
    return tuple(value)


def _column(body: dict[str, Any], path: str, length: int, names: Sequence[str]) -> list[str]:
    values = _field(body, path, list)
    if len(values) != length or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(names) for v in values
    ):
        raise BadBundle(f"bundle field {path} must index {length} names", field=path)
    return [names[v] for v in values]


def parse_bundle(body: object) -> Bundle:
    """Validate and decode a bundle received from `checkin.bundle`."""
    if not isinstance(body, dict) or body.get("format") != BUNDLE_FORMAT:
        raise BadBundle(f"not a format {BUNDLE_FORMAT} check-in bundle", field="format")
    try:
        generated_at = parse_time(_field(body, "generated_at", str), "generated_at")
    except BadRequest:
        raise BadBundle("bundle generated_at is not a time", field="generated_at") from None
    gates = _names(body.get("gates"), "gates")
    allowed = body.get("allowed_gates")
    ids = _ids(body, "tickets.id")
    types = _column(body, "tickets.type", len(ids), _names(body.get("types"), "types"))
    letters = _field(body, "tickets.initials", list)
    if len(letters) != len(ids) or not all(isinstance(v, str) for v in letters):
        raise BadBundle(
            "bundle tickets.initials must hold one text per ticket", field="tickets.initials"
        )
    inside_ids = _ids(body, "inside.id")
    inside = dict(
        zip(inside_ids, _column(body, "inside.gate", len(inside_ids), gates), strict=True)
    )
    revoked = set(_ids(body, "revoked"))
    entered = set(_ids(body, "exited")) | inside.keys()
    tickets = tuple(
        BundleTicket(i, t, n, i in revoked, inside.get(i), i in entered)
        for i, t, n in zip(ids, types, letters, strict=True)
    )
    return Bundle(
        _field(body, "event_id", int),
        generated_at,
        _field(body, "public_key", str),
        gates,
        None if allowed is None else _names(allowed, "allowed_gates"),
        _field(body, "allow_reentry", bool),
        tickets,
    )


@dataclass(frozen=True, slots=True)
class SyncedScan:
    """One scan a device decided offline, with the verdict it showed at the door."""

    code: str
    gate: str
    direction: Direction
    scanned_at: datetime
    nonce: str
    verdict: DeviceVerdict

    def request(self) -> ScanRequest:
        """The scan as the check-in rule sees it."""
        return ScanRequest(self.code, self.gate, self.direction, self.scanned_at, self.nonce)


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """A `checkin.sync` upload: the device and its scans, in the order submitted."""

    device: str
    scans: tuple[SyncedScan, ...]

    def in_time_order(self) -> list[tuple[int, SyncedScan]]:
        """(position, scan) pairs in the order the server applies them: by `scanned_at`."""
        return sorted(enumerate(self.scans), key=lambda pair: (pair[1].scanned_at, pair[0]))


def _synced(raw: object, where: str, now: datetime) -> SyncedScan:
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object", field=where)
    for name in ("nonce", "scanned_at", "verdict"):
        if raw.get(name) is None:
            raise BadRequest(f"{where}.{name} is required", field=f"{where}.{name}")
    try:
        scan = parse_scan(raw)
    except BadRequest as error:
        raise BadRequest(
            f"{where}: {error.message}", field=f"{where}.{error.details.get('field')}"
        ) from None
    verdict = raw["verdict"]
    if verdict not in ("ok", "rejected"):
        raise BadRequest(f'{where}.verdict must be "ok" or "rejected"', field=f"{where}.verdict")
    assert scan.scanned_at is not None and scan.nonce is not None
    if scan.scanned_at > now + MAX_CLOCK_AHEAD:
        raise BadRequest(
            f"{where}.scanned_at is in the future: check the device clock",
            field=f"{where}.scanned_at",
        )
    return SyncedScan(scan.code, scan.gate, scan.direction, scan.scanned_at, scan.nonce, verdict)


def parse_sync(params: dict[str, Any], *, now: datetime) -> SyncRequest:
    """Validate `checkin.sync` params; `now` is the server's clock (aware)."""
    device = params.get("device")
    if not isinstance(device, str) or not DEVICE.match(device):
        raise BadRequest("device must be 1-64 characters of [A-Za-z0-9_.:-]", field="device")
    raw = params.get("scans")
    if not isinstance(raw, list) or len(raw) > MAX_SYNC_SCANS:
        raise BadRequest(f"scans must be a list of at most {MAX_SYNC_SCANS} scans", field="scans")
    scans = tuple(_synced(item, f"scans[{n}]", now) for n, item in enumerate(raw))
    codes: dict[str, str] = {}
    for n, scan in enumerate(scans):
        if codes.setdefault(scan.nonce, scan.code) != scan.code:
            raise BadRequest("one nonce names two different codes", field=f"scans[{n}].nonce")
    return SyncRequest(device, scans)


def encode_sync(device: str, scans: Iterable[SyncedScan]) -> dict[str, Any]:
    """The `checkin.sync` params for `scans` (without `event_id`)."""
    return {
        "device": device,
        "scans": [
            {
                "code": s.code,
                "gate": s.gate,
                "direction": s.direction,
                "scanned_at": s.scanned_at.isoformat(),
                "nonce": s.nonce,
                "verdict": s.verdict,
            }
            for s in scans
        ],
    }
