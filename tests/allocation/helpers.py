"""A venue for allocation tests (event, ticket types in two currencies, a seat map),
a client that keeps `event.{id}.seats` applied, and database probes."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg

from bilten.infra.settings import Settings
from bilten.protocol.seats import SeatView, apply, decode_id_runs, from_snapshot
from tests.hub.helpers import Raw, create_event
from tests.waiting import WAIT_S, wait_for


class Crowd:
    """Many WebSockets to test hubs: a session without the client's 100-connection cap.

    Each waits up to `patience` for a message (a storm's deadline: see `Raw`)."""

    def __init__(self, patience: float = WAIT_S) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.patience = patience
        self.rests: list[aiohttp.ClientSession] = []

    async def connect(self, server: Any, token: str) -> Raw:
        return Raw(
            await self.session.ws_connect(server.make_url(f"/ws?token={token}")), self.patience
        )

    def rest(self, server: Any) -> aiohttp.ClientSession:
        """A session to one hub's REST API (paths relative to the hub), closed with the crowd."""
        session = aiohttp.ClientSession(
            base_url=server.make_url("/"), connector=aiohttp.TCPConnector(limit=0)
        )
        self.rests.append(session)
        return session

    async def close(self) -> None:
        for session in [self.session, *self.rests]:
            await session.close()


def ok(reply: dict[str, Any]) -> Any:
    """The result of an rpc reply (fails the test on an error)."""
    assert reply["op"] == "result", reply
    return reply["result"]


def error(reply: dict[str, Any]) -> dict[str, Any]:
    """The error of an rpc reply (fails the test on a result)."""
    assert reply["op"] == "error", reply
    return dict(reply["error"])


@dataclass
class Venue:
    """Section A (rows 1.., type Parter, BAM), section B (one labelled row, Balkon, EUR),
    and general admission (Stajanje, BAM, with a quota)."""

    event_id: int
    parter: int
    balkon: int
    ga: int
    rows: dict[str, list[int]] = field(default_factory=dict)  # "A/1" → seat ids in order

    @property
    def seat_ids(self) -> list[int]:
        return [s for ids in self.rows.values() for s in ids]


async def make_venue(
    organizer: Raw, *, rows: int = 2, seats: int = 10, ga_quota: int | None = 5
) -> Venue:
    event_id = await create_event(organizer)

    async def new_type(name: str, price: int, **extra: Any) -> int:
        return int(
            ok(
                await organizer.call(
                    "tickettypes.create",
                    {"event_id": event_id, "name": name, "price_minor": price, **extra},
                )
            )["id"]
        )

    venue = Venue(
        event_id,
        await new_type("Parter", 5000),
        await new_type("Balkon", 3000, currency="EUR"),
        await new_type("Stajanje", 1500, quota=ga_quota),
    )
    created = ok(
        await organizer.call(
            "seats.create",
            {
                "event_id": event_id,
                "sections": [
                    {
                        "name": "A",
                        "ticket_type_id": venue.parter,
                        "rows": [{"name": str(r), "seats": seats} for r in range(1, rows + 1)],
                    },
                    {
                        "name": "B",
                        "rows": [
                            {
                                "name": "1",
                                "seats": ["B1", "B2", "B3", "B4"],
                                "ticket_type_id": venue.balkon,
                            }
                        ],
                    },
                ],
            },
        )
    )
    assert created["seats"] == rows * seats + 4
    seat_map = ok(await organizer.call("seats.map", {"event_id": event_id}))
    for section in seat_map["sections"]:
        for row in section["rows"]:
            venue.rows[f"{section['name']}/{row['name']}"] = decode_id_runs(row["ids"])
    return venue


async def hold(raw: Raw, event_id: int, **params: Any) -> dict[str, Any]:
    return dict(ok(await raw.call("seats.hold", {"event_id": event_id, **params})))


class SeatWatcher:
    """Subscribes to `event.{id}.seats` and applies every delta with protocol.seats.apply."""

    def __init__(self, raw: Raw, event_id: int) -> None:
        self.raw = raw
        self.channel = f"event.{event_id}.seats"
        self.view: SeatView | None = None
        self.deltas: list[dict[str, Any]] = []
        self.snapshot_bytes = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> dict[str, Any]:
        reply = await self.raw.subscribe(self.channel)
        assert reply["op"] == "subscribed", reply
        import orjson

        self.snapshot_bytes = len(orjson.dumps(reply["snapshot"]))
        self.view = from_snapshot(reply["snapshot"])
        self._task = asyncio.get_running_loop().create_task(self._pump())
        return reply

    async def _pump(self) -> None:
        while True:
            message = await self.raw.recv()
            if message["op"] == "pub":
                assert self.view is not None
                self.deltas.append(message["data"])
                self.view = apply(
                    self.view, message["data"], offset=message["offset"], epoch=message["epoch"]
                )
            elif message["op"] == "subscribed":  # a resync from the hub
                self.view = from_snapshot(message["snapshot"])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def until_equal(self, settings: Settings, event_id: int, timeout: float = WAIT_S) -> None:
        """Wait until the applied view equals the database (seats and GA counters)."""

        async def equal() -> bool:
            assert self._task is not None
            if self._task.done():
                self._task.result()
                raise RuntimeError("the watcher stopped")
            states, ga = await db_state(settings, event_id)
            assert self.view is not None
            view_ga = {t: (c.held, c.sold) for t, c in self.view.ga.items() if t in ga}
            wrong = {
                s: (self.view.states.get(s), st)
                for s, st in states.items()
                if self.view.states.get(s) != st
            }
            extra = sorted(set(self.view.states) - set(states))[:10]
            assert not wrong and not extra and view_ga == ga, (
                f"view differs from the database: {list(wrong.items())[:10]}, not in it"
                f" {extra}, ga {view_ga} vs {ga}"
            )
            return True

        await wait_for(
            equal, what=f"{self.channel} as applied to equal the database", timeout=timeout
        )


async def db(settings: Settings, sql: str, *args: Any) -> list[asyncpg.Record]:
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def db_state(
    settings: Settings, event_id: int
) -> tuple[dict[int, str], dict[int, tuple[int, int]]]:
    """Seat states and GA (held, sold) of the event, from PostgreSQL."""
    seats = await db(settings, "SELECT id, status FROM seats WHERE event_id = $1", event_id)
    ga = await db(
        settings, "SELECT ticket_type_id, held, sold FROM ga_counters WHERE event_id = $1", event_id
    )
    return (
        {r["id"]: r["status"] for r in seats},
        {r["ticket_type_id"]: (r["held"], r["sold"]) for r in ga},
    )


async def check_holds(
    settings: Settings,
    venue: Venue,
    log: Sequence[dict[str, Any]],
    quota: int,
    *,
    issued: int = 0,
) -> None:
    """The database agrees with every answer, and nothing is sold or held twice.

    `log` holds an entry per hold asked: `kind` (chosen, best, ga), `ask`, `answer` and
    its `end` (kept, confirmed, released); `issued` GA tickets came from tickets.issue.
    """
    where = {s: (row, i) for row, ids in venue.rows.items() for i, s in enumerate(ids)}
    live: dict[int, dict[str, Any]] = {}
    for entry in log:
        answer = entry["answer"]
        if answer["status"] != "held":
            continue
        ask = entry["ask"]
        if entry["kind"] == "chosen":
            assert sorted(answer["seat_ids"]) == sorted(ask["seat_ids"])
        elif entry["kind"] == "best":
            seats = answer["seat_ids"]
            assert len(seats) == ask["quantity"]
            spots = [where[s] for s in seats]
            assert len({row for row, _ in spots}) == 1, spots  # together: one row…
            assert [i for _, i in spots] == list(range(spots[0][1], spots[0][1] + len(seats)))
        else:
            assert answer["seat_ids"] == [] and answer["quantity"] == ask["quantity"]
        if entry["end"] != "released":
            live[answer["hold_id"]] = entry
    taken = Counter(s for e in live.values() for s in e["answer"]["seat_ids"])
    assert not [s for s, n in taken.items() if n > 1], "a seat in two live holds or orders"

    holds = {
        r["id"]: r
        for r in await db(settings, "SELECT * FROM holds WHERE event_id = $1", venue.event_id)
    }
    answered = {e["answer"]["hold_id"] for e in log if e["answer"]["status"] == "held"}
    assert set(holds) == answered  # no hold the buyers were not told about (retries!)
    for hold_id, entry in live.items():
        assert holds[hold_id]["state"] == ("confirmed" if entry["end"] == "confirmed" else "active")
    seats = await db(
        settings,
        "SELECT id, status, hold_id, ticket_id FROM seats WHERE event_id = $1",
        venue.event_id,
    )
    for seat in seats:
        if seat["status"] == "held":
            assert seat["id"] in holds[seat["hold_id"]]["seat_ids"]
            assert holds[seat["hold_id"]]["state"] == "active"
        elif seat["status"] == "sold":
            assert holds[seat["hold_id"]]["state"] == "confirmed"
        else:
            assert seat["id"] not in taken
    assert {s["id"] for s in seats if s["status"] != "available"} == set(taken)
    tickets = await db(
        settings, "SELECT id, ticket_type_id FROM tickets WHERE event_id = $1", venue.event_id
    )
    sold_seats = [s for s in seats if s["status"] == "sold"]
    assert len({s["ticket_id"] for s in sold_seats}) == len(sold_seats)
    ga_live = [h for h in holds.values() if h["ticket_type_id"] == venue.ga]
    held = sum(h["quantity"] for h in ga_live if h["state"] == "active")
    sold = sum(h["quantity"] for h in ga_live if h["state"] == "confirmed")
    counter = (
        await db(settings, "SELECT held, sold FROM ga_counters WHERE ticket_type_id = $1", venue.ga)
    )[0]
    assert (counter["held"], counter["sold"]) == (held, sold + issued)
    assert held + sold + issued <= quota
    assert Counter(t["ticket_type_id"] for t in tickets)[venue.ga] == sold + issued
    assert len(tickets) == sold + issued + len(sold_seats)
    orders = await db(settings, "SELECT hold_id FROM orders WHERE event_id = $1", venue.event_id)
    confirmed = [h for h, entry in live.items() if entry["end"] == "confirmed"]
    assert sorted(o["hold_id"] for o in orders) == sorted(confirmed)  # one order each
    per_buyer: Counter[str] = Counter()
    for h in holds.values():
        if h["state"] in ("active", "confirmed"):
            per_buyer[h["owner_sub"]] += h["quantity"]
    assert max(per_buyer.values()) <= 10  # the default per-attendee cap
