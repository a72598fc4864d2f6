"""Exports of an event's data as CSV or JSON (docs/insight.md §Exports).

Pure: what can be exported and in which columns, the file names of the
export routes, and how one row becomes bytes in each format. The worker
renders each value to text (times in the event's time zone, amounts as
decimals of the currency's minor unit) and answers a page at a time; the hub
writes the pages to a streamed HTTP response with the encoders here.

CSV follows RFC 4180 (comma, double quotes, CRLF) in UTF-8 with a header row;
a text cell that a spreadsheet would run as a formula is defused with a
leading apostrophe, as the OWASP guidance on CSV injection advises.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, get_args
from zoneinfo import ZoneInfo

import orjson

from bilten.protocol.errors import NotFound, UnsupportedFormat

Format = Literal["csv", "json"]
FORMATS: tuple[Format, ...] = get_args(Format)
Cell = str | None
Row = Sequence[Cell]

# The columns of each export, in order: the CSV header, the JSON objects' keys.
COLUMNS: dict[str, tuple[str, ...]] = {
    "checkins": (
        "scan_id",
        "ticket_id",
        "holder",
        "gate",
        "direction",
        "status",
        "reason",
        "scanned_at",
        "decided_at",
        "offline",
        "device",
    ),
    "orders": (
        "order_id",
        "owner_sub",
        "email",
        "tickets",
        "ticket_ids",
        "amount",
        "currency",
        "created_at",
    ),
    "tickets": (
        "ticket_id",
        "ticket_type_id",
        "ticket_type",
        "holder",
        "owner_sub",
        "state",
        "price",
        "currency",
        "created_at",
        "revoked_at",
    ),
    "polls": (
        "poll_id",
        "session_id",
        "question",
        "kind",
        "status",
        "option",
        "answer",
        "votes",
        "voters",
    ),
}
NAMES = tuple(COLUMNS)
PAGE_ROWS = 1000  # rows the hub asks a worker for at a time
MAX_CURSOR = 600  # characters of a page cursor (a poll's cursor carries a word)
_CONTENT_TYPES: dict[Format, str] = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
# OWASP, "CSV Injection": cells starting with these are formulas to a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_QUOTED = frozenset('",\r\n')


def parse_file(file: str) -> tuple[str, Format]:
    """`checkins.csv` → ("checkins", "csv"); an unknown name is `not_found`, a name
    with another or no extension `unsupported_format` (the name is checked first)."""
    name, dot, extension = file.rpartition(".")
    if not dot:
        name, extension = file, ""
    if name not in COLUMNS:
        raise NotFound(f"no export {name[:64]!r}; there are {', '.join(NAMES)}")
    for known in FORMATS:
        if extension == known:
            return name, known
    raise UnsupportedFormat(
        f"exports come as {' or '.join(FORMATS)}, not {extension[:16]!r}", formats=list(FORMATS)
    )


def content_type(fmt: Format) -> str:
    """The response's Content-Type."""
    return _CONTENT_TYPES[fmt]


def render_time(moment: datetime | None, zone: ZoneInfo) -> Cell:
    """A timestamp in the event's time zone, ISO 8601 with its offset."""
    return None if moment is None else moment.astimezone(zone).isoformat()


def csv_cell(value: Cell) -> str:
    """One CSV field: formula-like text defused with `'` and quoted, other text quoted
    when it must be; None is an empty field."""
    if value is None:
        return ""
    defused = value.startswith(_FORMULA_START)
    if defused:
        value = "'" + value
    if defused or not _QUOTED.isdisjoint(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_line(row: Row) -> bytes:
    """One CSV record with its CRLF."""
    return (",".join(csv_cell(value) for value in row) + "\r\n").encode()


def csv_header(name: str) -> bytes:
    """The header record of an export."""
    return csv_line(COLUMNS[name])


def json_open() -> bytes:
    """What a JSON export starts with: an array, one object per line."""
    return b"["


def json_item(name: str, row: Row, first: bool) -> bytes:
    """One row as a JSON object, comma-separated from the one before."""
    body = orjson.dumps(dict(zip(COLUMNS[name], row, strict=True)))
    return (b"\n" if first else b",\n") + body


def json_close() -> bytes:
    """What a JSON export ends with."""
    return b"\n]\n"


def encode_opening(name: str, fmt: Format) -> bytes:
    """What an export starts with: the CSV header, or the JSON array's bracket."""
    return csv_header(name) if fmt == "csv" else json_open()


def encode_rows(name: str, fmt: Format, rows: Sequence[Row], written: int) -> bytes:
    """Rows in the export's format, after the `written` rows that came before them."""
    if fmt == "csv":
        return b"".join(csv_line(row) for row in rows)
    return b"".join(json_item(name, row, written + i == 0) for i, row in enumerate(rows))


def encode_closing(fmt: Format) -> bytes:
    """What an export ends with: nothing for CSV, the JSON array's bracket."""
    return b"" if fmt == "csv" else json_close()
