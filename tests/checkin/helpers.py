"""A ready event for check-in tests: gates, a ticket type, tickets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.hub.helpers import Raw, create_event


@dataclass
class DoorSetup:
    event_id: int
    type_id: int
    tickets: list[dict[str, Any]]


async def door_setup(
    organizer: Raw,
    *,
    count: int = 5,
    gates: tuple[str, ...] = ("north", "south"),
    allow_reentry: bool = True,
) -> DoorSetup:
    event_id = await create_event(organizer)
    reply = await organizer.call(
        "gates.set", {"event_id": event_id, "gates": list(gates), "allow_reentry": allow_reentry}
    )
    assert reply["op"] == "result", reply
    reply = await organizer.call(
        "tickettypes.create",
        {"event_id": event_id, "name": "General", "price_minor": 2500, "quota": 1000},
    )
    assert reply["op"] == "result", reply
    type_id = reply["result"]["id"]
    reply = await organizer.call(
        "tickets.issue",
        {"event_id": event_id, "ticket_type_id": type_id, "count": count, "holder": "Amra H."},
    )
    assert reply["op"] == "result", reply
    return DoorSetup(event_id, type_id, reply["result"]["tickets"])


async def scan(
    raw: Raw, event_id: int, code: str, gate: str = "north", direction: str = "in", **extra: Any
) -> dict[str, Any]:
    reply = await raw.call(
        "checkin.scan",
        {"event_id": event_id, "code": code, "gate": gate, "direction": direction, **extra},
    )
    assert reply["op"] == "result", reply
    return dict(reply["result"])
