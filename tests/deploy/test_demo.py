"""The demo event: a new user finds gates, tickets and a small seat map ready."""

from __future__ import annotations

from typing import Any

from bilten.deploy import demo
from bilten.infra.settings import Settings
from bilten.protocol.seats import decode_states


async def test_demo_event_has_a_seat_map_and_is_made_once(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    first = await demo.create(workers, "http://127.0.0.1:1", "bilten")
    again = await demo.create(workers, "http://127.0.0.1:1", "bilten")
    event = {"id": int(first[0].split()[2].rstrip(":"))}
    assert again[0] == first[0]  # found again, not made twice
    client = await aiohttp_client(hub_server)
    headers = {"Authorization": f"Bearer {make_token('organizer', org=demo.DEMO_ORG)}"}
    resp = await client.get(f"/api/v1/events/{event['id']}/seats", headers=headers)
    seat_map = await resp.json()
    assert resp.status == 200, seat_map
    assert [s["name"] for s in seat_map["sections"]] == [s[0] for s in demo.DEMO_SECTIONS]
    assert seat_map["seats"] == sum(rows * seats for _, _, rows, seats in demo.DEMO_SECTIONS)
    for section in seat_map["sections"]:
        for row in section["rows"]:
            assert set(decode_states(row["states"])) == {"available"}
    resp = await client.get(f"/api/v1/events/{event['id']}/ticket-types", headers=headers)
    kinds = {t["name"]: t for t in (await resp.json())["ticket_types"]}
    assert kinds["Parter"]["seated"] and kinds["Parter"]["remaining"] == 40
    assert kinds["General"]["sold"] == len(demo.DEMO_HOLDERS)
