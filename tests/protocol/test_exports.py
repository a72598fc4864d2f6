"""The export encodings and file names (protocol/exports.py), table-driven."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from bilten.protocol.errors import NotFound, UnsupportedFormat
from bilten.protocol.exports import (
    csv_cell,
    csv_line,
    json_close,
    json_item,
    json_open,
    parse_file,
    render_time,
)
from bilten.protocol.sales import decimal_amount


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        ("", ""),
        ("Amra H.", "Amra H."),
        ("=1+1", '"\'=1+1"'),
        ("+387 61", '"\'+387 61"'),
        ("-5", '"\'-5"'),
        ("@SUM(A1)", '"\'@SUM(A1)"'),
        ("\t=1", '"\'\t=1"'),
        ('say "hi"', '"say ""hi"""'),
        ("a,b", '"a,b"'),
        ("two\nlines", '"two\nlines"'),
        ("a=b", "a=b"),
        ("Ćevapi", "Ćevapi"),
    ],
)
def test_csv_cells_are_quoted_and_formulas_defused(value: str | None, cell: str) -> None:
    assert csv_cell(value) == cell


def test_csv_lines_read_back_with_the_csv_module() -> None:
    row = ["1", None, '=HYPERLINK("x")', "a,\r\nb", "Ž"]
    parsed = next(csv.reader(io.StringIO(csv_line(row).decode(), newline="")))
    assert parsed == ["1", "", '\'=HYPERLINK("x")', "a,\r\nb", "Ž"]


def test_json_items_make_one_array() -> None:
    rows = [["1", "2", "n", "h", None, "valid", "1.00", "BAM", "t", None]] * 2
    body = json_open() + b"".join(json_item("tickets", r, i == 0) for i, r in enumerate(rows))
    decoded = orjson.loads(body + json_close())
    assert len(decoded) == 2 and decoded[0]["holder"] == "h" and decoded[0]["owner_sub"] is None
    assert orjson.loads(json_open() + json_close()) == []


@pytest.mark.parametrize(
    ("file", "parsed"),
    [("tickets.csv", ("tickets", "csv")), ("polls.json", ("polls", "json"))],
)
def test_file_names(file: str, parsed: tuple[str, str]) -> None:
    assert parse_file(file) == parsed


@pytest.mark.parametrize(
    ("file", "error"),
    [
        ("guests.csv", NotFound),
        ("tickets.csv.csv", NotFound),
        ("tickets.xlsx", UnsupportedFormat),
        ("tickets", UnsupportedFormat),
        ("tickets.CSV", UnsupportedFormat),
        ("", NotFound),
    ],
)
def test_bad_file_names(file: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_file(file)


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(2500, "BAM", "25.00"), (5, "EUR", "0.05"), (0, "EUR", "0.00"), (1500, "JPY", "1500")],
)
def test_amounts_in_the_currencys_minor_unit(minor: int, currency: str, text: str) -> None:
    assert decimal_amount(minor, currency) == text
    assert decimal_amount(1234, "KWD") == "1.234"


def test_times_in_the_events_zone_with_offset() -> None:
    summer = datetime(2027, 6, 1, 17, 0, tzinfo=UTC)
    winter = datetime(2027, 1, 1, 17, 0, 0, 500000, tzinfo=UTC)
    zone = ZoneInfo("Europe/Sarajevo")
    assert render_time(summer, zone) == "2027-06-01T19:00:00+02:00"
    assert render_time(winter, zone) == "2027-01-01T18:00:00.500000+01:00"
    assert render_time(None, zone) is None
