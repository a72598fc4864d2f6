"""Holds, releases, confirms and waiting lists through a real hub, NATS and PostgreSQL."""

from __future__ import annotations

from typing import Any

import orjson

from bilten.infra.settings import Settings
from bilten.protocol.seats import decode_states
from tests.allocation.helpers import SeatWatcher, db, db_state, error, hold, make_venue, ok
from tests.hub.helpers import connect
from tests.waiting import wait_for


async def test_map_over_rest(hub_server: Any, aiohttp_client: Any, make_token: Any) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    venue = await make_venue(organizer, rows=3, seats=5)
    auth = {"Authorization": f"Bearer {make_token('organizer')}"}
    resp = await client.post(
        f"/api/v1/events/{venue.event_id}/seats",
        headers=auth,
        json={
            "sections": [
                {"name": "C", "rows": [{"name": "1", "seats": 3, "ticket_type_id": venue.parter}]}
            ]
        },
    )
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["seats"] == 3 and (await resp.json())["map_version"] == 2
    resp = await client.get(f"/api/v1/events/{venue.event_id}/seats", headers=auth)
    seat_map = await resp.json()
    assert resp.status == 200 and seat_map["seats"] == 3 * 5 + 4 + 3
    a1 = seat_map["sections"][0]["rows"][0]
    assert (a1["name"], a1["labels"], a1["states"]) == ("1", None, "5a")
    assert a1["types"] == [[venue.parter, 5]]
    b1 = seat_map["sections"][1]["rows"][0]
    assert b1["labels"] == ["B1", "B2", "B3", "B4"] and b1["types"] == [[venue.balkon, 4]]
    assert seat_map["ga"] == [
        {"ticket_type_id": venue.ga, "quota": 5, "held": 0, "sold": 0, "available": 5}
    ]
    # A section that exists, a ticket type of nobody's, an attendee: all refused.
    resp = await client.post(
        f"/api/v1/events/{venue.event_id}/seats",
        headers=auth,
        json={"sections": [{"name": "C", "rows": [{"name": "1", "seats": 3}]}]},
    )
    assert resp.status == 409 and (await resp.json())["error"]["details"]["field"] == "sections"
    resp = await client.post(
        f"/api/v1/events/{venue.event_id}/seats",
        headers=auth,
        json={
            "sections": [
                {"name": "D", "rows": [{"name": "1", "seats": 3, "ticket_type_id": 10**12}]}
            ]
        },
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["details"]["field"] == "ticket_type_id"
    attendee = {"Authorization": f"Bearer {make_token('attendee', events=[venue.event_id])}"}
    resp = await client.post(
        f"/api/v1/events/{venue.event_id}/seats", headers=attendee, json={"sections": []}
    )
    assert resp.status == 403


async def test_chosen_seats_all_or_nothing_release_and_confirm(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    venue = await make_venue(organizer)
    amra = await connect(client, make_token("attendee", sub="amra", events=[venue.event_id]))
    edin = await connect(client, make_token("attendee", sub="edin", events=[venue.event_id]))
    a, b, c = venue.rows["A/1"][:3]
    first = await hold(amra, venue.event_id, seat_ids=[a, b])
    assert first["status"] == "held" and first["seat_ids"] == [a, b]
    assert (first["amount_minor"], first["currency"]) == (10000, "BAM")
    refused = await hold(edin, venue.event_id, seat_ids=[b, c])
    assert refused == {"status": "rejected", "reason": "unavailable", "seat_ids": [b]}
    states, _ = await db_state(workers, venue.event_id)
    assert (states[a], states[b], states[c]) == ("held", "held", "available")  # c not taken
    assert (
        error(await edin.call("seats.release", {"hold_id": first["hold_id"]}))["code"]
        == "forbidden"
    )
    released = ok(await amra.call("seats.release", {"hold_id": first["hold_id"]}))
    assert released["status"] == "released"
    assert (
        ok(await amra.call("seats.release", {"hold_id": first["hold_id"]}))["status"] == "released"
    )  # idempotent
    assert ok(await amra.call("seats.confirm", {"hold_id": first["hold_id"]})) == {
        "status": "rejected",
        "reason": "released",
        "hold_id": first["hold_id"],
    }

    second = await hold(edin, venue.event_id, seat_ids=[b, c])
    assert second["status"] == "held"
    order = ok(
        await edin.call("seats.confirm", {"hold_id": second["hold_id"], "holder": "Edin D."})
    )
    assert (order["status"], order["amount_minor"], order["currency"]) == (
        "confirmed",
        10000,
        "BAM",
    )
    assert [t["holder"] for t in order["tickets"]] == ["Edin D.", "Edin D."]
    assert ok(await edin.call("seats.confirm", {"hold_id": second["hold_id"]})) == order
    assert ok(await organizer.call("seats.confirm", {"hold_id": second["hold_id"]})) == order
    assert (
        error(await edin.call("seats.release", {"hold_id": second["hold_id"]}))["code"]
        == "conflict"
    )
    sold = await db(workers, "SELECT id, ticket_id FROM seats WHERE status = 'sold' ORDER BY id")
    assert [r["id"] for r in sold] == [b, c]
    assert sorted(r["ticket_id"] for r in sold) == sorted(t["id"] for t in order["tickets"])
    # The tickets are real: they scan at the door.
    ok(await organizer.call("gates.set", {"event_id": venue.event_id, "gates": ["north"]}))
    scan = ok(
        await organizer.call(
            "checkin.scan",
            {"event_id": venue.event_id, "code": order["tickets"][0]["code"], "gate": "north"},
        )
    )
    assert scan["status"] == "ok"


async def test_best_available_adjacency_and_currencies(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    venue = await make_venue(organizer, rows=2, seats=6)
    amra = await connect(client, make_token("attendee", sub="amra", events=[venue.event_id]))
    row1, row2 = venue.rows["A/1"], venue.rows["A/2"]
    # Break row 1 up: seats 2 and 5 taken, leaving runs of 1, 2 and 1.
    await hold(organizer, venue.event_id, seat_ids=[row1[1], row1[4]])
    three = await hold(amra, venue.event_id, ticket_type_id=venue.parter, quantity=3)
    assert three["seat_ids"] == row2[:3]  # the first run of three side by side
    two = await hold(amra, venue.event_id, ticket_type_id=venue.parter, quantity=2)
    assert two["seat_ids"] == row1[2:4]
    assert two["amount_minor"] == 10000 and two["currency"] == "BAM"
    apart = await hold(
        organizer, venue.event_id, ticket_type_id=venue.parter, quantity=3, together=False
    )
    assert apart["seat_ids"] == [row1[0], row1[5], row2[3]]
    no_run = await hold(organizer, venue.event_id, ticket_type_id=venue.parter, quantity=3)
    assert (no_run["status"], no_run["reason"]) == ("rejected", "unavailable")
    euro = await hold(amra, venue.event_id, section="B", quantity=2)
    assert euro["seat_ids"] == venue.rows["B/1"][:2]
    assert (euro["amount_minor"], euro["currency"]) == (6000, "EUR")
    ga = await hold(amra, venue.event_id, ticket_type_id=venue.ga, quantity=2)
    assert (ga["amount_minor"], ga["currency"], ga["seat_ids"]) == (3000, "BAM", [])
    mixed = await organizer.call(
        "seats.hold", {"event_id": venue.event_id, "seat_ids": [row2[5], venue.rows["B/1"][3]]}
    )
    assert error(mixed)["details"]["field"] == "seat_ids"


async def test_general_admission_quota_and_attendee_cap(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    venue = await make_venue(organizer, ga_quota=5)
    ok(await organizer.call("seats.configure", {"event_id": venue.event_id, "hold_limit": 4}))
    amra = await connect(client, make_token("attendee", sub="amra", events=[venue.event_id]))
    assert (await hold(amra, venue.event_id, ticket_type_id=venue.ga, quantity=3))[
        "status"
    ] == "held"
    assert await hold(amra, venue.event_id, ticket_type_id=venue.ga, quantity=2) == {
        "status": "rejected",
        "reason": "limit_exceeded",
        "limit": 4,
        "taken": 3,
    }
    assert (await hold(organizer, venue.event_id, ticket_type_id=venue.ga, quantity=3))[
        "reason"
    ] == "quota_exhausted"
    last = await hold(organizer, venue.event_id, ticket_type_id=venue.ga, quantity=2)
    assert last["status"] == "held"
    order = ok(await organizer.call("seats.confirm", {"hold_id": last["hold_id"]}))
    assert len(order["tickets"]) == 2 and order["amount_minor"] == 3000
    _, ga = await db_state(workers, venue.event_id)
    assert ga == {venue.ga: (3, 2)}


async def _due(settings: Settings, hold_id: int, column: str) -> None:
    """Make a hold's warning or expiry due now, as if its time had come."""
    assert column in ("warn_at", "expires_at")
    await db(settings, f"UPDATE holds SET {column} = now() WHERE id = $1", hold_id)


async def test_expiry_frees_seats_and_tells_the_owner(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    venue = await make_venue(organizer)
    token = make_token("attendee", sub="amra", events=[venue.event_id])
    amra, inbox = await connect(client, token), await connect(client, token)
    assert (await inbox.subscribe("user.amra"))["op"] == "subscribed"
    watcher = SeatWatcher(await connect(client, token), venue.event_id)
    await watcher.start()
    try:
        seats = venue.rows["A/2"][:2]
        held = await hold(amra, venue.event_id, seat_ids=seats, ttl_s=600)
        await watcher.until_equal(workers, venue.event_id)  # seen held
        # Time passes as the sweeper sees it (a 1 s ttl raced a busy machine): first the
        # warning falls due, then the expiry.
        await _due(workers, held["hold_id"], "warn_at")
        assert (await inbox.until("pub"))["data"]["type"] == "hold.expiring"
        await _due(workers, held["hold_id"], "expires_at")

        async def freed() -> bool:
            return (await db_state(workers, venue.event_id))[0][seats[0]] == "available"

        await wait_for(freed, what="the expired hold's seats to be available again")
        await watcher.until_equal(workers, venue.event_id)
        seen = [(s, code) for d in watcher.deltas for s, code, _ in d["seats"] if s in seats]
        assert seen[:2] == [(seats[0], "h"), (seats[1], "h")]
        assert seen[-2:] == [(seats[0], "a"), (seats[1], "a")]
        assert (await inbox.until("pub"))["data"]["type"] == "hold.expired"
        assert (
            ok(await amra.call("seats.confirm", {"hold_id": held["hold_id"]}))["reason"]
            == "expired"
        )
    finally:
        await watcher.close()


async def test_waitlist_gets_freed_places(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    venue = await make_venue(organizer, ga_quota=2)
    edin = await connect(client, make_token("attendee", sub="edin", events=[venue.event_id]))
    inbox = await connect(client, make_token("attendee", sub="edin", events=[venue.event_id]))
    assert (await inbox.subscribe("user.edin"))["op"] == "subscribed"
    early = await edin.call(
        "seats.waitlist.join", {"event_id": venue.event_id, "ticket_type_id": venue.ga}
    )
    assert error(early)["code"] == "conflict"  # not sold out: hold instead
    sold_out = await hold(organizer, venue.event_id, ticket_type_id=venue.ga, quantity=2)
    joined = ok(
        await edin.call(
            "seats.waitlist.join", {"event_id": venue.event_id, "ticket_type_id": venue.ga}
        )
    )
    assert (joined["status"], joined["position"]) == ("waiting", 1)
    again = ok(
        await edin.call(
            "seats.waitlist.join", {"event_id": venue.event_id, "ticket_type_id": venue.ga}
        )
    )
    assert again["waitlist_id"] == joined["waitlist_id"]
    # The organizer's hold expires: the sweeper offers the first in line a place.
    await _due(workers, sold_out["hold_id"], "expires_at")
    offer = (await inbox.until("pub"))["data"]
    assert (offer["type"], offer["status"], offer["quantity"]) == ("hold.offered", "held", 1)
    assert offer["waitlist_id"] == joined["waitlist_id"]
    # The section too: B sold out, then released: the first in B's line gets an offer.
    b_seats = venue.rows["B/1"]
    b_hold = await hold(organizer, venue.event_id, seat_ids=b_seats)
    ok(
        await edin.call(
            "seats.waitlist.join", {"event_id": venue.event_id, "section": "B", "quantity": 2}
        )
    )
    ok(await organizer.call("seats.release", {"hold_id": b_hold["hold_id"]}))
    offer = (await inbox.until("pub"))["data"]
    assert offer["seat_ids"] == b_seats[:2] and offer["currency"] == "EUR"
    rows = await db(workers, "SELECT owner_sub, state FROM holds WHERE waitlist_id IS NOT NULL")
    assert [(r["owner_sub"], r["state"]) for r in rows] == [("edin", "active")] * 2


async def test_bad_input(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    venue = await make_venue(organizer)
    other = await make_venue(organizer)
    amra = await connect(client, make_token("attendee", sub="amra", events=[venue.event_id]))

    async def refused(**params: Any) -> dict[str, Any]:
        return error(await amra.call("seats.hold", {"event_id": venue.event_id, **params}))

    unknown = await refused(seat_ids=[venue.seat_ids[0], 10**12])
    assert (unknown["code"], unknown["details"]["unknown"]) == ("bad_request", [10**12])
    foreign = await refused(seat_ids=[other.seat_ids[0]])
    assert foreign["details"] == {"field": "seat_ids", "unknown": [other.seat_ids[0]]}
    assert (await refused(ticket_type_id=venue.parter, quantity=-2))["details"][
        "field"
    ] == "quantity"
    assert (await refused(ticket_type_id=other.parter))["details"]["field"] == "ticket_type_id"
    assert (await refused(seat_ids=list(range(1, 500))))["details"]["field"] == "seat_ids"
    assert (await refused(section="Z"))["details"]["field"] == "section"
    assert (await refused(seat_ids=[venue.seat_ids[0]], ttl_s=10**6))["details"]["field"] == "ttl_s"
    staff = await connect(client, make_token("staff", events=[venue.event_id]))
    assert (
        error(
            await staff.call(
                "seats.hold", {"event_id": venue.event_id, "seat_ids": [venue.seat_ids[0]]}
            )
        )["code"]
        == "forbidden"
    )
    huge = orjson.dumps({"seat_ids": list(range(1, workers.max_frame_bytes // 4))})
    assert len(huge) > workers.max_frame_bytes
    resp = await client.post(
        f"/api/v1/events/{venue.event_id}/holds",
        headers={
            "Authorization": f"Bearer {make_token('attendee', events=[venue.event_id])}",
            "Content-Type": "application/json",
        },
        data=huge,
    )
    assert resp.status == 413 and (await resp.json())["error"]["code"] == "too_large"
    # Nothing was taken by any of it; a nonce makes a hold repeatable.
    assert set((await db_state(workers, venue.event_id))[0].values()) == {"available"}
    once = await hold(amra, venue.event_id, seat_ids=venue.seat_ids[:1], nonce="tab-1:000001")
    assert (
        await hold(amra, venue.event_id, seat_ids=venue.seat_ids[:1], nonce="tab-1:000001") == once
    )
    seat_map = ok(await amra.call("seats.map", {"event_id": venue.event_id}))
    assert decode_states(seat_map["sections"][0]["rows"][0]["states"])[0] == "held"
