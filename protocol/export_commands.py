"""The command table's row for exports (docs/insight.md §Exports).

`exports.page` is one page of an export's rows, already rendered as text; the
hub's file routes (`/exports/{name}.csv`, `.json`) ask for page after page and
stream them, so neither hub nor worker ever holds a whole export. Run by the
exports worker; organizers and services only.
"""

from __future__ import annotations

from bilten.protocol import results
from bilten.protocol.command_shape import Command
from bilten.protocol.exports import MAX_CURSOR, NAMES, PAGE_ROWS
from bilten.protocol.params import MAX_ID
from bilten.protocol.tokens import Role

_ORGANIZERS: frozenset[Role] = frozenset({"organizer", "service"})
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}

EXPORT_PAGE = results.obj(
    event_id=results.ID,
    name=results.enum(*NAMES),
    columns=results.array(results.TEXT),
    rows=results.array(results.array(results.nullable(results.TEXT))),
    next=results.nullable(results.TEXT),
)

EXPORT_COMMANDS = (
    Command(
        "exports.page",
        "One page of an export's rows, as text in the event's time zone and currency; "
        "`next` is the cursor of the page after it (null: the last page).",
        _ORGANIZERS,
        "GET",
        "/api/v1/events/{event_id}/exports/{name}/rows",
        "exports",
        result=EXPORT_PAGE,
        retry=True,  # a read: safe to ask another worker again
        params={
            "event_id": _ID,
            "name": {"type": "string", "enum": list(NAMES)},
            "after": {"type": "string", "minLength": 1, "maxLength": MAX_CURSOR},
            "limit": {"type": "integer", "minimum": 1, "maximum": PAGE_ROWS},
        },
    ),
)
