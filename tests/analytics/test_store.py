"""The analytics SQL on both stores: embedded chdb always, a ClickHouse server when
BILTEN_TEST_CLICKHOUSE_URL names one. The same statements, the same answers."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bilten.infra.settings import Settings
from bilten.protocol.analytics import (
    MINUTE_S,
    build_series,
    build_totals,
    floor_to,
    parse_stats_query,
)
from bilten.protocol.analytics_facts import Fact, fact_of
from bilten.workers import analytics_sql as sql
from bilten.workers.analytics_store import (
    AnalyticsStore,
    ServerTooOld,
    StoreHolder,
    check_server_version,
)

SERVER_URL = os.environ.get("BILTEN_TEST_CLICKHOUSE_URL")
T0 = datetime(2027, 6, 1, 17, 0, tzinfo=UTC)


@pytest.fixture(params=["embedded", "server"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[tuple[AnalyticsStore, str]]:
    """A store with the schema in a database of its own; the server one only when given."""
    db = "t" + secrets.token_hex(5)
    if request.param == "server" and not SERVER_URL:
        pytest.skip("BILTEN_TEST_CLICKHOUSE_URL is not set")
    settings = Settings(
        clickhouse_url=SERVER_URL if request.param == "server" else None,
        data_dir=Path(tempfile.gettempdir()) / db,
        namespace=db,
    )
    async with StoreHolder().opened(settings) as opened:
        for statement in sql.schema(db):
            await opened.run(statement)
        try:
            yield opened, db
        finally:
            await opened.run(f"DROP DATABASE IF EXISTS {db}")


def _scan(n: int, at: datetime, status: str = "ok", direction: str = "in") -> Fact:
    payload = {
        "kind": "checkin.decided",
        "event_id": 1,
        "scan": {
            "status": status,
            "direction": direction,
            "gate": "north",
            "scanned_at": at.isoformat(),
            "ticket": {"id": n},
            "nonce": None,
        },
    }
    fact = fact_of(payload, version=n, msg_id=f"outbox:t:{n}", origin=f"S:{n}", stored=at)
    assert fact is not None
    return fact


def _order(n: int, at: datetime, amount: int, currency: str) -> Fact:
    order = {"tickets": 2, "amount": amount, "currency": currency, "created_at": at.isoformat()}
    payload = {"kind": "orders.created", "event_id": 1, "order": order}
    fact = fact_of(payload, version=n, msg_id=f"outbox:t:{n}", origin=f"S:{n}", stored=at)
    assert fact is not None
    return fact


async def _write(store: AnalyticsStore, db: str, facts: list[Fact]) -> None:
    await store.run(sql.insert_facts(db, facts))
    await store.run(sql.recompute(db, {(f.event_id, floor_to(f.at, MINUTE_S)) for f in facts}))


async def _series(
    store: AnalyticsStore, db: str, metric: str, step: str
) -> list[dict[str, object]]:
    params = {
        "metric": metric,
        "step": step,
        "from": T0.isoformat(),
        "to": (T0 + timedelta(hours=1)).isoformat(),
    }
    query = parse_stats_query(params, 1, T0)
    rows = await store.rows(sql.series(db, query.metric, 1, query.step_s, query.start, query.end))
    [before] = await store.rows(sql.before(db, query.metric, 1, query.start))
    buckets = [(int(r["bucket"]), str(r["currency"]), int(r["value"])) for r in rows]
    return build_series(query, buckets, int(before["value"]))


async def test_copies_count_once_and_revisions_replace(store: tuple[AnalyticsStore, str]) -> None:
    opened, db = store
    facts = [
        _scan(1, T0 + timedelta(seconds=5)),
        _scan(2, T0 + timedelta(minutes=3)),
        _scan(3, T0 + timedelta(minutes=7), direction="out"),
        _scan(4, T0 + timedelta(minutes=7), status="rejected"),
        _order(5, T0 + timedelta(minutes=12), 5000, "EUR"),
        _order(6, T0 + timedelta(minutes=12), 2500, "BAM"),
    ]
    await _write(opened, db, facts)
    await _write(opened, db, facts[::2])  # a redelivery of some: nothing changes
    [scans] = await _series(opened, db, "scans", "5m")
    assert scans["total"] == 4 and scans["values"][:3] == [2, 2, 0]
    [inside] = await _series(opened, db, "inside", "5m")
    assert inside["values"][:4] == [2, 1, 1, 1] and inside["total"] == 1
    revenue = await _series(opened, db, "revenue", "1h")
    assert [(s["currency"], s["total"]) for s in revenue] == [("BAM", 2500), ("EUR", 5000)]
    [sales] = await _series(opened, db, "sales", "1m")
    assert sales["total"] == 4 and sum(sales["values"]) == 4  # type: ignore[arg-type]

    # The first scan's verdict revised to a conflict, later in the stream: no entry any more.
    revised = _scan(1, T0 + timedelta(seconds=5), status="conflict")
    await _write(opened, db, [replace(revised, version=99)])
    [inside] = await _series(opened, db, "inside", "5m")
    assert inside["values"][:2] == [1, 0], inside
    [scans] = await _series(opened, db, "scans", "5m")
    assert scans["total"] == 4

    rows = await opened.rows(sql.totals(db, "revenue", [1, 2], None, None))
    totals = build_totals("revenue", [(str(r["currency"]), int(r["value"])) for r in rows])
    assert totals == [{"currency": "BAM", "total": 2500}, {"currency": "EUR", "total": 5000}]


@pytest.mark.parametrize("version", ["18.16.1", "21.3.20.1", "x", ""])
def test_a_server_too_old_for_the_sql_is_refused_by_name(version: str) -> None:
    with pytest.raises(ServerTooOld) as refused:
        check_server_version(version)
    message = str(refused.value)
    assert repr(version) in message or f"{version} is older" in message


@pytest.mark.parametrize("version", ["21.8.15.7", "24.3.1.2672", "25.8.1"])
def test_servers_the_sql_runs_on_are_taken(version: str) -> None:
    check_server_version(version)
