"""Export downloads and what the database says they must contain."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from bilten.infra.settings import Settings
from tests.allocation.helpers import db

SARAJEVO = ZoneInfo("Europe/Sarajevo")  # the time zone of tests.hub.helpers.EVENT


async def download(client: Any, token: str, event_id: int, file: str) -> tuple[int, Any]:
    """(status, body): the parsed CSV rows, the JSON, or the error body."""
    resp = await client.get(
        f"/api/v1/events/{event_id}/exports/{file}", headers={"Authorization": f"Bearer {token}"}
    )
    raw = await resp.read()
    if resp.status != 200:
        return resp.status, orjson.loads(raw)
    if file.endswith(".csv"):
        assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        return 200, list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert resp.content_type == "application/json"
    return 200, orjson.loads(raw)


def when(moment: Any) -> str | None:
    """A database timestamp as an export shows it."""
    return None if moment is None else str(moment.astimezone(SARAJEVO).isoformat())


def bam(minor: int) -> str:
    """An amount in fenings as a decimal of marks."""
    return str((Decimal(minor) / 100).quantize(Decimal("0.01")))


def text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def expected(settings: Settings, event_id: int, name: str) -> list[list[str | None]]:
    """The rows export `name` must have, straight from the database."""
    if name == "tickets":
        rows = await db(
            settings,
            "SELECT t.*, tt.name AS type_name, tt.price_minor, tt.currency FROM tickets t"
            " JOIN ticket_types tt ON tt.id = t.ticket_type_id WHERE t.event_id = $1 ORDER BY t.id",
            event_id,
        )
        return [
            [
                *map(text, (r["id"], r["ticket_type_id"], r["type_name"], r["holder"])),
                *map(text, (r["owner_sub"], r["state"])),
                bam(r["price_minor"]),
                r["currency"],
                when(r["created_at"]),
                when(r["revoked_at"]),
            ]
            for r in rows
        ]
    if name == "checkins":
        rows = await db(
            settings,
            "SELECT s.*, t.holder FROM scans s LEFT JOIN tickets t ON t.id = s.ticket_id"
            " WHERE s.event_id = $1 ORDER BY s.id",
            event_id,
        )
        return [
            [
                *map(text, (r["id"], r["ticket_id"], r["holder"], r["gate"], r["direction"])),
                *map(text, (r["status"], r["reason"])),
                when(r["scanned_at"]),
                when(r["decided_at"]),
                *map(text, (r["offline"], r["device"])),
            ]
            for r in rows
        ]
    if name == "orders":
        rows = await db(settings, "SELECT * FROM orders WHERE event_id = $1 ORDER BY id", event_id)
        return [
            [
                *map(text, (r["id"], r["owner_sub"], r["email"], len(r["ticket_ids"]))),
                " ".join(map(str, r["ticket_ids"])),
                bam(r["amount_minor"]),
                r["currency"],
                when(r["created_at"]),
            ]
            for r in rows
        ]
    raise AssertionError(name)


def as_csv(rows: list[list[str | None]]) -> list[list[str]]:
    """Rows as a CSV reader gives them back: None empty, formulas defused."""
    return [["'" + v if v and v[0] in "=+-@\t\r" else (v or "") for v in row] for row in rows]
