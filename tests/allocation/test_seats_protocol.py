"""protocol/allocation.py and protocol/seats.py without a loop: requests, encodings,
snapshot + deltas."""

from __future__ import annotations

from typing import Any

import pytest

from bilten.protocol.allocation import HoldRequest, adjacent_windows, parse_hold, parse_map
from bilten.protocol.errors import BadRequest
from bilten.protocol.seats import (
    GaCount,
    Resync,
    SeatRow,
    State,
    apply,
    counts,
    decode_id_runs,
    decode_runs,
    decode_states,
    encode_delta,
    encode_runs,
    encode_snapshot,
    encode_states,
    from_snapshot,
    id_runs,
)


@pytest.mark.parametrize(
    ("states", "text"),
    [
        ([], ""),
        (["available"], "a"),
        (["available"] * 50_000, "50000a"),
        (["available", "available", "held", "sold", "sold", "available"], "2ah2sa"),
    ],
)
def test_states_round_trip(states: list[State], text: str) -> None:
    assert encode_states(states) == text
    assert decode_states(text) == states


@pytest.mark.parametrize("text", ["x", "3", "2a3", "a-1h", "02 a"])
def test_malformed_states(text: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        decode_states(text)


def test_runs_round_trip() -> None:
    values = [7, 7, 7, None, None, 8]
    assert encode_runs(values) == [[7, 3], [None, 2], [8, 1]]
    assert decode_runs(encode_runs(values)) == values
    ids = [1, 2, 3, 7, 8, 20]
    assert id_runs(ids) == [[1, 3], [7, 2], [20, 1]]
    assert decode_id_runs(id_runs(ids)) == ids


def test_parse_map() -> None:
    sections = parse_map(
        {
            "sections": [
                {
                    "name": "A",
                    "ticket_type_id": 5,
                    "rows": [
                        {"name": "1", "seats": 3},
                        {"name": "2", "seats": ["1a", "1b"], "ticket_type_id": 6},
                    ],
                },
                {"name": "Loža", "rows": [{"name": "L", "seats": 1}]},
            ]
        }
    )
    assert [s.name for s in sections] == ["A", "Loža"]
    assert sections[0].rows[0].labels == ("1", "2", "3")
    assert sections[0].rows[0].ticket_type_id == 5
    assert sections[0].rows[1].labels == ("1a", "1b") and sections[0].rows[1].ticket_type_id == 6
    assert sections[1].rows[0].ticket_type_id is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "sections"),
        ({"sections": []}, "sections"),
        ({"sections": [{"name": "A"}]}, "sections[0].rows"),
        (
            {"sections": [{"name": "A", "rows": [{"name": "1", "seats": 0}]}]},
            "sections[0].rows[0].seats",
        ),
        (
            {"sections": [{"name": "A", "rows": [{"name": "1", "seats": -3}]}]},
            "sections[0].rows[0].seats",
        ),
        (
            {"sections": [{"name": "A", "rows": [{"name": "1", "seats": 1001}]}]},
            "sections[0].rows[0].seats",
        ),
        (
            {"sections": [{"name": "A", "rows": [{"name": "1", "seats": ["x", "x"]}]}]},
            "sections[0].rows[0].seats",
        ),
        (
            {"sections": [{"name": "A", "rows": [{"name": "", "seats": 2}]}]},
            "sections[0].rows[0].name",
        ),
        (
            {
                "sections": [
                    {"name": "A", "rows": [{"name": "1", "seats": 2, "ticket_type_id": -1}]}
                ]
            },
            "ticket_type_id",
        ),
        ({"sections": [{"name": "A", "rows": [{"name": "1", "seats": 1}]}] * 2}, "sections"),
        (
            {
                "sections": [
                    {"name": f"S{i}", "rows": [{"name": str(r), "seats": 1000} for r in range(60)]}
                    for i in range(2)
                ]
            },
            "sections",
        ),
    ],
)
def test_parse_map_refuses(params: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_map(params)
    assert refused.value.details["field"] == field


def test_parse_hold() -> None:
    assert parse_hold({"seat_ids": [3, 1]}) == HoldRequest(seat_ids=(3, 1), quantity=2)
    assert parse_hold(
        {
            "ticket_type_id": "4",
            "quantity": 2,
            "together": False,
            "ttl_s": 1,
            "nonce": "hub:0123456789",
        }
    ) == HoldRequest(ticket_type_id=4, quantity=2, together=False, ttl_s=1, nonce="hub:0123456789")
    assert parse_hold({"section": "A"}).section == "A"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "seat_ids"),
        ({"seat_ids": []}, "seat_ids"),
        ({"seat_ids": [1, 1]}, "seat_ids"),
        ({"seat_ids": [0]}, "seat_ids"),
        ({"seat_ids": ["1"]}, "seat_ids"),
        ({"seat_ids": list(range(1, 102))}, "seat_ids"),
        ({"seat_ids": [1], "ticket_type_id": 2}, "seat_ids"),
        ({"ticket_type_id": 2, "quantity": -1}, "quantity"),
        ({"ticket_type_id": 2, "quantity": 0}, "quantity"),
        ({"ticket_type_id": 2, "quantity": 101}, "quantity"),
        ({"ticket_type_id": 2, "quantity": True}, "quantity"),
        ({"ticket_type_id": 0}, "ticket_type_id"),
        ({"ticket_type_id": 2, "ttl_s": 0}, "ttl_s"),
        ({"ticket_type_id": 2, "ttl_s": 3601}, "ttl_s"),
        ({"ticket_type_id": 2, "together": "yes"}, "together"),
        ({"ticket_type_id": 2, "nonce": "short"}, "nonce"),
    ],
)
def test_parse_hold_refuses(params: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_hold(params)
    assert refused.value.details["field"] == field


@pytest.mark.parametrize(
    ("seats", "n", "windows"),
    [
        # (id, row, position): row 1 has 1-4 free, row 2 has 1, 3, 4 free.
        (
            [(1, 1, 1), (2, 1, 2), (3, 1, 3), (4, 1, 4), (5, 2, 1), (7, 2, 3), (8, 2, 4)],
            2,
            [(1, 2), (3, 4), (7, 8)],
        ),
        (
            [(1, 1, 1), (2, 1, 2), (3, 1, 3), (4, 1, 4), (5, 2, 1), (7, 2, 3), (8, 2, 4)],
            3,
            [(1, 2, 3)],
        ),
        ([(1, 1, 1), (2, 2, 2)], 2, []),  # consecutive ids, different rows
        ([(1, 1, 1), (3, 1, 3)], 1, [(1,), (3,)]),
    ],
)
def test_adjacent_windows(
    seats: list[tuple[int, int, int]], n: int, windows: list[tuple[int, ...]]
) -> None:
    assert adjacent_windows(seats, n) == windows


def test_adjacent_windows_limit() -> None:
    row = [(i, 1, i) for i in range(1, 101)]
    assert len(adjacent_windows(row, 2, limit=5)) == 5


def _snapshot(states: list[State], recent: dict[int, int] | None = None) -> dict[str, Any]:
    rows = [
        SeatRow(
            100 + i,
            1 if i < 3 else 2,
            9 if i % 2 else None,
            state,
            (recent or {}).get(100 + i, 1),
            100 + i in (recent or {}),
        )
        for i, state in enumerate(states)
    ]
    return encode_snapshot(rows, {7: GaCount(10, 2, 3, 4)}, map_version=1, offset=5, epoch="e1")


def test_snapshot_round_trip_and_counts() -> None:
    snapshot = _snapshot(["available", "held", "sold", "available", "available"], {101: 40})
    assert snapshot["states"] == "ahs2a" and snapshot["ids"] == [[100, 5]]
    assert snapshot["versions"] == [[101, 40]]
    view = from_snapshot(snapshot)
    assert view.states[101] == "held" and view.versions == {101: 40}
    assert view.offset == 5 and view.epoch == "e1" and view.ga[7].available == 5
    assert (
        snapshot["counts"]
        == counts(view)
        == {
            "sections": [
                {"section_id": 1, "available": 1, "held": 1, "sold": 1},
                {"section_id": 2, "available": 2, "held": 0, "sold": 0},
            ],
            "types": [
                {"ticket_type_id": 7, "available": 5, "held": 2, "sold": 3, "quota": 10},
                {"ticket_type_id": 9, "available": 1, "held": 1, "sold": 0},
            ],
        }
    )


def test_apply_keeps_the_newer_version() -> None:
    view = from_snapshot(_snapshot(["available", "held", "available"], {101: 40}))
    # An older change of seat 101 (already in the snapshot) and a new one of 100.
    delta = encode_delta([(100, "held", 41), (101, "available", 39)], {7: GaCount(10, 3, 3, 42)})
    after = apply(view, delta, offset=6, epoch="e1")
    assert after.states == {100: "held", 101: "held", 102: "available"}
    assert after.ga[7].held == 3 and after.offset == 6
    # The same delta again (overlap) changes nothing; an older GA count is ignored.
    assert apply(after, delta, offset=7, epoch="e1").states == after.states
    stale = apply(after, encode_delta([], {7: GaCount(10, 1, 3, 30)}), offset=8, epoch="e1")
    assert stale.ga[7].held == 3
    # A publication the snapshot already reflects is skipped whole.
    assert apply(view, delta, offset=5, epoch="e1") is view
    assert view.states[100] == "available"  # pure: the old view is untouched


def test_apply_refuses_a_new_map() -> None:
    view = from_snapshot(_snapshot(["available"]))
    with pytest.raises(Resync):
        apply(view, encode_delta([], {}, map_version=2))
    with pytest.raises(Resync):
        apply(view, encode_delta([(999, "held", 5)], {}))
    assert apply(view, encode_delta([], {}, map_version=1)).map_version == 1
