"""Analytics end to end: real NATS, PostgreSQL, Redis and embedded ClickHouse (chdb).

Scans, purchases and votes go through the hub to their workers, whose
domain events (`checkin.decided`, `orders.created`, `polls.voted`) the
analytics worker counts.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig

from bilten.infra import outbox
from bilten.infra.settings import settings_env
from bilten.protocol.analytics import METRICS
from bilten.protocol.subjects import ANALYTICS_CONSUMER
from bilten.workers import analytics, analytics_sql
from tests.allocation.helpers import hold, ok
from tests.analytics.conftest import Stack
from tests.checkin.helpers import DoorSetup, door_setup, scan
from tests.engagement.helpers import make_poll
from tests.hub.helpers import Raw, connect, create_event
from tests.metrics.helpers import DashboardView
from tests.waiting import WAIT_S, wait_for


async def rest(
    stack: Stack, token: str, method: str, path: str, **params: Any
) -> tuple[int, dict[str, Any]]:
    """A REST call with a bearer token: its status and JSON body."""
    headers = {"Authorization": f"Bearer {token}"}
    query = {k: str(v) for k, v in params.items()}
    async with stack.client.request(method, path, params=query, headers=headers) as resp:
        return resp.status, await resp.json()


async def stats(stack: Stack, token: str, event_id: int, metric: str, **more: Any) -> Any:
    status, body = await rest(
        stack, token, "GET", f"/api/v1/events/{event_id}/stats", metric=metric, **more
    )
    assert status == 200, body
    return body


async def every_series(stack: Stack, token: str, event_id: int) -> dict[str, Any]:
    """Every metric's series over the last day, in hours (a fixed range for comparisons)."""
    now = datetime.now(UTC)
    window = {"step": "1h", "from": (now - timedelta(hours=20)).isoformat(), "to": now.isoformat()}
    return {m: (await stats(stack, token, event_id, m, **window))["series"] for m in METRICS}


async def sell_and_vote(stack: Stack, make_token: Any, organizer: Raw, door: DoorSetup) -> None:
    """Two orders (2 × 25.00 EUR, 1 × 25.00 BAM) and three ballots, by attendees."""
    event_id = door.event_id
    euro = ok(
        await organizer.call(
            "tickettypes.create",
            {"event_id": event_id, "name": "Euro", "price_minor": 2500, "currency": "EUR"},
        )
    )
    for n, (type_id, quantity) in enumerate([(euro["id"], 2), (door.type_id, 1)]):
        buyer = await connect(
            stack.client, make_token("attendee", sub=f"buyer-{n}", events=[event_id])
        )
        held = await hold(buyer, event_id, ticket_type_id=type_id, quantity=quantity)
        assert held["status"] == "held", held
        ok(await buyer.call("seats.confirm", {"hold_id": held["hold_id"]}))
    session = ok(await organizer.call("sessions.create", {"event_id": event_id, "title": "Talk"}))
    poll = await make_poll(organizer, session["id"], "single", options=["A", "B"])
    for n in range(3):
        voter = await connect(
            stack.client, make_token("attendee", sub=f"voter-{n}", events=[event_id])
        )
        ok(await voter.call("polls.vote", {"poll_id": poll["id"], "choice": n % 2}))


async def publish(stack: Stack, kind: str, payload: dict[str, Any]) -> None:
    """A domain event through the outbox, as a worker publishes one after its commit."""
    async with stack.deps.pg.acquire() as conn, conn.transaction():
        row = await outbox.enqueue(conn, kind, payload)
    await outbox.flush(stack.deps, [row])


async def publish_sales_and_votes(stack: Stack, event_id: int) -> None:
    """Two orders (EUR and BAM) and three ballots as their workers' domain events, all
    published at once so that they reach the analytics worker in one batch."""
    now = datetime.now(UTC).isoformat()
    for n, (tickets, amount, currency) in enumerate([(2, 5000, "EUR"), (1, 2500, "BAM")]):
        order = {
            "order_id": n + 1,
            "owner_sub": f"buyer-{n}",
            "tickets": tickets,
            "ticket_ids": list(range(10 * n, 10 * n + tickets)),
            "amount": amount,
            "currency": currency,
            "created_at": now,
        }
        await publish(stack, "orders.created", {"event_id": event_id, "order": order})
    for ballot in range(3):
        vote = {"poll_id": 1, "session_id": 1, "ballot_id": ballot + 1, "voted_at": now}
        await publish(stack, "polls.voted", {"event_id": event_id, **vote})


