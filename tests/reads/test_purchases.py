"""orders.list / orders.get / holds.list: organizers see the event's, attendees their own."""

from __future__ import annotations

from typing import Any

from tests.allocation.helpers import error, hold, make_venue, ok
from tests.hub.helpers import connect
from tests.reads.helpers import code, rest


async def test_orders_and_holds_by_who_asks(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    token = make_token("organizer")
    organizer = await connect(client, token)
    venue = await make_venue(organizer)
    amra_token = make_token("attendee", sub="amra", events=[venue.event_id])
    amra = await connect(client, amra_token)
    edin = await connect(client, make_token("attendee", sub="edin", events=[venue.event_id]))
    a1 = venue.rows["A/1"]
    amra_order = ok(
        await amra.call(
            "seats.confirm",
            {
                "hold_id": (await hold(amra, venue.event_id, seat_ids=a1[:2]))["hold_id"],
                "holder": "Amra H.",
            },
        )
    )
    edin_hold = await hold(edin, venue.event_id, ticket_type_id=venue.ga, quantity=2)
    edin_order = ok(await edin.call("seats.confirm", {"hold_id": edin_hold["hold_id"]}))
    edin_live = await hold(edin, venue.event_id, seat_ids=[a1[5]])

    everything = ok(await organizer.call("orders.list", {"event_id": venue.event_id}))
    assert [o["order_id"] for o in everything["orders"]] == [
        amra_order["order_id"],
        edin_order["order_id"],
    ]
    assert everything["orders"][0] == {**amra_order, "owner_sub": "amra"}
    assert everything["next"] is None
    mine = ok(await amra.call("orders.list", {"event_id": venue.event_id}))
    assert [o["order_id"] for o in mine["orders"]] == [amra_order["order_id"]]
    # orders.get: the owner and the organizer; another attendee is refused.
    path = f"/api/v1/orders/{amra_order['order_id']}"
    assert await rest(client, amra_token, "GET", path) == (200, {**amra_order, "owner_sub": "amra"})
    assert (await rest(client, token, "GET", path))[0] == 200
    assert (
        error(await edin.call("orders.get", {"order_id": amra_order["order_id"]}))["code"]
        == "forbidden"
    )
    rival = make_token("organizer", org="rival")
    status, body = await rest(client, rival, "GET", path)
    assert (status, code(body)) == (404, "not_found")
    status, body = await rest(client, token, "GET", "/api/v1/orders/999999999")
    assert (status, code(body)) == (404, "not_found")

    holds = ok(await organizer.call("holds.list", {"event_id": venue.event_id}))
    assert [(h["owner_sub"], h["status"]) for h in holds["holds"]] == [
        ("amra", "confirmed"),
        ("edin", "confirmed"),
        ("edin", "held"),
    ]
    assert holds["holds"][2]["seat_ids"] == edin_live["seat_ids"] == [a1[5]]
    live = ok(
        await organizer.call(
            "holds.list", {"event_id": venue.event_id, "status": "held", "limit": 1}
        )
    )
    assert [h["hold_id"] for h in live["holds"]] == [edin_live["hold_id"]]
    assert live["next"] == edin_live["hold_id"]
    after = ok(
        await organizer.call(
            "holds.list", {"event_id": venue.event_id, "status": "held", "after": live["next"]}
        )
    )
    assert after == {"holds": [], "next": None}
    amra_holds = ok(await amra.call("holds.list", {"event_id": venue.event_id}))
    assert [h["owner_sub"] for h in amra_holds["holds"]] == ["amra"]
    assert (
        error(await amra.call("holds.list", {"event_id": venue.event_id, "status": "active"}))[
            "code"
        ]
        == "bad_request"
    )


async def test_staff_and_other_events_are_refused(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    venue = await make_venue(organizer)
    other = await make_venue(organizer)
    for method in ("orders.list", "holds.list"):
        path = f"/api/v1/events/{venue.event_id}/{method.split('.')[0]}"
        staff = make_token("staff", events=[venue.event_id])
        status, body = await rest(client, staff, "GET", path)
        assert (status, code(body)) == (403, "forbidden"), method
        elsewhere = make_token("attendee", events=[other.event_id])
        status, body = await rest(client, elsewhere, "GET", path)
        assert (status, code(body)) == (403, "forbidden"), method
