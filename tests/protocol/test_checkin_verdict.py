"""`ScanVerdict`: its wire form is exactly the documented verdict (docs/checkin.md §Verdicts),
it reads back what it wrote, and anything else is refused naming the field."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
import orjson
import pytest

from bilten.protocol.checkin import Previous, ScanVerdict, VerdictTicket
from bilten.protocol.results import VERDICT

CODE = "AQEB0gq2IEBmB-WtPRQZl9pGUhEIWwefalGn_jkh1jnL971DRNsZUimbT-Pn_TPfhSiRubvB6n9h9C3Clskodl_RDg"
ENTRY = datetime(2027, 6, 1, 17, 2, 26, 776058, tzinfo=UTC)
AMRA = VerdictTicket(1, "Amra H.", "General", "valid")

ADMITTED = ScanVerdict(
    "ok", None, AMRA, None, "north", "in", ENTRY, "door-3:000017", CODE, 1, False, None, 1
)
ADMITTED_WIRE: dict[str, Any] = {
    "status": "ok",
    "reason": None,
    "ticket": {"id": 1, "holder": "Amra H.", "type": "General", "state": "valid"},
    "previous": None,
    "gate": "north",
    "direction": "in",
    "scanned_at": "2027-06-01T17:02:26.776058+00:00",
    "nonce": "door-3:000017",
    "code": CODE,
    "event_id": 1,
    "offline": False,
    "device": None,
    "inside": 1,
}
ALREADY = replace(
    ADMITTED,
    status="rejected",
    reason="already_inside",
    previous=Previous("north", ENTRY),
    scanned_at=datetime(2027, 6, 1, 17, 2, 40, 786134, tzinfo=UTC),
    nonce="door-3:000018",
)
ALREADY_WIRE = {
    **ADMITTED_WIRE,
    "status": "rejected",
    "reason": "already_inside",
    "previous": {"gate": "north", "at": "2027-06-01T17:02:26.776058+00:00"},
    "scanned_at": "2027-06-01T17:02:40.786134+00:00",
    "nonce": "door-3:000018",
}
REVISED = replace(
    ADMITTED,
    status="conflict",
    reason="already_inside",
    previous=Previous("north", datetime(2027, 6, 1, 17, 1, 26, 798014, tzinfo=UTC)),
    gate="south",
    scanned_at=datetime(2027, 6, 1, 17, 5, 26, 776058, tzinfo=UTC),
    inside=2,
    revised_at=datetime(2027, 6, 1, 17, 12, 26, 804118, tzinfo=UTC),
)
REVISED_WIRE = {
    **ADMITTED_WIRE,
    "status": "conflict",
    "reason": "already_inside",
    "previous": {"gate": "north", "at": "2027-06-01T17:01:26.798014+00:00"},
    "gate": "south",
    "scanned_at": "2027-06-01T17:05:26.776058+00:00",
    "inside": 2,
    "revised_at": "2027-06-01T17:12:26.804118+00:00",
}
SYNCED_INVALID = ScanVerdict(
    "rejected",
    "invalid",
    None,
    None,
    "north",
    "out",
    datetime(2027, 6, 1, 17, 0, tzinfo=UTC),
    "scan-1f2e3d4c:000041",
    "hello",
    1,
    True,
    "scan-1f2e3d4c",
    0,
)
SYNCED_INVALID_WIRE = {
    "status": "rejected",
    "reason": "invalid",
    "ticket": None,
    "previous": None,
    "gate": "north",
    "direction": "out",
    "scanned_at": "2027-06-01T17:00:00+00:00",
    "nonce": "scan-1f2e3d4c:000041",
    "code": "hello",
    "event_id": 1,
    "offline": True,
    "device": "scan-1f2e3d4c",
    "inside": 0,
}

TABLE = [
    (ADMITTED, ADMITTED_WIRE),
    (ALREADY, ALREADY_WIRE),
    (REVISED, REVISED_WIRE),
    (SYNCED_INVALID, SYNCED_INVALID_WIRE),
]


@pytest.mark.parametrize(("verdict", "wire"), TABLE)
def test_wire_form_is_the_documented_one(verdict: ScanVerdict, wire: dict[str, Any]) -> None:
    assert verdict.to_wire() == wire
    assert list(verdict.to_wire()) == list(wire)  # the documented order of fields
    validator = jsonschema_rs.Draft202012Validator({**VERDICT, "additionalProperties": False})
    assert validator.is_valid(verdict.to_wire())


@pytest.mark.parametrize(("verdict", "wire"), TABLE)
def test_from_wire_reads_back_what_to_wire_wrote(
    verdict: ScanVerdict, wire: dict[str, Any]
) -> None:
    assert ScanVerdict.from_wire(wire) == verdict
    # Stored as JSONB, the fields come back in another order: same verdict, same wire form.
    shuffled = dict(sorted(wire.items()))
    assert ScanVerdict.from_wire(shuffled).to_wire() == wire
    assert ScanVerdict.from_wire(orjson.loads(orjson.dumps(wire))) == verdict


def test_a_revision_is_a_new_value() -> None:
    revision = replace(ADMITTED, status="conflict", revised_at=ENTRY)
    assert ADMITTED.to_wire() == ADMITTED_WIRE  # the original is unchanged
    assert revision.to_wire()["revised_at"] == ENTRY.isoformat()
    with pytest.raises(AttributeError):
        ADMITTED.status = "conflict"  # type: ignore[misc]


# (changes to a good wire form) → the field the error names
BAD: list[tuple[dict[str, Any], str]] = [
    ({"status": "maybe"}, "status"),
    ({"status": None}, "status"),
    ({"direction": "sideways"}, "direction"),
    ({"reason": 3}, "reason"),
    ({"ticket": {"id": "1", "holder": "A", "type": "G", "state": "valid"}}, "id"),
    ({"ticket": {"id": 1, "type": "G", "state": "valid"}}, "holder"),
    ({"ticket": "Amra"}, "id"),
    ({"previous": {"gate": "north"}}, "at"),
    ({"previous": {"gate": "north", "at": "yesterday"}}, "at"),
    ({"scanned_at": "2027-06-01T17:02:26"}, "scanned_at"),  # no offset
    ({"scanned_at": 1780333346}, "scanned_at"),
    ({"event_id": True}, "event_id"),
    ({"event_id": 1.0}, "event_id"),
    ({"offline": 0}, "offline"),
    ({"device": ["d"]}, "device"),
    ({"inside": None}, "inside"),
    ({"nonce": None}, "nonce"),
    ({"code": 7}, "code"),
    ({"gate": None}, "gate"),
    ({"revised_at": "soon"}, "revised_at"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
def test_a_malformed_verdict_is_refused_naming_the_field(
    change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=f"'{field}'"):
        ScanVerdict.from_wire({**ADMITTED_WIRE, **change})
