"""The export files: `GET /api/v1/events/{event_id}/exports/{name}.csv` and `.json`.

Hubs hold no state and workers own the data (docs/insight.md §Exports), so
the hub pulls: it asks the exports worker for one page of rows
(`exports.page`, through `execute`, with the same role and event checks as
every command), writes it to a chunked response, and asks for the next page
only once the client has taken that one (`write` waits while the socket's
buffer is full). At most one page is in memory per download, in the hub and
in the worker, however long the export; a page can be served by any worker.

The first page is fetched before the status line, so a refusal (`forbidden`,
`not_found`, …) is an ordinary error response. A failure after that cannot
change the status any more: the hub logs it and cuts the connection without
the final chunk, which every HTTP client reports as an incomplete body.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bilten.hub.dispatch import execute
from bilten.hub.runtime import HUB
from bilten.protocol import exports
from bilten.protocol.errors import BiltenError
from bilten.protocol.tokens import Claims

log = logging.getLogger(__name__)
METHOD = "exports.page"


async def download(request: web.Request, claims: Claims) -> web.StreamResponse:
    """Stream export `{file}` of event `{event_id}` to the client, page by page."""
    hub = request.app[HUB]
    name, fmt = exports.parse_file(request.match_info["file"])
    params: dict[str, Any] = {"event_id": request.match_info["event_id"], "name": name}
    page = await execute(hub, claims, METHOD, params, text={"event_id"})
    event_id = page["event_id"]
    params["event_id"] = event_id  # checked: from now on a number, not path text
    response = web.StreamResponse(
        headers={
            "Content-Type": exports.content_type(fmt),
            "Content-Disposition": f'attachment; filename="event-{event_id}-{name}.{fmt}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        await _stream(request, response, claims, params, page, fmt)
    except ConnectionError:  # the client went away: nothing to answer, nothing wrong
        log.info(
            "export abandoned by the client", extra={"ctx": {"event_id": event_id, "export": name}}
        )
    return response


async def _stream(
    request: web.Request,
    response: web.StreamResponse,
    claims: Claims,
    params: dict[str, Any],
    page: dict[str, Any],
    fmt: exports.Format,
) -> None:
    """Write `page` and every page after it, then end the body; cut the connection
    instead when a page cannot be had."""
    hub = request.app[HUB]
    name = params["name"]
    await response.write(exports.encode_opening(name, fmt))
    written = 0
    while True:
        await response.write(exports.encode_rows(name, fmt, page["rows"], written))
        written += len(page["rows"])
        if page["next"] is None:
            break
        try:
            page = await execute(hub, claims, METHOD, {**params, "after": page["next"]})
        except BiltenError as error:
            log.warning(
                "export cut short: %s",
                error.code,
                extra={"ctx": {**params, "rows": written, "error": error.message}},
            )
            if request.transport is not None:
                request.transport.abort()
            return
    await response.write_eof(exports.encode_closing(fmt))
