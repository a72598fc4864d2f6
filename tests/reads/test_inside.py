"""checkin.inside: the people inside, not only the count."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.allocation.helpers import ok
from tests.checkin.helpers import door_setup, scan
from tests.hub.helpers import connect
from tests.reads.helpers import code, rest


async def test_who_is_inside_with_gate_and_since(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer, count=4)
    staff_token = make_token("staff", events=[door.event_id])
    staff = await connect(client, staff_token)
    first, second, third, _ = door.tickets
    for ticket, gate in ((first, "north"), (second, "south"), (third, "north")):
        assert (await scan(staff, door.event_id, ticket["code"], gate))["status"] == "ok"
    assert (await scan(staff, door.event_id, second["code"], "south", "out"))["status"] == "ok"

    inside = ok(await staff.call("checkin.inside", {"event_id": door.event_id}))
    assert inside["inside"] == 2 and inside["next"] is None
    assert [(p["ticket_id"], p["holder"], p["type"], p["gate"]) for p in inside["people"]] == [
        (first["id"], "Amra H.", "General", "north"),
        (third["id"], "Amra H.", "General", "north"),
    ]
    assert all(datetime.fromisoformat(p["since"]).tzinfo for p in inside["people"])
    path = f"/api/v1/events/{door.event_id}/inside"
    status, page = await rest(client, staff_token, "GET", path, limit="1")
    assert status == 200 and page["next"] == first["id"]
    _, page = await rest(client, staff_token, "GET", path, limit="1", after=str(page["next"]))
    assert [p["ticket_id"] for p in page["people"]] == [third["id"]]
    _, south = await rest(client, staff_token, "GET", path, gate="south")
    assert south["people"] == [] and south["inside"] == 2

    other = await door_setup(organizer, count=1)
    elsewhere = make_token("staff", events=[other.event_id])
    status, body = await rest(client, elsewhere, "GET", path)
    assert (status, code(body)) == (403, "forbidden")
    attendee = make_token("attendee", events=[door.event_id])
    status, body = await rest(client, attendee, "GET", path)
    assert (status, code(body)) == (403, "forbidden")
    status, body = await rest(client, staff_token, "GET", path, gate="no such gate")
    assert (status, body["error"]["details"]["field"]) == (400, "gate")
