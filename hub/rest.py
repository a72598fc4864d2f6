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
from aiohttp.http_exceptions import HttpProcessingError

from bilten.hub import exports, sessions
from bilten.hub.auth import authenticate, bearer_token
from bilten.hub.dispatch import execute
from bilten.hub.openapi import openapi_document
from bilten.hub.runtime import HUB
from bilten.protocol.api_keys import is_api_key
from bilten.protocol.command_shape import Command
from bilten.protocol.commands import COMMANDS
from bilten.protocol.errors import (
    BadRequest,
    BiltenError,
    Internal,
    MethodNotAllowed,
    NotFound,
    TooLarge,
)
from bilten.protocol.params import MAX_NESTING, nesting
from bilten.protocol.tokens import Claims

log = logging.getLogger(__name__)


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON response encoded with orjson."""
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def error_response(error: BiltenError) -> web.Response:
    """The REST form of an error."""
    return json_response({"error": error.to_wire()}, error.http_status)


@web.middleware
async def routing_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """On every path: an unknown path is `not_found`, an unsupported method is 405.

    The 405 carries an `Allow` header (RFC 9110 §15.5.6) and the standard JSON
    error body, so clients read every refusal the same way.
    """
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except web.HTTPNotFound:
        return error_response(NotFound(f"no route {request.method} {request.path[:200]}"))
    except web.HTTPMethodNotAllowed as refused:
        allowed = ", ".join(sorted(refused.allowed_methods))
        response = error_response(
            MethodNotAllowed(
                f"{request.method} is not allowed on {request.path[:200]}", allowed=allowed
            )
        )
        response.headers["Allow"] = allowed
        return response


@web.middleware
async def api_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn errors under /api into JSON bodies with stable codes; log the unexpected once."""
    if not request.path.startswith("/api/"):
        return await handler(request)  # type: ignore[no-any-return]
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except BiltenError as error:
        return error_response(error)
    except web.HTTPRequestEntityTooLarge:
        return error_response(
            TooLarge(request.content_length or 0, request.app[HUB].settings.max_frame_bytes)
        )
    except web.HTTPException:
        raise  # routing errors: answered by routing_errors
    except ConnectionResetError:  # the client left mid-body: counted as nginx's
        return web.Response(status=499)  # "client closed request", never sent
    except Exception:
        log.exception("request failed", extra={"ctx": {"path": request.path}})
        return error_response(Internal())


async def _params(request: web.Request, command: Command) -> tuple[dict[str, Any], set[str]]:
    """The call's params, and the names of those that arrived as text (path, query)."""
    params: dict[str, Any] = {}
    if command.http == "GET":
        for name, value in request.query.items():
            if name in params:
                raise BadRequest(f"{name[:64]} is given more than once", field=name[:64])
            params[name] = value
    elif request.can_read_body:
        try:
            raw = await request.read()
        except (web.RequestPayloadError, HttpProcessingError) as error:
            # A bad Content-Encoding, broken chunking: the client's fault, not ours.
            raise BadRequest(f"the body cannot be read: {error}") from None
        params.update(decode_body(raw))
    for name, value in request.match_info.items():
        # The same value twice is harmless (clients send the rpc params as the body);
        # a different one would be silently ignored.
        if name in params and str(params[name]) != value:
            raise BadRequest(f"{name} differs from the one in the path", field=name)
        params[name] = value
    text = set(request.match_info)
    if command.http == "GET":
        text |= set(request.query)
    return params, text


def decode_body(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object, nested no deeper than MAX_NESTING; else bad_request."""
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if nesting(body) > MAX_NESTING:
        raise BadRequest(f"the body nests deeper than {MAX_NESTING} levels", limit=MAX_NESTING)
    return body


async def authenticate_rest(request: web.Request) -> Claims:
    """Claims of a REST request's bearer credential: an API key (hub/api_keys.py) or a token."""
    hub = request.app[HUB]
    credential = bearer_token(request, allow_query=False)
    if is_api_key(credential):
        return await hub.api_keys.claims(credential)
    return authenticate(request, hub.tokens, allow_query=False)


def _handler(command: Command) -> Any:
    async def handle(request: web.Request) -> web.Response:
        hub = request.app[HUB]
        if command.auth != "token":  # the session cookie, or nothing (hub/sessions.py)
            return await sessions.run(request, command, *await _params(request, command))
        claims = await authenticate_rest(request)
        params, text = await _params(request, command)
        result = await execute(hub, claims, command.method, params, text=text)
        return json_response(result, 201 if command.created else 200)

    handle.__doc__ = command.summary
    return handle


async def ticket_qr(request: web.Request) -> web.Response:
    """GET /api/v1/tickets/{ticket_id}/qr.svg: the ticket's code as a QR code (SVG)."""
    hub = request.app[HUB]
    claims = await authenticate_rest(request)
    ticket = await execute(
        hub,
        claims,
        "tickets.get",
        {"ticket_id": request.match_info["ticket_id"]},
        text={"ticket_id"},
    )
    qr = segno.make(ticket["code"], error="m", micro=False)
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=4, border=2, title=f"Ticket {ticket['id']}")
    return web.Response(
        body=buffer.getvalue(),
        content_type="image/svg+xml",
        headers={"Cache-Control": "private, no-store"},
    )


async def export_file(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/events/{event_id}/exports/{file}: an export as CSV or JSON (hub/exports.py)."""
    return await exports.download(request, await authenticate_rest(request))


async def openapi(request: web.Request) -> web.Response:
    """GET /api/v1/openapi.json: every route, generated from the command table."""
    return json_response(openapi_document())


def add_routes(app: web.Application) -> None:
    """Mount every command's REST route and the OpenAPI document."""
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/api/v1/tickets/{ticket_id}/qr.svg", ticket_qr)
    app.router.add_get("/api/v1/events/{event_id}/exports/{file}", export_file)
    for command in COMMANDS.values():
        app.router.add_route(command.http, command.path, _handler(command))
