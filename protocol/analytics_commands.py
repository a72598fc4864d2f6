"""The command table's rows for analytics (docs/insight.md §Analytics).

Run by the analytics worker, which owns the data (embedded ClickHouse lives
in its process); organizers of the event or organization, and services. The
metric and step are plain strings here, checked by protocol/analytics.py, so
that a wrong one gets its own code (`bad_metric`, `bad_step`) rather than
`bad_request`.
"""

from __future__ import annotations

from bilten.protocol import results
from bilten.protocol.analytics import METRICS, STEPS
from bilten.protocol.checkin import GATE
from bilten.protocol.command_shape import Command
from bilten.protocol.params import MAX_ID, MAX_TIME_LENGTH
from bilten.protocol.tokens import Role

_ORGANIZERS: frozenset[Role] = frozenset({"organizer", "service"})
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_METRIC = {
    "type": "string",
    "maxLength": 32,
    "description": f"one of {', '.join(METRICS)}",
    "example": "scans",
}
_STEP = {"type": "string", "maxLength": 32, "description": f"one of {', '.join(STEPS)}"}
_TIME = {"type": "string", "format": "date-time", "maxLength": MAX_TIME_LENGTH}
REBUILD_TIMEOUT_S = 600.0  # a whole rebuild: replay, read back, recompute
_SIGNED = {"type": "integer"}  # inside may dip below zero on exits of people counted before

SERIES = results.obj(
    currency=results.nullable(results.CURRENCY),
    values=results.array(_SIGNED),
    total=_SIGNED,
)
EVENT_STATS = results.obj(
    event_id=results.ID,
    metric=results.enum(*METRICS),
    step=results.enum(*STEPS),
    **{"from": results.TIME, "to": results.TIME},
    at=results.array(results.TIME),
    series=results.array(SERIES),
)
TOTAL = results.obj(currency=results.nullable(results.CURRENCY), total=_SIGNED)
ORG_STATS = results.obj(
    org=results.TEXT,
    metric=results.enum(*METRICS),
    **{"from": results.nullable(results.TIME), "to": results.nullable(results.TIME)},
    events=results.array(
        results.obj(event_id=results.ID, name=results.TEXT, totals=results.array(TOTAL))
    ),
)
REBUILT = results.obj(
    event_id=results.ID, run=results.TEXT, replayed=results.COUNT, facts=results.COUNT
)

ANALYTICS_COMMANDS = (
    Command(
        "stats.event",
        "An event's metric in steps of 1m, 5m or 1h over [from, to) (UTC); revenue per currency.",
        _ORGANIZERS,
        "GET",
        "/api/v1/events/{event_id}/stats",
        "analytics",
        result=EVENT_STATS,
        retry=True,  # a read: safe to ask again
        params={"event_id": _ID, "metric": _METRIC, "step": _STEP, "from": _TIME, "to": _TIME},
        required=("metric",),
    ),
    Command(
        "stats.org",
        "A metric's total for each event of an organization, to compare them.",
        _ORGANIZERS,
        "GET",
        "/api/v1/orgs/{org}/stats",
        "analytics",
        result=ORG_STATS,
        retry=True,
        params={
            "org": {"type": "string", "pattern": GATE.pattern},
            "metric": _METRIC,
            "from": _TIME,
            "to": _TIME,
        },
        required=("metric",),
    ),
    Command(
        "stats.rebuild",
        "Rebuild an event's analytics from its event log (a replay); counts nothing twice.",
        _ORGANIZERS,
        "POST",
        "/api/v1/events/{event_id}/stats/rebuild",
        "analytics",
        result=REBUILT,
        timeout_s=REBUILD_TIMEOUT_S,
        params={"event_id": _ID},
    ),
)
