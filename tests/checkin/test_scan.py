"""Online scanning through a real hub, NATS and the check-in worker."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bilten.infra.settings import Settings
from bilten.protocol.tickets import TicketRef, sign_code
from tests.checkin.helpers import door_setup, scan
from tests.hub.helpers import connect
from tests.waiting import allowance, arrives


async def test_entry_exit_reentry_and_rejections(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer)
    staff = await connect(client, make_token("staff", events=[door.event_id]))
    code = door.tickets[0]["code"]
    assert len(code) <= 100

    first = await scan(staff, door.event_id, code, "north")
    assert (first["status"], first["reason"], first["inside"]) == ("ok", None, 1)
    assert first["ticket"]["holder"] == "Amra H." and first["previous"] is None
    again = await scan(staff, door.event_id, code, "south")
    assert (again["status"], again["reason"]) == ("rejected", "already_inside")
    assert again["previous"]["gate"] == "north"
    assert again["previous"]["at"] == first["scanned_at"]
    out = await scan(staff, door.event_id, code, "south", "out")
    assert (out["status"], out["inside"]) == ("ok", 0)
    out_again = await scan(staff, door.event_id, code, "south", "out")
    assert out_again["reason"] == "not_inside"
    back = await scan(staff, door.event_id, code, "south")
    assert back["status"] == "ok" and back["inside"] == 1
    never_in = await scan(staff, door.event_id, door.tickets[1]["code"], "north", "out")
    assert never_in["reason"] == "not_inside"


async def test_reentry_forbidden_when_the_event_says_so(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer, allow_reentry=False)
    code = door.tickets[0]["code"]
    assert (await scan(organizer, door.event_id, code))["status"] == "ok"
    assert (await scan(organizer, door.event_id, code, direction="out"))["status"] == "ok"
    assert (await scan(organizer, door.event_id, code))["reason"] == "reentry_forbidden"


async def test_forged_garbled_unknown_revoked_and_wrong_event(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer)
    other = await door_setup(organizer)
    staff = await connect(client, make_token("staff", events=[door.event_id]))
    forged = sign_code(
        Ed25519PrivateKey.generate(), TicketRef(door.event_id, door.tickets[0]["id"])
    )
    assert (await scan(staff, door.event_id, forged))["reason"] == "invalid"
    code = door.tickets[0]["code"]
    garbled = code[:-3] + ("xyz" if code[-3:] != "xyz" else "abc")
    assert (await scan(staff, door.event_id, garbled))["reason"] == "invalid"
    assert (await scan(staff, door.event_id, "hello world"))["reason"] == "invalid"
    wrong = await scan(staff, door.event_id, other.tickets[0]["code"])
    assert wrong["reason"] == "wrong_event"
    # A correctly signed code for a ticket that does not exist.
    assert workers.database_url
    conn = await asyncpg.connect(workers.database_url)
    try:
        raw_key = await conn.fetchval(
            "SELECT private_key FROM event_keys WHERE event_id = $1", door.event_id
        )
    finally:
        await conn.close()
    key = Ed25519PrivateKey.from_private_bytes(bytes(raw_key))
    unknown = sign_code(key, TicketRef(door.event_id, 10**12))
    assert (await scan(staff, door.event_id, unknown))["reason"] == "unknown"
    revoked = door.tickets[1]
    reply = await organizer.call("tickets.revoke", {"ticket_id": revoked["id"]})
    assert reply["result"]["state"] == "revoked"
    assert (await scan(staff, door.event_id, revoked["code"]))["reason"] == "revoked"
    listing = (await staff.call("checkin.list", {"event_id": door.event_id}))["result"]
    assert [s["reason"] for s in listing["scans"]] == [
        "invalid",
        "invalid",
        "invalid",
        "wrong_event",
        "unknown",
        "revoked",
    ]
    assert listing["inside"] == 0


async def test_gate_limits_and_unknown_gates(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer)
    north_only = await connect(
        client, make_token("staff", events=[door.event_id], gates=("north",))
    )
    code = door.tickets[0]["code"]
    assert (await scan(north_only, door.event_id, code, "south"))["reason"] == "gate_not_allowed"
    assert (await scan(north_only, door.event_id, code, "north"))["status"] == "ok"
    reply = await north_only.call(
        "checkin.scan", {"event_id": door.event_id, "code": code, "gate": "west"}
    )
    assert reply["error"]["code"] == "bad_request"
    other_staff = await connect(client, make_token("staff", events=[door.event_id + 1000]))
    reply = await other_staff.call(
        "checkin.scan", {"event_id": door.event_id, "code": code, "gate": "north"}
    )
    assert reply["error"]["code"] == "forbidden"
    attendee = await connect(client, make_token("attendee", events=[door.event_id]))
    reply = await attendee.call(
        "checkin.scan", {"event_id": door.event_id, "code": code, "gate": "north"}
    )
    assert reply["error"]["code"] == "forbidden"


async def test_nonce_retry_returns_the_same_verdict(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer)
    code = door.tickets[0]["code"]
    first = await scan(organizer, door.event_id, code, nonce="device-7:000001")
    retry = await scan(organizer, door.event_id, code, nonce="device-7:000001")
    assert first == retry and first["status"] == "ok"
    fresh = await scan(organizer, door.event_id, code, nonce="device-7:000002")
    assert fresh["reason"] == "already_inside"
    reply = await organizer.call(
        "checkin.scan",
        {
            "event_id": door.event_id,
            "code": door.tickets[1]["code"],
            "gate": "north",
            "nonce": "device-7:000001",
        },
    )
    assert reply["error"]["code"] == "conflict"


async def test_concurrent_scans_admit_each_ticket_once(
    workers: Settings, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """Two hubs, two check-in workers, many scanners on the same tickets."""
    from bilten.hub.app import create_app
    from bilten.workers.main import run_workers

    stop = asyncio.Event()
    extra = asyncio.get_running_loop().create_task(run_workers(workers, ["checkin"], stop))
    try:
        hubs = [await aiohttp_client(await aiohttp_server(create_app(workers))) for _ in range(2)]
        organizer = await connect(hubs[0], make_token("organizer"))
        door = await door_setup(organizer, count=20)
        scanners = [
            await connect(hubs[n % 2], make_token("staff", events=[door.event_id], sub=f"door-{n}"))
            for n in range(12)
        ]

        async def storm(raw: Any, n: int) -> list[dict[str, Any]]:
            order = door.tickets[n % 20 :] + door.tickets[: n % 20]
            return [
                await scan(raw, door.event_id, t["code"], ("north", "south")[n % 2]) for t in order
            ]

        batches = await arrives(
            asyncio.gather(*(storm(raw, n) for n, raw in enumerate(scanners))),
            what="240 scans",
            timeout=allowance(12 * 20),
        )
        results = [v for batch in batches for v in batch]
        assert len(results) == 12 * 20
        oks: dict[int, int] = {}
        for verdict in results:
            if verdict["status"] == "ok":
                oks[verdict["ticket"]["id"]] = oks.get(verdict["ticket"]["id"], 0) + 1
            else:
                assert verdict["reason"] == "already_inside", verdict
        assert oks == {t["id"]: 1 for t in door.tickets}
        listing = (await organizer.call("checkin.list", {"event_id": door.event_id}))["result"]
        assert listing["inside"] == 20
        assert sum(listing["inside_by_gate"].values()) == 20
    finally:
        stop.set()
        await arrives(extra, what="the extra check-in worker to stop")


async def test_verdicts_are_published_to_staff(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer)
    watcher = await connect(client, make_token("staff", events=[door.event_id], sub="lead"))
    assert (await watcher.subscribe(f"event.{door.event_id}.checkins"))["op"] == "subscribed"
    verdict = await scan(organizer, door.event_id, door.tickets[0]["code"])
    pub = await watcher.until("pub")
    assert pub["data"]["nonce"] == verdict["nonce"] and pub["data"]["status"] == "ok"


async def test_qr_svg(hub_server: Any, aiohttp_client: Any, make_token: Any) -> None:
    client = await aiohttp_client(hub_server)
    token = make_token("organizer")
    organizer = await connect(client, token)
    door = await door_setup(organizer)
    ticket = door.tickets[0]
    resp = await client.get(
        f"/api/v1/tickets/{ticket['id']}/qr.svg", headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status == 200 and resp.content_type == "image/svg+xml"
    assert (await resp.text()).lstrip().startswith("<?xml")
    resp = await client.get(
        f"/api/v1/tickets/{ticket['id']}/qr.svg",
        headers={"Authorization": f"Bearer {make_token('organizer', org='x')}"},
    )
    assert resp.status == 404
