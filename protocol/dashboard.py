"""The organizer's live dashboard: its figures, and the rules that shape them.

docs/insight.md §Live dashboard. The metrics worker counts the figures from
PostgreSQL (the ground truth) and presence from Redis, and publishes them on
`event.{id}.dashboard` as one self-contained `Dashboard`, never as a delta.
Pure: the per-minute series and the online count are decided here, so the
worker and the tests that check it shape them the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

MINUTES = 60
"""How many minutes `scans_per_minute` covers, the current one last."""

PUBLISH_INTERVAL_S = 1.0
"""At most one publication per event within this many seconds."""

ONLINE_ROLES = ("attendee", "staff", "organizer")
"""The roles `online` counts (services are machinery, not people)."""

ONLINE_WINDOW_S = 45.0
"""A presence member confirmed longer ago is gone: hub/presence.py's STALE_S."""


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Every figure of one event's dashboard at one moment (docs/insight.md §Live dashboard)."""

    event_id: int
    minute: datetime
    checked_in: int = 0
    inside: int = 0
    inside_by_gate: Mapping[str, int] = field(default_factory=dict)
    scans_per_minute: tuple[int, ...] = (0,) * MINUTES
    rejections: Mapping[str, int] = field(default_factory=dict)
    offline_conflicts: int = 0
    tickets_sold: int = 0
    orders: int = 0
    revenue: Mapping[str, int] = field(default_factory=dict)
    seats: Mapping[str, int] = field(default_factory=dict)
    online: Mapping[str, int] = field(default_factory=dict)
    open_polls: int = 0
    poll_voters: Mapping[int, int] = field(default_factory=dict)
    open_questions: int = 0

    def to_wire(self) -> dict[str, Any]:
        """The JSON object published and answered as the subscribe snapshot."""
        return {
            "type": "dashboard",
            "event_id": self.event_id,
            "minute": self.minute.isoformat(),
            "checked_in": self.checked_in,
            "inside": self.inside,
            "inside_by_gate": dict(sorted(self.inside_by_gate.items())),
            "scans_per_minute": list(self.scans_per_minute),
            "rejections": dict(sorted(self.rejections.items())),
            "offline_conflicts": self.offline_conflicts,
            "sales": {
                "tickets": self.tickets_sold,
                "orders": self.orders,
                "revenue": dict(sorted(self.revenue.items())),
            },
            "seats": {s: self.seats.get(s, 0) for s in ("available", "held", "sold")},
            "online": {role: self.online.get(role, 0) for role in ONLINE_ROLES},
            "polls": {
                "open": self.open_polls,
                "voters": {str(p): n for p, n in sorted(self.poll_voters.items())},
            },
            "questions": {"open": self.open_questions},
        }


def minute_of(at: datetime) -> datetime:
    """The start of `at`'s minute: the series' last bucket."""
    return at.replace(second=0, microsecond=0)


def series_start(minute: datetime) -> datetime:
    """The start of the oldest minute of the series ending with `minute`."""
    return minute - timedelta(minutes=MINUTES - 1)


def per_minute(counts: Iterable[tuple[datetime, int]], minute: datetime) -> tuple[int, ...]:
    """Counts by minute start, as the series of `MINUTES` ending with `minute`, oldest first.

    Minutes outside the window (an offline device's late sync, a clock ahead)
    are left out rather than folded into an edge.
    """
    series = [0] * MINUTES
    start = series_start(minute)
    for at, n in counts:
        index = int((minute_of(at) - start) / timedelta(minutes=1))
        if 0 <= index < MINUTES:
            series[index] += n
    return tuple(series)


def online_counts(members: Iterable[str]) -> dict[str, int]:
    """Distinct people per role among presence members `role|user|hub` (hub/presence.py).

    A person connected to several hubs is one person.
    """
    people = {tuple(m.split("|", 2)[:2]) for m in members if m.count("|") >= 2}
    totals = Counter(role for role, _ in people)
    return {role: totals.get(role, 0) for role in ONLINE_ROLES}
