"""Exports through a real hub and exports worker: what the database holds, CSV and JSON."""

from __future__ import annotations

from typing import Any

import orjson

from bilten.infra.settings import Settings
from bilten.protocol.exports import COLUMNS
from bilten.protocol.poll_tally import add_up
from bilten.protocol.polls import PollSpec
from tests.allocation.helpers import db
from tests.checkin.helpers import door_setup, scan
from tests.engagement.helpers import make_poll, make_session
from tests.exports.helpers import as_csv, download, expected, text
from tests.hub.helpers import connect

NASTY = [
    '=HYPERLINK("http://x")',
    "+1 555",
    "-2+3",
    "@SUM(A1)",
    'Quote "me", ok',
    "Ćevapi, Sarajevo",
]


async def _orders(settings: Settings, event_id: int, type_id: int) -> None:
    """Two orders as the allocation worker writes them (a confirmed hold each)."""
    for i, (owner, email, amount) in enumerate(
        [("fan-1", "fan1@example.org", 5000), ("=cmd|' /C calc'!A0", None, 0)]
    ):
        await db(
            settings,
            """WITH h AS (
                 INSERT INTO holds (event_id, owner_sub, ticket_type_id, quantity, amount_minor,
                                    currency, state, expires_at, warn_at)
                 VALUES ($1, $2, $3, 2, $4, 'BAM', 'confirmed', now(), now()) RETURNING id)
               INSERT INTO orders (hold_id, event_id, owner_sub, amount_minor, currency,
                                   ticket_ids, email, created_at)
               SELECT id, $1, $2, $4, 'BAM', $5, $6, '2027-03-28 00:59:59.5+00' FROM h""",
            event_id,
            owner,
            type_id,
            amount + i,
            [1, 2 + i],
            email,
        )


async def test_exports_match_the_database(
    hub_server: Any, aiohttp_client: Any, make_token: Any, workers: Settings
) -> None:
    client = await aiohttp_client(hub_server)
    token = make_token("organizer")
    organizer = await connect(client, token)
    door = await door_setup(organizer, count=3)
    event_id = door.event_id
    for holder in NASTY:
        reply = await organizer.call(
            "tickets.issue",
            {"event_id": event_id, "ticket_type_id": door.type_id, "holder": holder},
        )
        assert reply["op"] == "result", reply
    await organizer.call("tickets.revoke", {"ticket_id": door.tickets[2]["id"]})
    await scan(organizer, event_id, door.tickets[0]["code"], "north")
    await scan(organizer, event_id, door.tickets[0]["code"], "south")  # already inside
    await scan(organizer, event_id, door.tickets[1]["code"], "south", "out")  # not inside
    await scan(organizer, event_id, door.tickets[2]["code"], "north")  # revoked
    await _orders(workers, event_id, door.type_id)

    for name in ("tickets", "checkins", "orders"):
        rows = await expected(workers, event_id, name)
        assert rows, name
        status, body = await download(client, token, event_id, f"{name}.csv")
        assert status == 200, body
        assert body == [list(COLUMNS[name]), *as_csv(rows)], name
        status, body = await download(client, token, event_id, f"{name}.json")
        assert status == 200, body
        assert body == [dict(zip(COLUMNS[name], row, strict=True)) for row in rows], name

    holders = [row[3] for row in (await download(client, token, event_id, "tickets.csv"))[1][1:]]
    assert holders[3:] == [
        '\'=HYPERLINK("http://x")',
        "'+1 555",
        "'-2+3",
        "'@SUM(A1)",
        'Quote "me", ok',
        "Ćevapi, Sarajevo",
    ]
    reasons = [
        row["reason"] for row in (await download(client, token, event_id, "checkins.json"))[1]
    ]
    assert reasons == [None, "already_inside", "not_inside", "revoked"]


