"""The event log's row rule: kind, event id, payload, and what is never recorded."""

from __future__ import annotations

import orjson
import pytest

from bilten.protocol.errors import BadRequest
from bilten.protocol.event_log import NOT_RECORDED, LogEntry, parse_domain_event


@pytest.mark.parametrize(
    ("body", "entry"),
    [
        (
            {"kind": "checkin.decided", "event_id": 7, "scan": {"status": "ok"}},
            LogEntry(
                "checkin.decided",
                7,
                {"kind": "checkin.decided", "event_id": 7, "scan": {"status": "ok"}},
            ),
        ),
        (
            {"kind": "events.deleted", "event_id": "7"},
            LogEntry("events.deleted", None, {"kind": "events.deleted", "event_id": "7"}),
        ),
        (
            {"kind": "events.deleted", "event_id": True},
            LogEntry("events.deleted", None, {"kind": "events.deleted", "event_id": True}),
        ),
        (
            {"kind": "events.deleted", "event_id": 2**63},
            LogEntry("events.deleted", None, {"kind": "events.deleted", "event_id": 2**63}),
        ),
        (
            {"kind": "mail.requested", "to": "a@b.c", "vars": {"link": "https://x/reset?t=secret"}},
            LogEntry(
                "mail.requested",
                None,
                {"kind": "mail.requested", "to": "a@b.c", "vars": NOT_RECORDED},
                redacted=True,
            ),
        ),
    ],
)
def test_rows_of_domain_events(body: dict[str, object], entry: LogEntry) -> None:
    assert parse_domain_event(orjson.dumps(body)) == entry


@pytest.mark.parametrize(
    "data",
    [
        b'{"kind": "x.y", "name": "a\\u0000b"}',
        b"not json",
        b"[1, 2]",
        b'{"event_id": 1}',
        b'{"kind": ""}',
        b'{"kind": 3}',
    ],
)
def test_what_is_no_domain_event_is_refused(data: bytes) -> None:
    with pytest.raises(BadRequest, match="malformed domain event"):
        parse_domain_event(data)


def test_an_escaped_backslash_is_no_nul() -> None:
    entry = parse_domain_event(rb'{"kind": "x.y", "path": "C:\\u0000"}')
    assert entry.payload["path"] == "C:\\u0000"