async def test_series_sum_to_totals_and_agree_with_the_live_dashboard(
    stack: Stack, make_token: Any
) -> None:
    token = make_token("organizer")
    organizer = await connect(stack.client, token)
    door = await door_setup(organizer, count=6)
    event_id = door.event_id
    codes = [t["code"] for t in door.tickets]
    for code in codes:
        assert (await scan(organizer, event_id, code))["status"] == "ok"
    for code in codes[:2]:
        assert (await scan(organizer, event_id, code, direction="out"))["status"] == "ok"
    assert (await scan(organizer, event_id, codes[2]))["status"] == "rejected"  # already inside
    assert (await scan(organizer, event_id, "forged"))["status"] == "rejected"
    assert (await scan(organizer, event_id, codes[0], gate="south"))["status"] == "ok"
    await sell_and_vote(stack, make_token, organizer, door)
    other = await create_event(organizer)  # nothing happens there

    view = DashboardView(organizer, event_id, WAIT_S)
    await view.start()
    try:

        async def caught_up() -> bool:
            scans = (await stats(stack, token, event_id, "scans"))["series"][0]["total"]
            inside = (await stats(stack, token, event_id, "inside"))["series"][0]["total"]
            votes = (await stats(stack, token, event_id, "votes"))["series"][0]["total"]
            sales = (await stats(stack, token, event_id, "sales"))["series"][0]["total"]
            revenue = (await stats(stack, token, event_id, "revenue"))["series"]
            counted = (scans, inside, sales, {s["currency"]: s["total"] for s in revenue})
            dashboard = view.latest
            live = (
                sum(dashboard.get("scans_per_minute", [])),
                dashboard.get("inside"),
                dashboard.get("sales", {}).get("tickets"),
                dashboard.get("sales", {}).get("revenue"),
            )
            assert live[:2] == (11, 5), live  # every scan was answered before the screen opened
            return counted == live == (11, 5, 3, {"BAM": 2500, "EUR": 5000}) and votes == 3

        await wait_for(caught_up, what="analytics and the dashboard to agree on every scan")
    finally:
        await view.close()

    expected = {"scans": 11, "entries": 7, "inside": 5, "sales": 3, "votes": 3}
    for step in ("1m", "5m", "1h"):
        for metric, total in expected.items():
            [series] = (await stats(stack, token, event_id, metric, step=step))["series"]
            assert series["total"] == total, (metric, step, series)
            if metric != "inside":
                assert sum(series["values"]) == total, (metric, step, series)
            else:
                assert series["values"][-1] == total
        revenue = (await stats(stack, token, event_id, "revenue", step=step))["series"]
        assert [(s["currency"], s["total"], sum(s["values"])) for s in revenue] == [
            ("BAM", 2500, 2500),
            ("EUR", 5000, 5000),
        ]

    status, compared = await rest(stack, token, "GET", "/api/v1/orgs/acme/stats", metric="sales")
    assert status == 200, compared
    assert [(e["event_id"], e["totals"]) for e in compared["events"]] == [
        (event_id, [{"currency": None, "total": 3}]),
        (other, [{"currency": None, "total": 0}]),
    ]
    _, compared = await rest(stack, token, "GET", "/api/v1/orgs/acme/stats", metric="revenue")
    assert compared["events"][0]["totals"] == [
        {"currency": "BAM", "total": 2500},
        {"currency": "EUR", "total": 5000},
    ]
    assert compared["events"][1]["totals"] == []


