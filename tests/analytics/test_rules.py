"""The analytics rules without a server: parameters, facts, series (protocol/analytics.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bilten.protocol.analytics import (
    MAX_POINTS,
    StatsQuery,
    build_series,
    build_totals,
    parse_stats_query,
    parse_totals_query,
)
from bilten.protocol.analytics_facts import fact_of
from bilten.protocol.errors import BadMetric, BadRange, BadRequest, BadStep, BiltenError

NOW = datetime(2027, 6, 1, 17, 7, 30, tzinfo=UTC)
T = NOW.isoformat()


@pytest.mark.parametrize(
    ("params", "error", "details"),
    [
        (
            {"metric": "clicks"},
            BadMetric,
            {"metrics": ["scans", "entries", "sales", "revenue", "inside", "votes"]},
        ),
        ({}, BadMetric, None),
        ({"metric": "scans", "step": "2m"}, BadStep, {"steps": ["1m", "5m", "1h"]}),
        ({"metric": "scans", "step": 60}, BadStep, None),
        (
            {"metric": "scans", "from": "2027-06-01T18:00:00Z", "to": "2027-06-01T17:00:00Z"},
            BadRange,
            {"reason": "from_after_to"},
        ),
        ({"metric": "scans", "from": T, "to": T}, BadRange, {"reason": "from_after_to"}),
        (
            {"metric": "scans", "from": "2027-05-01T00:00:00Z", "to": T},
            BadRange,
            {"reason": "too_many_points", "points": 45668, "limit": MAX_POINTS},
        ),
        ({"metric": "scans", "from": "yesterday"}, BadRequest, {"field": "from"}),
        ({"metric": "scans", "to": "2027-06-01T17:00:00"}, BadRequest, {"field": "to"}),
    ],
)
def test_bad_parameters_have_their_own_codes(
    params: dict[str, Any], error: type[BiltenError], details: dict[str, Any] | None
) -> None:
    with pytest.raises(error) as raised:
        parse_stats_query(params, 1, NOW)
    assert type(raised.value) is error
    if details is not None:
        assert raised.value.details == details


def test_ranges_round_out_to_the_step_and_default_to_the_last_60_steps() -> None:
    query = parse_stats_query({"metric": "scans", "step": "5m", "to": T}, 1, NOW)
    assert query.end == datetime(2027, 6, 1, 17, 10, tzinfo=UTC)
    assert query.start == query.end - timedelta(minutes=300)
    assert len(query.points()) == 60
    query = parse_stats_query(
        {"metric": "votes", "step": "1h", "from": "2027-06-01T19:05:00+02:00", "to": T}, 1, NOW
    )
    assert (query.start, query.end) == (
        datetime(2027, 6, 1, 17, tzinfo=UTC),
        datetime(2027, 6, 1, 18, tzinfo=UTC),
    )
    assert parse_stats_query({"metric": "scans"}, 1, NOW).end == datetime(
        2027, 6, 1, 17, 8, tzinfo=UTC
    )
    # A day of minutes is the most one answer holds.
    day = {"metric": "scans", "from": "2027-05-31T17:08:00Z", "to": "2027-06-01T17:08:00Z"}
    assert len(parse_stats_query(day, 1, NOW).points()) == MAX_POINTS


def test_totals_take_all_time_unless_bounded() -> None:
    query = parse_totals_query({"metric": "revenue"}, "acme")
    assert (query.start, query.end) == (None, None)
    with pytest.raises(BadRange):
        parse_totals_query({"metric": "sales", "from": T, "to": "2027-06-01T17:00:00Z"}, "acme")
    with pytest.raises(BadMetric):
        parse_totals_query({"metric": "SALES"}, "acme")


def _scan(**scan: Any) -> dict[str, Any]:
    base = {"status": "ok", "direction": "in", "gate": "north", "scanned_at": T, "nonce": None}
    return {"kind": "checkin.decided", "event_id": 3, "scan": {**base, **scan}}


@pytest.mark.parametrize(
    ("payload", "figures"),
    [
        (_scan(ticket={"id": 9}), {"scans": 1, "entries": 1}),
        (_scan(ticket={"id": 9}, direction="out"), {"scans": 1, "exits": 1}),
        (_scan(ticket=None, status="rejected", reason="invalid"), {"scans": 1}),
        (_scan(ticket={"id": 9}, status="conflict"), {"scans": 1}),
        ({**_scan(ticket={"id": 9}, status="conflict"), "kind": "checkin.revised"}, {"scans": 1}),
        (
            {
                "kind": "orders.created",
                "event_id": 3,
                "order": {"tickets": 2, "amount": 5000, "currency": "EUR", "created_at": T},
            },
            {"tickets": 2, "amount": 5000, "currency": "EUR"},
        ),
        ({"kind": "polls.voted", "event_id": 3, "poll_id": 1, "voted_at": T}, {"votes": 1}),
    ],
)
def test_what_each_domain_event_adds(payload: dict[str, Any], figures: dict[str, Any]) -> None:
    fact = fact_of(payload, version=7, msg_id="outbox:b:7", origin="B_EVENTS:7", stored=NOW)
    assert fact is not None
    row = fact.to_row()
    counted = {
        k: row[k] for k in ("scans", "entries", "exits", "tickets", "amount", "votes", "currency")
    }
    assert counted == {
        "scans": 0,
        "entries": 0,
        "exits": 0,
        "tickets": 0,
        "amount": 0,
        "votes": 0,
        "currency": "",
        **figures,
    }
    assert (fact.event_id, fact.version, fact.at) == (3, 7, NOW)


def test_a_revision_and_its_scan_share_a_key_other_facts_take_the_message_id() -> None:
    decided = fact_of(_scan(ticket={"id": 9}), version=1, msg_id="m1", origin="S:1", stored=NOW)
    revised = fact_of(
        {**_scan(ticket={"id": 9}, status="conflict"), "kind": "checkin.revised"},
        version=5,
        msg_id="m5",
        origin="S:5",
        stored=NOW,
    )
    assert decided and revised and decided.id == revised.id
    forged = fact_of(
        _scan(ticket=None, status="rejected"), version=2, msg_id=None, origin="S:2", stored=NOW
    )
    assert forged and forged.id == "S:2"
    vote = {"kind": "polls.voted", "event_id": 3, "voted_at": T}
    assert (
        fact := fact_of(vote, version=3, msg_id="m3", origin="S:3", stored=NOW)
    ) and fact.id == "m3"


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "events.created", "event_id": 3},
        {"kind": "polls.voted"},
        {"kind": "polls.voted", "event_id": True},
        {"kind": "orders.created", "event_id": 3, "order": {"tickets": "2"}},
        {"kind": "checkin.decided", "event_id": 3, "scan": "ok"},
        {"kind": "accounts.signed_in", "sub": "a", "at": T},
    ],
)
def test_other_kinds_and_shapes_add_nothing(payload: dict[str, Any]) -> None:
    assert fact_of(payload, version=1, msg_id=None, origin="S:1", stored=NOW) is None


def test_a_time_without_offset_falls_back_to_when_the_message_was_stored() -> None:
    vote = {"kind": "polls.voted", "event_id": 3, "voted_at": "2027-06-01T10:00:00"}
    fact = fact_of(vote, version=1, msg_id=None, origin="S:1", stored=NOW)
    assert fact is not None and fact.at == NOW


def _query(metric: str, steps: int = 3) -> StatsQuery:
    start = datetime(2027, 6, 1, 17, tzinfo=UTC)
    return StatsQuery(1, metric, "1m", start, start + timedelta(minutes=steps))  # type: ignore[arg-type]


def test_series_inside_is_cumulative_revenue_is_per_currency() -> None:
    start = int(datetime(2027, 6, 1, 17, tzinfo=UTC).timestamp())
    rows = [(start, "", 3), (start + 120, "", -1), (start + 3600, "", 50)]  # the last: out of range
    assert build_series(_query("inside"), rows, before=2) == [
        {"currency": None, "values": [5, 5, 4], "total": 4}
    ]
    assert build_series(_query("scans"), rows, before=0) == [
        {"currency": None, "values": [3, 0, -1], "total": 2}
    ]
    revenue = [(start, "EUR", 100), (start + 60, "BAM", 7), (start + 60, "EUR", 1)]
    assert build_series(_query("revenue"), revenue, before=0) == [
        {"currency": "BAM", "values": [0, 7, 0], "total": 7},
        {"currency": "EUR", "values": [100, 1, 0], "total": 101},
    ]
    assert build_series(_query("revenue"), [], before=0) == []
    assert build_series(_query("votes"), [], before=0) == [
        {"currency": None, "values": [0, 0, 0], "total": 0}
    ]


def test_totals() -> None:
    assert build_totals("sales", [("", 3)]) == [{"currency": None, "total": 3}]
    assert build_totals("sales", []) == [{"currency": None, "total": 0}]
    assert build_totals("revenue", [("EUR", 5), ("BAM", 2)]) == [
        {"currency": "BAM", "total": 2},
        {"currency": "EUR", "total": 5},
    ]
