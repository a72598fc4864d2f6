"""The dashboard's shapes: the per-minute series, the people online, the wire form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bilten.protocol.dashboard import (
    MINUTES,
    Dashboard,
    minute_of,
    online_counts,
    per_minute,
    series_start,
)

NOW = datetime(2027, 6, 1, 17, 5, 42, 123456, tzinfo=UTC)
MINUTE = minute_of(NOW)


def at(minutes_ago: float) -> datetime:
    return NOW - timedelta(minutes=minutes_ago)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([], {}),
        ([(NOW, 3)], {MINUTES - 1: 3}),  # the current minute is the last
        ([(at(1), 2), (at(1), 1)], {MINUTES - 2: 3}),  # one minute, summed
        ([(series_start(MINUTE), 4)], {0: 4}),  # the oldest minute is the first
        ([(series_start(MINUTE) - timedelta(seconds=1), 4)], {}),  # older: left out
        ([(NOW + timedelta(minutes=1), 5)], {}),  # a clock ahead: left out
    ],
)
def test_per_minute_places_counts_in_the_last_hour(
    counts: list[tuple[datetime, int]], expected: dict[int, int]
) -> None:
    series = per_minute(counts, MINUTE)
    assert len(series) == MINUTES
    assert {i: n for i, n in enumerate(series) if n} == expected


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([], {"attendee": 0, "staff": 0, "organizer": 0}),
        (["attendee|a|h1", "attendee|a|h2"], {"attendee": 1, "staff": 0, "organizer": 0}),
        (["attendee|a|h1", "staff|a|h1"], {"attendee": 1, "staff": 1, "organizer": 0}),
        (["service|w|h1", "organizer|o|h2"], {"attendee": 0, "staff": 0, "organizer": 1}),
        (["broken", "attendee|no-hub"], {"attendee": 0, "staff": 0, "organizer": 0}),
    ],
)
def test_online_counts_people_once_across_hubs(
    members: list[str], expected: dict[str, int]
) -> None:
    assert online_counts(members) == expected


def test_the_wire_form_is_whole_and_ordered() -> None:
    wire = Dashboard(
        event_id=7,
        minute=MINUTE,
        inside_by_gate={"south": 1, "north": 2},
        seats={"sold": 3},
        poll_voters={12: 5, 3: 1},
    ).to_wire()
    assert wire["minute"] == "2027-06-01T17:05:00+00:00"
    assert list(wire["inside_by_gate"]) == ["north", "south"]
    assert wire["seats"] == {"available": 0, "held": 0, "sold": 3}
    assert wire["online"] == {"attendee": 0, "staff": 0, "organizer": 0}
    assert wire["polls"] == {"open": 0, "voters": {"3": 1, "12": 5}}
    assert wire["scans_per_minute"] == [0] * MINUTES