async def test_redelivery_and_rebuilds_count_nothing_twice(stack: Stack, make_token: Any) -> None:
    token = make_token("organizer")
    organizer = await connect(stack.client, token)
    door = await door_setup(organizer, count=4)
    event_id = door.event_id
    for ticket in door.tickets:
        await scan(organizer, event_id, ticket["code"])
    await scan(organizer, event_id, door.tickets[0]["code"], direction="out")
    await sell_and_vote(stack, make_token, organizer, door)

    async def counted() -> bool:
        votes = (await stats(stack, token, event_id, "votes"))["series"][0]["total"]
        scans = (await stats(stack, token, event_id, "scans"))["series"][0]["total"]
        return (scans, votes) == (5, 3)

    await wait_for(counted, what="every scan, order and vote in analytics")
    # The event log holds them all before a replay can send them (the persistence worker).
    await wait_for(
        lambda: _logged(stack, event_id, 10), what="every domain event of the event logged"
    )
    before = await every_series(stack, token, event_id)
    assert before["scans"][0]["total"] == 5 and before["inside"][0]["total"] == 3

    # Redelivered: the handler gets the same messages again, twice.
    subjects = stack.deps.subjects
    durable = "analytics-redelivery"
    await stack.deps.js.add_consumer(
        subjects.events_stream,
        ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT),
    )
    sub = await stack.deps.js.pull_subscribe_bind(durable=durable, stream=subjects.events_stream)
    msgs = await sub.fetch(500, timeout=WAIT_S)
    assert len(msgs) >= 10
    for _ in range(2):
        assert await analytics.write(msgs, stack.ctx) == []
    assert await every_series(stack, token, event_id) == before

    # Rebuilt from the event log over what is there: the same figures.
    status, rebuilt = await rest(stack, token, "POST", f"/api/v1/events/{event_id}/stats/rebuild")
    assert status == 200, rebuilt
    assert rebuilt["replayed"] >= 10 and rebuilt["facts"] == 10, rebuilt
    assert await every_series(stack, token, event_id) == before

    # Lost (the store emptied of the event), then rebuilt with `bilten analytics rebuild`.
    store, db = stack.ctx.analytics.store, stack.settings.namespace
    for table in ("facts", "minutes"):
        await store.run(
            f"ALTER TABLE {db}.{table} DELETE WHERE event_id = {event_id}"
            " SETTINGS mutations_sync = 2"
        )
    emptied = await every_series(stack, token, event_id)
    assert emptied["scans"][0]["total"] == 0 and emptied["revenue"] == []
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bilten.deploy.cli",
        "analytics",
        "rebuild",
        "--event",
        str(event_id),
        env=settings_env(stack.settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), WAIT_S)
    assert process.returncode == 0, err.decode()
    assert out.decode().startswith(f"rebuilt analytics of event {event_id} from "), out
    assert await every_series(stack, token, event_id) == before


async def _logged(stack: Stack, event_id: int, kinds_counted: int) -> bool:
    counted = await stack.deps.pg.fetchval(
        "SELECT count(*) FROM event_log WHERE event_id = $1 AND kind = ANY($2::text[])",
        event_id,
        ["checkin.decided", "orders.created", "polls.voted"],
    )
    return int(counted) >= kinds_counted


async def test_bad_parameters_get_stable_codes(stack: Stack, make_token: Any) -> None:
    token = make_token("organizer")
    organizer = await connect(stack.client, token)
    event_id = await create_event(organizer)
    path = f"/api/v1/events/{event_id}/stats"
    cases = [
        ({"metric": "clicks"}, "bad_metric", None),
        ({"metric": "scans", "step": "10m"}, "bad_step", None),
        (
            {"metric": "scans", "from": "2027-06-01T18:00:00Z", "to": "2027-06-01T17:00:00Z"},
            "bad_range",
            "from_after_to",
        ),
        (
            {"metric": "scans", "from": "2027-06-01T00:00:00Z", "to": "2027-06-03T00:00:00Z"},
            "bad_range",
            "too_many_points",
        ),
        ({"metric": "scans", "from": "noon"}, "bad_request", None),
        ({}, "bad_request", None),
    ]
    for params, code, reason in cases:
        status, body = await rest(stack, token, "GET", path, **params)
        assert (status, body["error"]["code"]) == (400, code), (params, body)
        if reason is not None:
            assert body["error"]["details"]["reason"] == reason
    # The same code on the WebSocket.
    reply = await organizer.call("stats.event", {"event_id": event_id, "metric": "clicks"})
    assert reply["error"]["code"] == "bad_metric", reply
    status, body = await rest(stack, token, "GET", "/api/v1/orgs/acme/stats", metric="x")
    assert (status, body["error"]["code"]) == (400, "bad_metric")
    # An answer in hours over two days is fine.
    two_days = {"from": "2027-06-01T00:00:00Z", "to": "2027-06-03T00:00:00Z", "step": "1h"}
    fine = await stats(stack, token, event_id, "scans", **two_days)
    assert len(fine["at"]) == 48 and fine["series"][0]["values"] == [0] * 48


