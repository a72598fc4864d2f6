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


async def test_demo_event_has_an_open_poll_an_attendee_can_vote_in(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    lines = await demo.create(workers, "http://127.0.0.1:1", "bilten")
    [vote] = [line for line in lines if line.lstrip().startswith("vote")]
    assert demo.DEMO_POLL in vote
    event_id = int(lines[0].split()[2].rstrip(":"))
    poll_id = int(vote.split("/api/v1/polls/")[1].split("/")[0])
    client = await aiohttp_client(hub_server)
    token = make_token("attendee", org=demo.DEMO_ORG, events=[event_id], sub="demo-voter")
    resp = await client.post(
        f"/api/v1/polls/{poll_id}/votes",
        json={"choice": 1},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status == 201, await resp.text()
