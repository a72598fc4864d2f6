"""The OpenAPI 3.1 document of the REST API, generated from the command table.

The parameter schemas are the commands' own declarations, the very ones the
hub validates every call against (protocol/schema.py), so the document says
exactly what the server accepts. Every status a route can answer is listed:
the success status with the command's declared result (protocol/results.py),
each error status with the error body and the codes that map to it
(protocol/errors.py). Shared result pieces (an event, a ticket, …) are named
components, so client generators make one type for each.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

from bilten.protocol.command_shape import Command
from bilten.protocol.commands import COMMANDS, path_params
from bilten.protocol.errors import HTTP_STATUS
from bilten.protocol.exports import FORMATS, NAMES, content_type
from bilten.protocol.results import NAMED

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
# Session and public commands (docs/accounts.md) answer these differently, or besides.
_SIGNED_IN = "Not signed in (no live session), or a wrong password (bad_credentials)"
_ACCOUNT_ERRORS = {
    kind: {
        "401": _SIGNED_IN,
        "403": "Not same-origin (details.reason: origin), or the role does not allow it",
        "429": "Too many failed sign-ins, pairing attempts or sign-in links asked for: wait "
        "details.retry_after seconds",
    }
    for kind in ("session", "attendee", "public")
}
# Commands counted against a per-caller limit (`Command.limited`).
_LIMITED = {"429": "Too many calls by this caller: wait details.retry_after seconds"}
# The HTTP parser answers before any handler runs, in plain text, when the request
# line or a header exceeds its 8 KiB limit.
_PARSER_ERROR = {"400": {"text/plain": {"schema": {"type": "string"}}}}
_COMPONENTS = "#/components/schemas/"
# How each kind of command is called (protocol/command_shape.Auth, docs/accounts.md).
_ACCESS = {
    "token": "Also the WebSocket rpc `{method}`. Roles: {roles}.",
    "session": "REST only, with the session cookie; state-changing calls need a "
    "same-origin Origin header (docs/accounts.md).",
    "attendee": "REST only, with the attendee session cookie a sign-in link sets; "
    "state-changing calls need a same-origin Origin header (docs/accounts.md).",
    "public": "REST only, without credentials; needs a same-origin Origin header "
    "(docs/accounts.md).",
}
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    # Either alternative: a token, or on REST an API key (docs/accounts.md §API keys).
    "token": [{"bearer": []}, {"apiKey": []}],
    "session": [{"session": []}],
    "attendee": [{"attendee_session": []}],
    "public": [],
}


def _error_schemas() -> dict[str, Any]:
    """`Error`, the error body (docs/protocol.md §Errors), and `Error<status>` for each
    status a route lists: the same body with only the codes answered with that status."""
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": sorted(HTTP_STATUS)},
                    "message": {"type": "string"},
                    "details": {"type": "object"},
                },
            }
        },
    }
    return {
        "Error": error,
        **{
            f"Error{status}": {
                "allOf": [
                    {"$ref": f"{_COMPONENTS}Error"},
                    {
                        "properties": {
                            "error": {
                                "properties": {
                                    "code": {
                                        "enum": [
                                            code
                                            for code, answered in sorted(HTTP_STATUS.items())
                                            if str(answered) == status
                                        ]
                                    }
                                }
                            }
                        }
                    },
                ]
            }
            for status in sorted({*_ERRORS, *_BODY_ERRORS, *_ACCOUNT_ERRORS["public"]})
        },
    }


def _named(schema: Any) -> Any:
    """`schema` with every shared result piece in it replaced by a reference."""
    for name, piece in NAMED.items():
        if schema is piece:
            return {"$ref": f"{_COMPONENTS}{name}"}
    if isinstance(schema, Mapping):
        return {key: _named(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_named(value) for value in schema]
    return schema


def _responses(
    success: str, content: dict[str, Any], *, body: bool, auth: str = "token", limited: bool = False
) -> dict[str, Any]:
    errors = {
        **_ERRORS,
        **(_BODY_ERRORS if body else {}),
        **_ACCOUNT_ERRORS.get(auth, {}),
        **(_LIMITED if limited else {}),
    }
    return {
        success: {"description": "OK", "content": content},
        **{
            status: {
                "description": text,
                "content": {
                    "application/json": {"schema": {"$ref": f"{_COMPONENTS}Error{status}"}},
                    **_PARSER_ERROR.get(status, {}),
                },
            }
            for status, text in sorted(errors.items())
        },
    }


def _operation(command: Command) -> dict[str, Any]:
    in_path = path_params(command)
    props = {k: v for k, v in command.params.items() if k not in in_path}
    body = command.http != "GET"
    operation: dict[str, Any] = {
        "operationId": command.method,
        "summary": command.summary,
        "description": _ACCESS[command.auth].format(
            method=command.method, roles=", ".join(sorted(command.roles))
        ),
        "security": _SECURITY[command.auth],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": command.params[name]}
            for name in in_path
        ],
        "responses": _responses(
            "201" if command.created else "200",
            {"application/json": {"schema": _named(command.result)}},
            body=body,
            auth=command.auth,
            limited=command.limited,
        ),
    }
    if not body:
        operation["parameters"] += [
            {"name": name, "in": "query", "required": name in command.required, "schema": schema}
            for name, schema in props.items()
        ]
    elif props:
        required = [name for name in command.required if name in props]
        schema: dict[str, Any] = {
            "type": "object",
            "properties": props,
            "additionalProperties": False,
        }
        if required:
            schema["required"] = required
        operation["requestBody"] = {
            "required": bool(required),
            "content": {"application/json": {"schema": schema}},
        }
    return operation


def _export_files() -> dict[str, Any]:
    """The export downloads (hub/exports.py): files, not JSON, so not commands themselves."""
    page = COMMANDS["exports.page"]
    return {
        "get": {
            "summary": "An export of the event as a streamed CSV (UTF-8, header row) or JSON "
            "array file; an unknown name is not_found, another extension unsupported_format. "
            "Same access as exports.page (docs/insight.md §Exports).",
            "security": _SECURITY["token"],
            "parameters": [
                {
                    "name": "event_id",
                    "in": "path",
                    "required": True,
                    "schema": page.params["event_id"],
                },
                {
                    "name": "file",
                    "in": "path",
                    "required": True,
                    "schema": {
                        "type": "string",
                        "enum": [f"{name}.{fmt}" for name in NAMES for fmt in FORMATS],
                    },
                },
            ],
            "responses": _responses(
                "200",
                {
                    content_type("csv"): {"schema": {"type": "string"}},
                    content_type("json"): {
                        "schema": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": {"type": ["string", "null"]},
                            },
                        }
                    },
                },
                body=False,
            ),
        }
    }


def openapi_document() -> dict[str, Any]:
    """The whole document."""
    paths: dict[str, dict[str, Any]] = {}
    for command in COMMANDS.values():
        paths.setdefault(command.path, {})[command.http.lower()] = _operation(command)
    paths["/api/v1/tickets/{ticket_id}/qr.svg"] = {
        "get": {
            "summary": "The ticket's code as a QR code (same access as tickets.get).",
            "security": [{"bearer": []}, {"apiKey": []}],
            "parameters": [
                {
                    "name": "ticket_id",
                    "in": "path",
                    "required": True,
                    "schema": COMMANDS["tickets.get"].params["ticket_id"],
                }
            ],
            "responses": _responses(
                "200", {"image/svg+xml": {"schema": {"type": "string"}}}, body=False
            ),
        }
    }
    paths["/api/v1/events/{event_id}/exports/{file}"] = _export_files()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Bilten API",
            "version": version("bilten"),
            "description": "REST mirror of the WebSocket rpc methods; see docs/protocol.md. "
            "Unknown parameters are refused (bad_request); a method a "
            "path does not support answers 405 method_not_allowed with "
            "an Allow header. A result may gain fields in a later "
            "version: clients ignore the fields they do not know.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "bk_{id}_{secret}",
                    "description": "An organization's API key, REST only (docs/accounts.md).",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "bilten_session"},
                "attendee_session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "bilten_attendee",
                },
            },
            "schemas": {
                **_error_schemas(),
                # Inside a piece, the other pieces are references too; never itself.
                **{
                    name: {key: _named(value) for key, value in piece.items()}
                    for name, piece in NAMED.items()
                },
            },
        },
    }
