"""Event fields on the wire (`protocol.events.parse_event_fields`), as tables: what is
accepted, and for each bad input the `bad_request` and the field it names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bilten.protocol.errors import BadRequest
from bilten.protocol.events import FIELDS, EventFields, parse_event_fields

FULL: dict[str, Any] = {
    "name": "Sarajevo Jazz Night",
    "starts_at": "2027-06-01T19:00:00+02:00",
    "ends_at": "2027-06-01T23:30:00+02:00",
    "timezone": "Europe/Sarajevo",
    "locale": "bs-BA",
    "currency": "BAM",
}
CEST = timezone(timedelta(hours=2))


def test_a_full_set_of_fields() -> None:
    assert parse_event_fields(FULL, partial=False) == EventFields(
        name="Sarajevo Jazz Night",
        starts_at=datetime(2027, 6, 1, 19, tzinfo=CEST),
        ends_at=datetime(2027, 6, 1, 23, 30, tzinfo=CEST),
        timezone="Europe/Sarajevo",
        locale="bs-BA",
        currency="BAM",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Ž"),
        ("name", "x" * 200),
        ("timezone", "UTC"),
        ("timezone", "America/Argentina/Buenos_Aires"),
        ("timezone", "Etc/GMT+2"),
        ("locale", "en"),
        ("locale", "sr-Latn-BA"),
        ("locale", "haw-US"),
        ("currency", "EUR"),
    ],
)
def test_accepted_values(field: str, value: str) -> None:
    assert getattr(parse_event_fields({**FULL, field: value}, partial=False), field) == value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # Text fields: a non-empty string, within its length, no control characters.
        ("name", ""),
        ("name", "   "),
        ("name", 42),
        ("name", ["x"]),
        ("name", "x" * 201),
        ("name", "tab\there"),
        ("name", "line\nbreak"),
        ("name", "nul\x00"),
        ("timezone", "Europe/"),
        ("timezone", "/Sarajevo"),
        ("timezone", "Europe Sarajevo"),
        ("timezone", "x" * 65),
        ("timezone", 1),
        ("locale", "BS-ba"),
        ("locale", "b"),
        ("locale", "bs_BA"),
        ("locale", "bs-"),
        ("locale", "x" * 36),
        ("currency", "bam"),
        ("currency", "BA"),
        ("currency", "BAMM"),
        ("currency", "B4M"),
        ("currency", 978),
        # Times: ISO 8601 strings with an explicit offset.
        ("starts_at", "2027-06-01T19:00:00"),
        ("starts_at", "tomorrow"),
        ("starts_at", 1780000000),
        ("starts_at", ""),
        ("ends_at", "2027-06-01 23:30"),
        ("ends_at", ["2027-06-01T23:30Z"]),
    ],
)
def test_a_bad_value_names_its_field(field: str, value: Any) -> None:
    for partial in (False, True):
        with pytest.raises(BadRequest) as refused:
            parse_event_fields({**FULL, field: value}, partial=partial)
        assert refused.value.code == "bad_request"
        assert refused.value.details == {"field": field}, refused.value.message


@pytest.mark.parametrize("missing", [(name,) for name in FIELDS] + [FIELDS, ("name", "locale")])
def test_create_names_every_missing_field(missing: tuple[str, ...]) -> None:
    params = {k: v for k, v in FULL.items() if k not in missing}
    with pytest.raises(BadRequest) as refused:
        parse_event_fields(params, partial=False)
    assert refused.value.details == {"fields": [f for f in FIELDS if f in missing]}


def test_null_counts_as_not_given() -> None:
    with pytest.raises(BadRequest) as refused:
        parse_event_fields({**FULL, "currency": None}, partial=False)
    assert refused.value.details == {"fields": ["currency"]}
    assert parse_event_fields({"currency": "EUR", "locale": None}, partial=True) == EventFields(
        currency="EUR"
    )


@pytest.mark.parametrize("field", FIELDS)
def test_update_takes_any_one_field(field: str) -> None:
    parsed = parse_event_fields({field: FULL[field]}, partial=True)
    assert [f for f in FIELDS if getattr(parsed, f) is not None] == [field]


@pytest.mark.parametrize("params", [{}, {"colour": "blue"}, {"name": None}])
def test_update_with_nothing_to_change(params: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_event_fields(params, partial=True)
    assert refused.value.details == {"fields": list(FIELDS)}


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "ok"),
    [
        ("2027-06-01T19:00:00+02:00", "2027-06-01T19:00:01+02:00", True),
        ("2027-06-01T19:00:00+02:00", "2027-06-01T19:00:00+02:00", False),  # no length
        ("2027-06-01T19:00:00+02:00", "2027-06-01T18:00:00+02:00", False),
        # Compared as instants: 18:30 in London is after 19:00 in Sarajevo.
        ("2027-06-01T19:00:00+02:00", "2027-06-01T18:30:00+01:00", True),
        ("2027-06-01T19:00:00+02:00", "2027-06-01T17:00:00+00:00", False),
        ("2027-06-01T17:00:00Z", "2027-06-01T19:00:01+02:00", True),
    ],
)
def test_ends_after_it_starts(starts_at: str, ends_at: str, ok: bool) -> None:
    params = {**FULL, "starts_at": starts_at, "ends_at": ends_at}
    if ok:
        parsed = parse_event_fields(params, partial=False)
        assert parsed.ends_at and parsed.starts_at and parsed.ends_at > parsed.starts_at
        return
    with pytest.raises(BadRequest) as refused:
        parse_event_fields(params, partial=False)
    assert refused.value.details == {"field": "ends_at"}


def test_an_update_of_one_end_is_not_checked_against_the_stored_other() -> None:
    """Only the fields given are compared; the worker checks against the stored event."""
    parsed = parse_event_fields({"ends_at": "2027-05-01T00:00:00+00:00"}, partial=True)
    assert parsed.ends_at == datetime(2027, 5, 1, tzinfo=UTC)