async def test_poll_results_add_up_the_ballots(
    hub_server: Any, aiohttp_client: Any, make_token: Any, workers: Settings
) -> None:
    client = await aiohttp_client(hub_server)
    token = make_token("organizer")
    organizer = await connect(client, token)
    event_id, session_id = await make_session(organizer)
    ballots: dict[str, list[Any]] = {
        "single": [0, 1, 1],
        "multiple": [[0, 2], [2]],
        "rating": [5, 5, 3, 1],
        "words": ["zebra", "apple", "zebra", "=1+1"],
        "ranking": [[2, 0, 1], [0, 1, 2]],
    }
    polls = {}
    for kind, choices in ballots.items():
        options = ["=Yes", "No", "Maybe"] if kind not in ("rating", "words") else None
        poll = await make_poll(
            organizer, session_id, kind, **({"options": options} if options else {})
        )
        polls[kind] = poll
        for i, choice in enumerate(choices):
            await db(
                workers,
                "INSERT INTO poll_ballots (poll_id, voter, choice) VALUES ($1, $2, $3::jsonb)",
                poll["id"],
                f"fan-{i}",
                orjson.dumps(choice).decode(),
            )
    await make_poll(organizer, session_id, "single", open_=False, options=["A", "B"])  # no votes

    rows = []
    for poll in await db(workers, "SELECT * FROM polls WHERE event_id = $1 ORDER BY id", event_id):
        options = tuple(orjson.loads(poll["options"]))
        spec = PollSpec(poll["kind"], options)
        choices = await db(
            workers, "SELECT choice FROM poll_ballots WHERE poll_id = $1", poll["id"]
        )
        counters = add_up(spec, [orjson.loads(c["choice"]) for c in choices])
        head = [str(poll["id"]), str(poll["session_id"]), poll["question"], poll["kind"]]
        head.append(poll["status"])
        if poll["kind"] == "rating":
            answers = [(None, str(n), f"r{n}") for n in range(1, 6)]
        elif poll["kind"] == "words":
            words = sorted(f[2:] for f in counters if f.startswith("w:"))
            answers = [(None, w, f"w:{w}") for w in words]
        else:
            answers = [(str(i), o, f"o{i}") for i, o in enumerate(options)]
        rows += [
            [*head, option, answer, text(counters.get(key, 0)), text(counters.get("v", 0))]
            for option, answer, key in answers
        ]
    status, body = await download(client, token, event_id, "polls.json")
    assert status == 200, body
    assert body == [dict(zip(COLUMNS["polls"], row, strict=True)) for row in rows]
    status, body = await download(client, token, event_id, "polls.csv")
    assert body == [list(COLUMNS["polls"]), *as_csv(rows)]
    ranking = [r for r in body if r[0] == str(polls["ranking"]["id"])]
    assert [(r[6], r[7]) for r in ranking] == [("'=Yes", "3"), ("No", "1"), ("Maybe", "2")]


async def test_who_may_export_and_what_is_refused(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    token = make_token("organizer")
    organizer = await connect(client, token)
    event_id = (await door_setup(organizer, count=1)).event_id

    async def refusal(file: str, bearer: str = token, event: int = event_id) -> tuple[int, str]:
        status, body = await download(client, bearer, event, file)
        return status, body["error"]["code"]

    assert await refusal("guests.csv") == (404, "not_found")
    assert await refusal("tickets.xlsx") == (400, "unsupported_format")
    assert await refusal("tickets") == (400, "unsupported_format")
    assert await refusal("tickets.csv", make_token("staff", events=[event_id])) == (
        403,
        "forbidden",
    )
    assert await refusal("tickets.csv", make_token("attendee", events=[event_id])) == (
        403,
        "forbidden",
    )
    other_org = make_token("organizer", org="other")  # as every command of the event answers
    assert await refusal("tickets.csv", other_org) == (403, "forbidden")
    assert await refusal("tickets.csv", event=event_id + 10_000) == (404, "not_found")
    resp = await client.get(f"/api/v1/events/{event_id}/exports/tickets.csv")
    assert resp.status == 401
    status, body = await download(client, make_token("service"), event_id, "tickets.csv")
    assert status == 200 and len(body) == 2


async def test_rows_page_by_page_over_rpc(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer, count=3)
    params = {"event_id": door.event_id, "name": "tickets", "limit": 2}
    first = (await organizer.call("exports.page", params))["result"]
    assert first["columns"] == list(COLUMNS["tickets"]) and len(first["rows"]) == 2
    second = (await organizer.call("exports.page", {**params, "after": first["next"]}))["result"]
    assert second["next"] is None
    ids = [row[0] for row in first["rows"] + second["rows"]]
    assert ids == [str(ticket["id"]) for ticket in door.tickets]
    for name, after in (("tickets", "x"), ("tickets", "1:2"), ("polls", "7")):
        reply = await organizer.call("exports.page", {**params, "name": name, "after": after})
        assert reply["error"]["code"] == "bad_request" and reply["error"]["details"] == {
            "field": "after"
        }, reply