async def test_other_organizations_staff_and_attendees_are_refused(
    stack: Stack, make_token: Any
) -> None:
    organizer = await connect(stack.client, make_token("organizer"))
    event_id = await create_event(organizer)
    refusals = {
        "another organization": make_token("organizer", org="globex"),
        "staff": make_token("staff", events=[event_id]),
        "attendee": make_token("attendee", events=[event_id]),
    }
    for who, token in refusals.items():
        for method, path in [
            ("GET", f"/api/v1/events/{event_id}/stats"),
            ("GET", "/api/v1/orgs/acme/stats"),
            ("POST", f"/api/v1/events/{event_id}/stats/rebuild"),
        ]:
            status, body = await rest(stack, token, method, path, metric="scans")
            assert status in (403, 404), (who, path, body)
            assert body["error"]["code"] in ("forbidden", "not_found"), (who, path, body)
    # An organizer limited to one event compares only that one.
    other = await create_event(organizer)
    limited = make_token("organizer", events=[other])
    status, body = await rest(stack, limited, "GET", "/api/v1/orgs/acme/stats", metric="votes")
    assert status == 200 and [e["event_id"] for e in body["events"]] == [other], body


async def test_a_batch_redelivered_after_its_insert_counts_once(
    stack: Stack, make_token: Any
) -> None:
    """ClickHouse fails between a batch's INSERT and its rollup: JetStream redelivers the
    batch, its facts are written a second time, and the figures count each once."""
    token = make_token("organizer")
    organizer = await connect(stack.client, token)
    event_id = await create_event(organizer)
    store, db = stack.ctx.analytics.store, stack.settings.namespace
    await store.run(f"DROP TABLE {db}.minutes")  # the rollup fails until it is back
    await store.run(f"SYSTEM STOP MERGES {db}.facts")  # the copies stay apart to be counted

    async def copies() -> int:
        """The event's fact rows as stored, copies included (no FINAL)."""
        sql = f"SELECT count() AS n FROM {db}.facts WHERE event_id = {event_id}"
        [row] = await store.rows(sql)
        return int(row["n"])

    async def written_twice() -> bool:
        return await copies() >= 10  # 5 facts (2 orders, 3 votes), each at least twice

    await publish_sales_and_votes(stack, event_id)
    await wait_for(
        written_twice, what="the batch's facts written twice (a redelivery after a failed rollup)"
    )
    for statement in analytics_sql.schema(db):
        await store.run(statement)
    await store.run(f"SYSTEM START MERGES {db}.facts")

    async def counted() -> bool:
        votes = (await stats(stack, token, event_id, "votes"))["series"][0]["total"]
        sales = (await stats(stack, token, event_id, "sales"))["series"][0]["total"]
        return (votes, sales) == (3, 3)

    await wait_for(counted, what="the redelivered batch counted")

    async def settled() -> bool:
        subjects = stack.deps.subjects
        info = await stack.deps.js.consumer_info(
            subjects.events_stream, subjects.durable(ANALYTICS_CONSUMER)
        )
        return info.num_pending == 0 and info.num_ack_pending == 0

    await wait_for(settled, what="every message of the failed batches acknowledged")
    # Counted once although stored twice (ClickHouse may have merged the copies by now).
    assert (await every_series(stack, token, event_id))["votes"][0]["total"] == 3
    revenue = (await stats(stack, token, event_id, "revenue"))["series"]
    assert [(s["currency"], s["total"]) for s in revenue] == [("BAM", 2500), ("EUR", 5000)]
