"""Event fields on the wire: validation of `events.create` / `events.update` params.

Pure parsing; the events worker applies the result. Timestamps are ISO 8601
with an explicit UTC offset (a naive time is ambiguous for an event that
people travel to). docs/protocol.md §Events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bilten.protocol.errors import BadRequest
from bilten.protocol.params import MAX_ID, parse_int, parse_time

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_TIMEZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$")
FIELDS = ("name", "starts_at", "ends_at", "timezone", "locale", "currency")


@dataclass(frozen=True, slots=True)
class EventFields:
    """A full or partial set of event fields (None: not given)."""

    name: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    timezone: str | None = None
    locale: str | None = None
    currency: str | None = None


def _text(
    params: dict[str, Any], key: str, pattern: re.Pattern[str] | None, max_len: int
) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise BadRequest(
            f"{key} must be a non-empty string of at most {max_len} characters", field=key
        )
    if any(ord(c) < 32 for c in value):
        raise BadRequest(f"{key} must not contain control characters", field=key)
    if pattern is not None and not pattern.match(value):
        raise BadRequest(f"{key} is malformed: {value!r}", field=key)
    return value


def _time(params: dict[str, Any], key: str) -> datetime | None:
    value = params.get(key)
    return None if value is None else parse_time(value, key)


def parse_event_fields(params: dict[str, Any], *, partial: bool) -> EventFields:
    """Validate event fields; all are required unless `partial` (update)."""
    fields = EventFields(
        name=_text(params, "name", None, 200),
        starts_at=_time(params, "starts_at"),
        ends_at=_time(params, "ends_at"),
        timezone=_text(params, "timezone", _TIMEZONE, 64),
        locale=_text(params, "locale", _LOCALE, 35),
        currency=_text(params, "currency", _CURRENCY, 3),
    )
    missing = [name for name in FIELDS if getattr(fields, name) is None]
    if not partial and missing:
        raise BadRequest(f"missing: {', '.join(missing)}", fields=missing)
    if partial and len(missing) == len(FIELDS):
        raise BadRequest("nothing to change", fields=list(FIELDS))
    if fields.starts_at and fields.ends_at and fields.ends_at <= fields.starts_at:
        raise BadRequest("ends_at must be after starts_at", field="ends_at")
    return fields


def parse_event_id(params: dict[str, Any]) -> int:
    """The `event_id` param as a positive integer (REST gives it as a string)."""
    return parse_int(params, "event_id", 1, MAX_ID)
