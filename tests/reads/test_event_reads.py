"""Organizers read back what they set: gates, ticket types (and edit them), tickets; and
delete an event that sold nothing. Through a real hub over REST."""

from __future__ import annotations

from typing import Any

from bilten.protocol.commands import COMMANDS
from tests.allocation.helpers import hold, make_venue, ok
from tests.checkin.helpers import door_setup
from tests.hub.helpers import EVENT, connect, create_event
from tests.reads.helpers import code, rest


async def test_gates_list_for_staff_of_the_event_only(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = make_token("organizer")
    door = await door_setup(
        await connect(client, organizer), gates=("south", "north"), allow_reentry=False
    )
    other = await door_setup(await connect(client, organizer))
    path = f"/api/v1/events/{door.event_id}/gates"
    staff = make_token("staff", events=[door.event_id])
    assert await rest(client, staff, "GET", path) == (
        200,
        {"event_id": door.event_id, "gates": ["north", "south"], "allow_reentry": False},
    )
    elsewhere = make_token("staff", events=[other.event_id])
    status, body = await rest(client, elsewhere, "GET", path)
    assert (status, code(body)) == (403, "forbidden")
    attendee = make_token("attendee", events=[door.event_id])
    status, body = await rest(client, attendee, "GET", path)
    assert (status, code(body)) == (403, "forbidden")


async def test_ticket_types_update_and_their_counts(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    token = make_token("organizer")
    organizer = await connect(client, token)
    venue = await make_venue(organizer, ga_quota=5)
    await hold(organizer, venue.event_id, ticket_type_id=venue.ga, quantity=2)
    ok(
        await organizer.call(
            "tickets.issue",
            {"event_id": venue.event_id, "ticket_type_id": venue.ga, "count": 1, "holder": "Amra"},
        )
    )
    path = f"/api/v1/events/{venue.event_id}/ticket-types/{venue.ga}"
    status, body = await rest(client, token, "PATCH", path, {"quota": 2})
    assert status == 409 and body["error"]["details"] == {
        "field": "quota",
        "reason": "below_taken",
        "taken": 3,
    }
    status, body = await rest(
        client, token, "PATCH", path, {"name": "Stajanje (pod)", "price_minor": 1800, "quota": 3}
    )
    assert status == 200, body
    assert {k: body[k] for k in ("name", "price_minor", "quota", "held", "sold", "remaining")} == {
        "name": "Stajanje (pod)",
        "price_minor": 1800,
        "quota": 3,
        "held": 2,
        "sold": 1,
        "remaining": 0,
    }
    # Holds see the new quota at once; the map too.
    assert (await hold(organizer, venue.event_id, ticket_type_id=venue.ga))[
        "reason"
    ] == "quota_exhausted"
    seat_map = ok(await organizer.call("seats.map", {"event_id": venue.event_id}))
    assert seat_map["ga"][0]["quota"] == 3 and seat_map["ga"][0]["available"] == 0
    status, body = await rest(client, token, "PATCH", path, {"quota": None})
    assert status == 200 and (body["quota"], body["remaining"]) == (None, None)
    listed = ok(await organizer.call("tickettypes.list", {"event_id": venue.event_id}))
    assert [t["id"] for t in listed["ticket_types"]] == [venue.parter, venue.balkon, venue.ga]
    assert listed["ticket_types"][0] | {"id": 0} == {
        "id": 0,
        "event_id": venue.event_id,
        "name": "Parter",
        "price_minor": 5000,
        "currency": "BAM",
        "quota": None,
        "seated": True,
        "held": 0,
        "sold": 0,
        "remaining": 20,
    }
    # Refusals: nothing to change, a type of another event, an attendee.
    status, body = await rest(client, token, "PATCH", path, {})
    assert (status, code(body)) == (400, "bad_request")
    other = await make_venue(organizer)
    status, body = await rest(
        client,
        token,
        "PATCH",
        f"/api/v1/events/{other.event_id}/ticket-types/{venue.ga}",
        {"name": "x"},
    )
    assert (status, code(body)) == (404, "not_found")
    attendee = make_token("attendee", events=[venue.event_id])
    status, body = await rest(client, attendee, "PATCH", path, {"name": "x"})
    assert (status, code(body)) == (403, "forbidden")


async def test_tickets_list_pages_and_finds_holders(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    token = make_token("organizer")
    organizer = await connect(client, token)
    door = await door_setup(organizer, count=3)  # holder "Amra H."
    ok(
        await organizer.call(
            "tickets.issue",
            {
                "event_id": door.event_id,
                "ticket_type_id": door.type_id,
                "count": 2,
                "holder": "Emir Kovač",
            },
        )
    )
    path = f"/api/v1/events/{door.event_id}/tickets"
    status, first = await rest(client, token, "GET", path, limit="2")
    assert status == 200 and len(first["tickets"]) == 2 and first["next"] is not None
    status, rest_of = await rest(client, token, "GET", path, limit="2", after=str(first["next"]))
    _, last = await rest(client, token, "GET", path, limit="2", after=str(rest_of["next"]))
    pages = first["tickets"] + rest_of["tickets"] + last["tickets"]
    assert last["next"] is None and len(pages) == 5
    assert [t["id"] for t in pages] == sorted(t["id"] for t in pages)
    assert pages[0] == door.tickets[0]  # the same shape as tickets.issue and tickets.get
    status, found = await rest(client, token, "GET", path, q="emir")
    assert [t["holder"] for t in found["tickets"]] == ["Emir Kovač"] * 2
    status, body = await rest(client, token, "GET", path, limit="0")
    assert (status, body["error"]["details"]["field"]) == (400, "limit")
    staff = make_token("staff", events=[door.event_id])
    status, body = await rest(client, staff, "GET", path)
    assert (status, code(body)) == (403, "forbidden")


async def test_events_delete_only_when_nothing_sold(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    token = make_token("organizer")
    organizer = await connect(client, token)
    empty = await make_venue(organizer)  # types, a seat map, no sales
    await hold(organizer, empty.event_id, ticket_type_id=empty.ga)
    status, body = await rest(client, token, "DELETE", f"/api/v1/events/{empty.event_id}")
    assert status == 409 and body["error"]["details"] == {
        "reason": "not_empty",
        "tickets": 0,
        "orders": 0,
        "active_holds": 1,
    }
    held = ok(await organizer.call("holds.list", {"event_id": empty.event_id}))
    ok(await organizer.call("seats.release", {"hold_id": held["holds"][0]["hold_id"]}))
    assert await rest(client, token, "DELETE", f"/api/v1/events/{empty.event_id}") == (
        200,
        {"event_id": empty.event_id, "deleted": True},
    )
    status, body = await rest(client, token, "GET", f"/api/v1/events/{empty.event_id}")
    assert (status, code(body)) == (404, "not_found")
    door = await door_setup(organizer, count=1)
    status, body = await rest(client, token, "DELETE", f"/api/v1/events/{door.event_id}")
    assert (status, body["error"]["details"]["tickets"]) == (409, 1)
    other_org = make_token("organizer", org="rival")
    status, body = await rest(client, other_org, "DELETE", f"/api/v1/events/{door.event_id}")
    assert (status, code(body)) == (403, "forbidden")
    _, created = await rest(client, token, "POST", "/api/v1/events", EVENT)
    attendee = make_token("attendee", events=[created["id"]])
    status, body = await rest(client, attendee, "DELETE", f"/api/v1/events/{created['id']}")
    assert (status, code(body)) == (403, "forbidden")


async def test_commands_to_a_deleted_event_answer_4xx(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """The hub caches an event's organization, so after a delete commands still reach
    the workers: each must answer a clear error (or an empty read), never `internal`."""
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id = await create_event(organizer)
    ok(await organizer.call("events.get", {"event_id": event_id}))  # cached by the hub now
    ok(await organizer.call("events.delete", {"event_id": event_id}))
    params = {
        "event_id": event_id,
        "name": "x",
        "price_minor": 1,
        "gates": ["a"],
        "ticket_type_id": 1,
        "holder": "h",
        "code": "abc",
        "gate": "a",
        "sections": [{"name": "A", "rows": [{"name": "1", "seats": 2}]}],
        "hold_ttl_s": 60,
        "device": "d",
        "scans": [],
        "data": {},
    }
    answers = {}
    for method, command in COMMANDS.items():
        if "event_id" in command.params and method != "events.create":
            declared = {k: v for k, v in params.items() if k in command.params}
            reply = await organizer.call(method, declared)
            answers[method] = reply["error"]["code"] if reply["op"] == "error" else "result"
    assert "internal" not in answers.values(), answers
    assert (
        answers["tickets.issue"]
        == answers["gates.set"]
        == answers["seats.create"]
        == answers["checkin.scan"]
        == answers["checkin.bundle"]
        == "not_found"
    )
