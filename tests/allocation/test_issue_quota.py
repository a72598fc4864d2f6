"""tickets.issue takes from the same stock as holds: a GA quota, a seated type's seats."""

from __future__ import annotations

import asyncio
from typing import Any

from bilten.infra.settings import Settings
from tests.allocation.helpers import db, hold, make_venue, ok
from tests.hub.helpers import connect


async def _rest(
    client: Any, token: str, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    resp = await client.request(
        method, path, json=body, headers={"Authorization": f"Bearer {token}"}
    )
    return resp.status, await resp.json()


async def test_issue_and_holds_share_the_quota(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    token = make_token("organizer")
    organizer = await connect(client, token)
    venue = await make_venue(organizer, ga_quota=4)
    amra = await connect(client, make_token("attendee", sub="amra", events=[venue.event_id]))
    held = await hold(amra, venue.event_id, ticket_type_id=venue.ga, quantity=2)
    ok(await amra.call("seats.confirm", {"hold_id": held["hold_id"]}))
    tickets = f"/api/v1/events/{venue.event_id}/tickets"
    status, body = await _rest(
        client,
        token,
        "POST",
        tickets,
        {"ticket_type_id": venue.ga, "count": 2, "holder": "Box Office"},
    )
    assert status == 201 and len(body["tickets"]) == 2 and body["seat_ids"] == []
    status, body = await _rest(
        client, token, "POST", tickets, {"ticket_type_id": venue.ga, "count": 1, "holder": "Late"}
    )
    assert status == 409, body
    assert body["error"]["code"] == "conflict"
    assert body["error"]["details"] == {
        "field": "count",
        "reason": "sold_out",
        "ticket_type_id": venue.ga,
        "remaining": 0,
    }
    # The seat map, the ticket types and holds all say the same: nothing left.
    seat_map = ok(await organizer.call("seats.map", {"event_id": venue.event_id}))
    assert seat_map["ga"] == [
        {"ticket_type_id": venue.ga, "quota": 4, "held": 0, "sold": 4, "available": 0}
    ]
    types = ok(await organizer.call("tickettypes.list", {"event_id": venue.event_id}))
    ga = next(t for t in types["ticket_types"] if t["id"] == venue.ga)
    assert (ga["seated"], ga["held"], ga["sold"], ga["remaining"]) == (False, 0, 4, 0)
    assert (await hold(organizer, venue.event_id, ticket_type_id=venue.ga))[
        "reason"
    ] == "quota_exhausted"
    count = await db(
        workers, "SELECT count(*) AS n FROM tickets WHERE ticket_type_id = $1", venue.ga
    )
    assert count[0]["n"] == 4


async def test_issue_of_a_seated_type_sells_its_first_free_seats(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    token = make_token("organizer")
    organizer = await connect(client, token)
    venue = await make_venue(organizer, rows=1, seats=4)
    a1 = venue.rows["A/1"]
    await hold(organizer, venue.event_id, seat_ids=[a1[0]])
    tickets = f"/api/v1/events/{venue.event_id}/tickets"
    status, body = await _rest(
        client,
        token,
        "POST",
        tickets,
        {"ticket_type_id": venue.parter, "count": 2, "holder": "VIP"},
    )
    assert status == 201 and body["seat_ids"] == a1[1:3]
    rows = await db(
        workers,
        "SELECT id, status, ticket_id FROM seats WHERE id = ANY($1::bigint[]) ORDER BY id",
        a1,
    )
    assert [r["status"] for r in rows] == ["held", "sold", "sold", "available"]
    assert [r["ticket_id"] for r in rows[1:3]] == [t["id"] for t in body["tickets"]]
    status, body = await _rest(
        client,
        token,
        "POST",
        tickets,
        {"ticket_type_id": venue.parter, "count": 2, "holder": "VIP"},
    )
    assert status == 409 and body["error"]["details"]["remaining"] == 1
    types = ok(await organizer.call("tickettypes.list", {"event_id": venue.event_id}))
    parter = next(t for t in types["ticket_types"] if t["id"] == venue.parter)
    assert (parter["seated"], parter["held"], parter["sold"], parter["remaining"]) == (
        True,
        1,
        2,
        1,
    )


async def test_concurrent_issues_holds_and_a_quota_change_never_exceed_it(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    quota, buyers = 7, 24
    client = await aiohttp_client(hub_server)
    token = make_token("organizer")
    venue = await make_venue(await connect(client, token), ga_quota=quota)

    async def one(n: int) -> bool:
        if n % 2:
            status, body = await _rest(
                client,
                token,
                "POST",
                f"/api/v1/events/{venue.event_id}/tickets",
                {"ticket_type_id": venue.ga, "holder": f"Guest {n}"},
            )
            assert status in (201, 409), body
            return status == 201
        attendee = make_token("attendee", sub=f"buyer-{n}", events=[venue.event_id])
        status, body = await _rest(
            client,
            attendee,
            "POST",
            f"/api/v1/events/{venue.event_id}/holds",
            {"ticket_type_id": venue.ga, "quantity": 1},
        )
        assert status == 200, body
        return bool(body["status"] == "held")

    async def lower_quota() -> bool:  # meanwhile the organizer lowers the quota to 5
        status, body = await _rest(
            client,
            token,
            "PATCH",
            f"/api/v1/events/{venue.event_id}/ticket-types/{venue.ga}",
            {"quota": 5},
        )
        assert status in (200, 409), body  # refused if more than 5 were taken by then
        return False

    got = await asyncio.gather(
        *(one(n) for n in range(buyers // 2)),
        lower_quota(),
        *(one(n) for n in range(buyers // 2, buyers)),
    )
    final = (await db(workers, "SELECT quota FROM ticket_types WHERE id = $1", venue.ga))[0][
        "quota"
    ]
    assert final in (5, quota)
    assert sum(got) == final  # every place went to exactly one buyer, none beyond
    issued = await db(
        workers, "SELECT count(*) AS n FROM tickets WHERE ticket_type_id = $1", venue.ga
    )
    holds = await db(
        workers,
        "SELECT coalesce(sum(quantity), 0) AS n FROM holds"
        " WHERE ticket_type_id = $1 AND state = 'active'",
        venue.ga,
    )
    counter = (
        await db(workers, "SELECT held, sold FROM ga_counters WHERE ticket_type_id = $1", venue.ga)
    )[0]
    assert (counter["held"], counter["sold"]) == (holds[0]["n"], issued[0]["n"])
    assert issued[0]["n"] + holds[0]["n"] == final
