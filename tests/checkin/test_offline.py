"""Offline check-in: the device bundle and `checkin.sync`, through a real hub and workers."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bilten.infra.settings import Settings
from bilten.protocol.checkin import REASONS
from bilten.protocol.frames import Rejected, decode_client_frames
from bilten.protocol.offline import (
    Bundle,
    BundleTicket,
    encode_bundle,
    initials,
    parse_bundle,
    parse_sync,
)
from bilten.protocol.tickets import public_key_from_text, verify_code
from tests.checkin.helpers import door_setup, scan
from tests.hub.helpers import Raw, connect

NOW = datetime.now(UTC)
DOC = (Path(__file__).resolve().parents[2] / "docs" / "checkin.md").read_text("utf-8")


def at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat()


def offline(
    code: str,
    nonce: str,
    minutes_ago: float,
    verdict: str = "ok",
    gate: str = "north",
    direction: str = "in",
) -> dict[str, Any]:
    return {
        "code": code,
        "gate": gate,
        "direction": direction,
        "scanned_at": at(minutes_ago),
        "nonce": nonce,
        "verdict": verdict,
    }


async def sync(raw: Raw, event_id: int, device: str, *scans: dict[str, Any]) -> dict[str, Any]:
    reply = await raw.call(
        "checkin.sync", {"event_id": event_id, "device": device, "scans": list(scans)}
    )
    assert reply["op"] == "result", reply
    return dict(reply["result"])


async def listing(raw: Raw, event_id: int, conflicts: bool = False) -> dict[str, Any]:
    params: dict[str, Any] = {"event_id": event_id, **({"conflicts": 1} if conflicts else {})}
    return dict((await raw.call("checkin.list", params))["result"])


def test_initials() -> None:
    assert [initials(h) for h in ("Amra H.", "madonna", "Ana Marija Novak", " ", "(Đuro) x")] == [
        "A.H.",
        "M.",
        "A.N.",
        "?",
        "Đ.X.",
    ]


def test_bundle_for_50k_tickets_is_compact() -> None:
    """docs/checkin.md quotes these sizes: keep them true."""
    rng = random.Random(7)
    holders = ["Amra H.", "Jasmin Begić", "Lejla K.", "Madonna", "Ana Marija Novak"]
    ids = list(range(1_200_000, 1_250_000))
    tickets = [
        BundleTicket(
            i,
            rng.choice(["General", "VIP", "Student"]),
            initials(rng.choice(holders)),
            rng.random() < 0.01,
        )
        for i in ids
    ]
    empty = Bundle(42, NOW, "A" * 43, ("north", "south"), None, True, tuple(tickets))
    size = len(orjson.dumps(encode_bundle(empty)))
    full = Bundle(
        42,
        NOW,
        "A" * 43,
        ("north", "south"),
        None,
        True,
        tuple(
            BundleTicket(t.id, t.type, t.initials, t.revoked, rng.choice(["north", "south"]), True)
            for t in tickets
        ),
    )
    size_full = len(orjson.dumps(encode_bundle(full)))
    assert 500_000 < size < 560_000 and 700_000 < size_full < 780_000, (size, size_full)
    assert parse_bundle(orjson.loads(orjson.dumps(encode_bundle(full)))) == full


def test_docs_examples_and_reasons() -> None:
    """docs/checkin.md is the contract: its examples decode, its reason table is complete."""
    lines = [
        line
        for block in re.findall(r"```json\n(.*?)```", DOC, re.S)
        for line in block.splitlines()
        if line.strip()
    ]
    examples = [orjson.loads(line) for line in lines]
    for line, example in zip(lines, examples, strict=True):
        if example.get("op"):
            assert not [m for m in decode_client_frames(line.encode()) if isinstance(m, Rejected)]
    bundle = parse_bundle(next(e for e in examples if e.get("format") == 1))
    assert [(t.id, t.type, t.revoked, t.inside_gate, t.entered) for t in bundle.tickets] == [
        (1, "General", False, "north", True),
        (2, "General", False, None, True),
        (3, "General", True, None, False),
        (7, "VIP", False, None, False),
    ]
    sync_ = next(e["params"] for e in examples if e.get("method") == "checkin.sync")
    assert len(parse_sync(sync_, now=datetime(2027, 6, 1, 18, tzinfo=UTC)).scans) == 2
    verdicts = [e for e in examples if "status" in e] + next(e for e in examples if "results" in e)[
        "results"
    ]
    assert all(
        {
            "status",
            "reason",
            "ticket",
            "previous",
            "scanned_at",
            "nonce",
            "inside",
            "offline",
            "device",
        }
        <= verdict.keys()
        for verdict in verdicts
    )
    section = DOC.split("## Verdicts")[1].split("## ")[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| `")]
    assert {name.strip(" `") for name, status in rows if status.strip().startswith("rejected")} == {
        *REASONS,
        "device_rejected",
    }


async def test_bundle_contents_and_permissions(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer, count=4)
    await organizer.call("tickets.revoke", {"ticket_id": door.tickets[3]["id"]})
    staff = await connect(client, make_token("staff", events=[door.event_id]))
    await scan(staff, door.event_id, door.tickets[0]["code"], "south")
    await scan(staff, door.event_id, door.tickets[1]["code"], "north")
    await scan(staff, door.event_id, door.tickets[1]["code"], "north", "out")

    token = make_token("staff", events=[door.event_id], gates=("north",))
    resp = await client.get(
        f"/api/v1/events/{door.event_id}/checkin-bundle",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status == 200, await resp.text()
    raw = await resp.json()
    assert raw["tickets"]["id"][1:] == [1, 1, 1] and raw["types"] == ["General"]
    bundle = parse_bundle(raw)
    assert bundle.event_id == door.event_id and bundle.gates == ("north", "south")
    assert bundle.allowed_gates == ("north",) and bundle.allow_reentry is True
    assert abs((bundle.generated_at - datetime.now(UTC)).total_seconds()) < 60
    key = public_key_from_text(bundle.public_key)
    assert [verify_code(t["code"], key).ticket_id for t in door.tickets] == [
        t["id"] for t in door.tickets
    ]
    by_id = {t.id: t for t in bundle.tickets}
    assert [by_id[t["id"]] for t in door.tickets] == [
        BundleTicket(door.tickets[0]["id"], "General", "A.H.", False, "south", True),
        BundleTicket(door.tickets[1]["id"], "General", "A.H.", False, None, True),
        BundleTicket(door.tickets[2]["id"], "General", "A.H."),
        BundleTicket(door.tickets[3]["id"], "General", "A.H.", revoked=True),
    ]

    via_rpc = await staff.call("checkin.bundle", {"event_id": door.event_id})
    assert parse_bundle(via_rpc["result"]).allowed_gates is None
    attendee = await connect(client, make_token("attendee", events=[door.event_id]))
    reply = await attendee.call("checkin.bundle", {"event_id": door.event_id})
    assert reply["error"]["code"] == "forbidden"
    other = await connect(client, make_token("staff", events=[door.event_id + 1000]))
    reply = await other.call("checkin.bundle", {"event_id": door.event_id})
    assert reply["error"]["code"] == "forbidden"


async def test_bundle_of_50k_real_tickets(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer, count=1)
    assert workers.database_url
    conn = await asyncpg.connect(workers.database_url)
    try:
        await conn.execute(
            """WITH t AS (INSERT INTO tickets (event_id, ticket_type_id, holder)
                          SELECT $1, $2, 'Guest ' || chr(65 + n % 26) || '.'
                          FROM generate_series(1, 49999) n RETURNING id)
               INSERT INTO ticket_presence (ticket_id) SELECT id FROM t""",
            door.event_id,
            door.type_id,
        )
    finally:
        await conn.close()
    token = make_token("staff", events=[door.event_id])
    resp = await client.get(
        f"/api/v1/events/{door.event_id}/checkin-bundle",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status == 200, await resp.text()
    body = await resp.read()
    assert len(body) < 600_000, len(body)
    assert len(parse_bundle(orjson.loads(body)).tickets) == 50_000


async def test_sync_applies_in_time_order_and_is_idempotent(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer, count=3)
    staff = await connect(client, make_token("staff", events=[door.event_id]))
    first, second, third = (t["code"] for t in door.tickets)
    batch = [
        offline(first, "devA:000003", 10, direction="out", gate="south"),
        offline(first, "devA:000001", 30),
        offline(second, "devA:000002", 20),
        offline(third, "devA:000004", 5, verdict="rejected"),
    ]
    result = await sync(staff, door.event_id, "devA", *batch)
    verdicts = result["results"]
    assert [v["nonce"] for v in verdicts] == [s["nonce"] for s in batch]
    assert [(v["status"], v["reason"]) for v in verdicts] == [
        ("ok", None),
        ("ok", None),
        ("ok", None),
        ("rejected", "device_rejected"),
    ]
    assert all(v["offline"] and v["device"] == "devA" for v in verdicts)
    assert verdicts[0]["previous"]["gate"] == "north" and result["inside"] == 1
    before = await listing(staff, door.event_id)
    assert len(before["scans"]) == 4 and before["inside_by_gate"] == {"north": 1}

    again = await sync(staff, door.event_id, "devA", *batch)
    assert again["results"] == verdicts and again["inside"] == 1
    assert await listing(staff, door.event_id) == before
    # The device's rejection admitted no one: the ticket still gets in online.
    assert (await scan(staff, door.event_id, third))["status"] == "ok"


async def test_two_devices_admit_one_ticket(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer, count=2)
    staff = await connect(client, make_token("staff", events=[door.event_id]))
    watcher = await connect(client, make_token("staff", events=[door.event_id], sub="lead"))
    assert (await watcher.subscribe(f"event.{door.event_id}.checkins"))["op"] == "subscribed"
    code, other = door.tickets[0]["code"], door.tickets[1]["code"]

    # Device B (later at the door) syncs first; device A's earlier admission wins anyway.
    late = await sync(staff, door.event_id, "devB", offline(code, "devB:000001", 5, gate="south"))
    assert late["results"][0]["status"] == "ok"
    early = await sync(
        staff,
        door.event_id,
        "devA",
        offline(code, "devA:000001", 9),
        offline(other, "devA:000002", 8),
    )
    assert [v["status"] for v in early["results"]] == ["ok", "ok"]
    assert early["inside"] == 2
    conflicts = (await listing(staff, door.event_id, conflicts=True))["scans"]
    assert [(c["nonce"], c["status"], c["reason"]) for c in conflicts] == [
        ("devB:000001", "conflict", "already_inside")
    ]
    assert conflicts[0]["previous"] == {"gate": "north", "at": early["results"][0]["scanned_at"]}
    full = await listing(staff, door.event_id)
    assert full["inside"] == 2 and full["inside_by_gate"] == {"north": 2, "south": 0}
    seen = [(await watcher.until("pub"))["data"] for _ in range(4)]
    assert ("devB:000001", "conflict") in [(d["nonce"], d["status"]) for d in seen]
    # A third device, in time order after both: a plain conflict, nothing re-marked.
    third = await sync(staff, door.event_id, "devC", offline(code, "devC:000001", 1))
    assert third["results"][0]["status"] == "conflict" and third["inside"] == 2


async def test_offline_admission_outranks_a_later_online_one(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer, count=1)
    staff = await connect(client, make_token("staff", events=[door.event_id]))
    watcher = await connect(client, make_token("staff", events=[door.event_id], sub="lead"))
    await watcher.subscribe(f"event.{door.event_id}.checkins")
    code = door.tickets[0]["code"]
    online = await scan(staff, door.event_id, code, "south", nonce="online:000001")
    assert online["status"] == "ok"
    synced = await sync(staff, door.event_id, "devA", offline(code, "devA:000001", 4))
    standing = synced["results"][0]
    assert (standing["status"], standing["previous"]) == ("ok", None)
    conflicts = (await listing(staff, door.event_id, conflicts=True))["scans"]
    assert [(c["nonce"], c["reason"]) for c in conflicts] == [("online:000001", "already_inside")]
    assert conflicts[0]["previous"] == {"gate": "north", "at": standing["scanned_at"]}
    assert conflicts[0]["revised_at"]
    counts = await listing(staff, door.event_id)
    assert counts["inside"] == 1 and counts["inside_by_gate"] == {"north": 1, "south": 0}
    pubs = [(await watcher.until("pub"))["data"] for _ in range(3)]
    assert [(p["nonce"], p["status"]) for p in pubs] == [
        ("online:000001", "ok"),
        ("devA:000001", "ok"),
        ("online:000001", "conflict"),
    ]
    # Presence points at the standing entry: where and when they really came in.
    again = await scan(staff, door.event_id, code, "south")
    assert again["reason"] == "already_inside"
    assert again["previous"] == {"gate": "north", "at": standing["scanned_at"]}
    out = await scan(staff, door.event_id, code, "south", "out")
    assert out["status"] == "ok" and out["inside"] == 0
    assert (await listing(staff, door.event_id))["inside_by_gate"] == {"north": 0, "south": 0}


async def test_gate_limits_apply_to_synced_scans(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer, count=1)
    north_only = await connect(
        client, make_token("staff", events=[door.event_id], gates=("north",))
    )
    result = await sync(
        north_only,
        door.event_id,
        "devA",
        offline(door.tickets[0]["code"], "devA:000001", 3, gate="south"),
    )
    assert result["results"][0]["reason"] == "gate_not_allowed" and result["inside"] == 0


async def test_bad_sync_input(hub_server: Any, aiohttp_client: Any, make_token: Any) -> None:
    client = await aiohttp_client(hub_server)
    token = make_token("organizer")
    door = await door_setup(await connect(client, token), count=1)
    code = door.tickets[0]["code"]
    good = offline(code, "devA:000001", 1)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"scans": [good]}, "device"),
        ({"device": "devA", "scans": "nope"}, "scans"),
        ({"device": "devA", "scans": [{}] * 1001}, "scans"),
        ({"device": "devA", "scans": [{**good, "nonce": None}]}, "scans[0].nonce"),
        ({"device": "devA", "scans": [good, {**good, "nonce": "bad nonce!"}]}, "scans[1].nonce"),
        ({"device": "devA", "scans": [{**good, "verdict": "maybe"}]}, "scans[0].verdict"),
        ({"device": "devA", "scans": [{**good, "scanned_at": None}]}, "scans[0].scanned_at"),
        ({"device": "devA", "scans": [{**good, "scanned_at": "19:02"}]}, "scans[0].scanned_at"),
        (
            {"device": "devA", "scans": [{**good, "scanned_at": "2027-06-01T19:02:00"}]},
            "scans[0].scanned_at",
        ),
        ({"device": "devA", "scans": [{**good, "scanned_at": at(-60)}]}, "scans[0].scanned_at"),
        ({"device": "devA", "scans": [{**good, "gate": "west"}]}, "scans[0].gate"),
        ({"device": "devA", "scans": [good, {**good, "code": code + "x"}]}, "scans[1].nonce"),
    ]
    for body, field in cases:
        resp = await client.post(
            f"/api/v1/events/{door.event_id}/checkins/sync",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        error = (await resp.json())["error"]
        assert (resp.status, error["code"], error["details"]["field"]) == (
            400,
            "bad_request",
            field,
        ), (body, error)
    listing_ = await client.get(
        f"/api/v1/events/{door.event_id}/checkins", headers={"Authorization": f"Bearer {token}"}
    )
    assert (await listing_.json())["scans"] == []
