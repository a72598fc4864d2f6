"""The OpenAPI 3.1 document of the REST API, generated from the command table.

The parameter schemas are the commands' own declarations, the very ones the
hub validates every call against (protocol/schema.py), so the document says
exactly what the server accepts. Every status a route can answer is listed.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from bilten.protocol.commands import COMMANDS, Command, path_params
from bilten.protocol.errors import HTTP_STATUS

# What each error status means on every route (docs/protocol.md §Errors).
_ERRORS = {
    "400": "Bad request: a parameter is missing, mistyped or out of range "
           "(plain text: the request line or a header exceeds 8 KiB)",
    "401": "No token, an invalid one, or an expired one",
    "403": "The token does not grant this",
    "404": "No such resource, or no such route",
    "409": "The request conflicts with the current state",
    "500": "Unexpected server error (details only in the server log)",
    "503": "A dependency cannot serve now: retry later",
    "504": "A dependency did not answer in time: retry later",
}
_BODY_ERRORS = {"413": "The body exceeds the size limit"}
_ERROR_BODY = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
# The HTTP parser answers before any handler runs, in plain text, when the request
# line or a header exceeds its 8 KiB limit.
_PARSER_ERROR = {"400": {"text/plain": {"schema": {"type": "string"}}}}


def _responses(success: str, content: dict[str, Any], *, body: bool) -> dict[str, Any]:
    errors = {**_ERRORS, **(_BODY_ERRORS if body else {})}
    return {success: {"description": "OK", "content": content},
            **{status: {"description": text,
                        "content": {**_ERROR_BODY, **_PARSER_ERROR.get(status, {})}}
               for status, text in sorted(errors.items())}}


def _operation(command: Command) -> dict[str, Any]:
    in_path = path_params(command)
    props = {k: v for k, v in command.params.items() if k not in in_path}
    body = command.http != "GET"
    operation: dict[str, Any] = {
        "operationId": command.method,
        "summary": command.summary,
        "description": f"Also the WebSocket rpc `{command.method}`. "
                       f"Roles: {', '.join(sorted(command.roles))}.",
        "security": [{"bearer": []}],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": command.params[name]}
            for name in in_path
        ],
        "responses": _responses("201" if command.created else "200",
                                {"application/json": {"schema": {}}}, body=body),
    }
    if not body:
        operation["parameters"] += [
            {"name": name, "in": "query", "required": name in command.required,
             "schema": schema}
            for name, schema in props.items()
        ]
    elif props:
        required = [name for name in command.required if name in props]
        schema: dict[str, Any] = {"type": "object", "properties": props,
                                  "additionalProperties": False}
        if required:
            schema["required"] = required
        operation["requestBody"] = {"required": bool(required), "content": {
            "application/json": {"schema": schema}}}
    return operation


def openapi_document() -> dict[str, Any]:
    """The whole document."""
    paths: dict[str, dict[str, Any]] = {}
    for command in COMMANDS.values():
        paths.setdefault(command.path, {})[command.http.lower()] = _operation(command)
    paths["/api/v1/tickets/{ticket_id}/qr.svg"] = {"get": {
        "summary": "The ticket's code as a QR code (same access as tickets.get).",
        "security": [{"bearer": []}],
        "parameters": [{"name": "ticket_id", "in": "path", "required": True,
                        "schema": COMMANDS["tickets.get"].params["ticket_id"]}],
        "responses": _responses("200", {"image/svg+xml": {"schema": {"type": "string"}}},
                                body=False),
    }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Bilten API", "version": version("bilten"),
                 "description": "REST mirror of the WebSocket rpc methods; see docs/protocol.md. "
                                "Unknown parameters are refused (bad_request); a method a "
                                "path does not support answers 405 method_not_allowed with "
                                "an Allow header."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "JWT"}},
            "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {
                "error": {
                    "type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string", "enum": sorted(HTTP_STATUS)},
                        "message": {"type": "string"}, "details": {"type": "object"}}}}}},
        },
    }
