"""The domain event rows, without a server: kinds, fields, times in UTC, and the docs' table."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bilten.protocol import domain_events as de
from bilten.protocol.event_log import DOMAIN_EVENTS

SARAJEVO = timezone(timedelta(hours=2))
AT = datetime(2027, 6, 1, 21, 30, 5, 250000, tzinfo=SARAJEVO)
AT_UTC = "2027-06-01T19:30:05.250000+00:00"

ROWS: list[tuple[de.Row, str, dict[str, Any]]] = [
    (
        de.order_created(7, 11, "buyer-1", [3, 4], 5000, "BAM", AT),
        "orders.created",
        {
            "event_id": 7,
            "order": {
                "order_id": 11,
                "owner_sub": "buyer-1",
                "tickets": 2,
                "ticket_ids": [3, 4],
                "amount": 5000,
                "currency": "BAM",
                "created_at": AT_UTC,
            },
        },
    ),
    (
        de.ticket_event(de.TICKET_ISSUED, 7, 3, 2, None, "Amra", AT),
        "tickets.issued",
        {
            "event_id": 7,
            "ticket": {
                "ticket_id": 3,
                "ticket_type_id": 2,
                "owner_sub": None,
                "holder": "Amra",
                "at": AT_UTC,
            },
        },
    ),
    (
        de.hold_event(de.HOLD_EXPIRED, 7, 5, 4, AT),
        "holds.expired",
        {"event_id": 7, "hold": {"hold_id": 5, "seats": 4, "at": AT_UTC}},
    ),
    (
        de.poll_voted(7, 8, 9, 10, AT),
        "polls.voted",
        {"event_id": 7, "poll_id": 8, "session_id": 9, "ballot_id": 10, "voted_at": AT_UTC},
    ),
    (
        de.qa_asked(7, 12, 9, AT),
        "qa.asked",
        {"event_id": 7, "question_id": 12, "session_id": 9, "asked_at": AT_UTC},
    ),
    (
        de.qa_moderated(7, 12, "hide", AT),
        "qa.moderated",
        {"event_id": 7, "question_id": 12, "action": "hide", "at": AT_UTC},
    ),
    (de.announcement_sent(7, AT), "announcements.sent", {"event_id": 7, "at": AT_UTC}),
    (
        de.signed_in("account-3", AT, "org-1"),
        "accounts.signed_in",
        {"sub": "account-3", "org_id": "org-1", "at": AT_UTC},
    ),
    (de.signed_in("attendee-4", AT), "accounts.signed_in", {"sub": "attendee-4", "at": AT_UTC}),
]


@pytest.mark.parametrize(("row", "kind", "payload"), ROWS)
def test_each_row_is_its_documented_kind_and_fields(
    row: de.Row, kind: str, payload: dict[str, Any]
) -> None:
    assert row == (kind, payload)
    assert kind in DOMAIN_EVENTS


def test_times_are_utc_whatever_they_came_in() -> None:
    assert de.utc(AT) == AT_UTC
    assert de.utc(AT.astimezone(UTC)) == AT_UTC
    assert de.utc(AT.astimezone(UTC).replace(tzinfo=None)) == AT_UTC  # naive: taken as UTC


def test_hold_ends_map_the_stored_states() -> None:
    assert de.HOLD_ENDED == {
        "released": "holds.released",
        "expired": "holds.expired",
        "confirmed": "holds.confirmed",
    }


def test_every_kind_is_in_the_docs_table_and_only_those() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "insight.md").read_text("utf-8")
    section = doc[doc.index("### Domain events") : doc.index("### The table")]
    documented = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", section, re.M)
    assert documented == list(DOMAIN_EVENTS)
