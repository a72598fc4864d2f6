"""The REST API: one route per command of the command table, same handlers as rpc.

Path parameters, the query string (GET) and the JSON body (POST/PATCH) become
the command's params. Errors come back as `{"error": {"code", "message"}}`
with the status the code maps to (docs/protocol.md §Errors).
"""

from __future__ import annotations

import io
import logging
from typing import Any

import orjson
import segno
from aiohttp import web

from bilten.hub.auth import authenticate
from bilten.hub.dispatch import execute
from bilten.hub.openapi import openapi_document
from bilten.hub.runtime import HUB
from bilten.protocol.commands import COMMANDS, Command
from bilten.protocol.errors import BadRequest, BiltenError, Internal, NotFound, TooLarge

log = logging.getLogger(__name__)


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON response encoded with orjson."""
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def error_response(error: BiltenError) -> web.Response:
    """The REST form of an error."""
    return json_response({"error": error.to_wire()}, error.http_status)


@web.middleware
async def api_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn errors under /api into JSON bodies with stable codes; log the unexpected once."""
    if not request.path.startswith("/api/"):
        return await handler(request)  # type: ignore[no-any-return]
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except BiltenError as error:
        return error_response(error)
    except web.HTTPNotFound:
        return error_response(NotFound(f"no route {request.method} {request.path}"))
    except web.HTTPRequestEntityTooLarge:
        return error_response(TooLarge(request.content_length or 0,
                                       request.app[HUB].settings.max_frame_bytes))
    except web.HTTPMethodNotAllowed:
        return error_response(BadRequest(f"{request.method} is not allowed on {request.path}"))
    except web.HTTPException:
        raise
    except Exception:
        log.exception("request failed", extra={"ctx": {"path": request.path}})
        return error_response(Internal())


async def _params(request: web.Request, command: Command) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if command.http == "GET":
        params.update(request.query)
    elif request.can_read_body:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise BadRequest("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        params.update(body)
    params.update(request.match_info)
    return params


def _handler(command: Command) -> Any:
    async def handle(request: web.Request) -> web.Response:
        hub = request.app[HUB]
        claims = authenticate(request, hub.settings, allow_query=False)
        result = await execute(hub, claims, command.method, await _params(request, command))
        return json_response(result, 201 if command.created else 200)

    handle.__doc__ = command.summary
    return handle


async def ticket_qr(request: web.Request) -> web.Response:
    """GET /api/v1/tickets/{ticket_id}/qr.svg: the ticket's code as a QR code (SVG)."""
    hub = request.app[HUB]
    claims = authenticate(request, hub.settings, allow_query=False)
    ticket = await execute(hub, claims, "tickets.get",
                           {"ticket_id": request.match_info["ticket_id"]})
    qr = segno.make(ticket["code"], error="m", micro=False)
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=4, border=2, title=f"Ticket {ticket['id']}")
    return web.Response(body=buffer.getvalue(), content_type="image/svg+xml",
                        headers={"Cache-Control": "private, no-store"})


async def openapi(request: web.Request) -> web.Response:
    """GET /api/v1/openapi.json: every route, generated from the command table."""
    return json_response(openapi_document())


def add_routes(app: web.Application) -> None:
    """Mount every command's REST route and the OpenAPI document."""
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/api/v1/tickets/{ticket_id}/qr.svg", ticket_qr)
    for command in COMMANDS.values():
        app.router.add_route(command.http, command.path, _handler(command))
