"""The OpenAPI 3.1 document of the REST API, generated from the command table."""

from __future__ import annotations

import re
from importlib.metadata import version
from typing import Any

from bilten.protocol.commands import COMMANDS
from bilten.protocol.errors import HTTP_STATUS

_PATH_PARAM = re.compile(r"{(\w+)}")


def _operation(method: str) -> dict[str, Any]:
    command = COMMANDS[method]
    path_params = _PATH_PARAM.findall(command.path)
    props = {k: v for k, v in command.params.items() if k not in path_params}
    operation: dict[str, Any] = {
        "operationId": command.method,
        "summary": command.summary,
        "description": f"Also the WebSocket rpc `{command.method}`. "
                       f"Roles: {', '.join(sorted(command.roles))}.",
        "security": [{"bearer": []}],
        "parameters": [
            {"name": name, "in": "path", "required": True,
             "schema": command.params.get(name, {"type": "string"})}
            for name in path_params
        ],
        "responses": {
            "201" if command.created else "200": {
                "description": "OK", "content": {"application/json": {"schema": {}}}},
            "default": {"description": "Error", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    }
    if command.http == "GET":
        operation["parameters"] += [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in props.items()
        ]
    elif props:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"type": "object", "properties": props}}}}
    return operation


def openapi_document() -> dict[str, Any]:
    """The whole document."""
    paths: dict[str, dict[str, Any]] = {}
    for command in COMMANDS.values():
        paths.setdefault(command.path, {})[command.http.lower()] = _operation(command.method)
    paths["/api/v1/tickets/{ticket_id}/qr.svg"] = {"get": {
        "summary": "The ticket's code as a QR code (same access as tickets.get).",
        "security": [{"bearer": []}],
        "parameters": [{"name": "ticket_id", "in": "path", "required": True,
                        "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "SVG", "content": {"image/svg+xml": {}}}},
    }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Bilten API", "version": version("bilten"),
                 "description": "REST mirror of the WebSocket rpc methods; see docs/protocol.md."},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "JWT"}},
            "schemas": {"Error": {"type": "object", "properties": {"error": {
                "type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string", "enum": sorted(HTTP_STATUS)},
                    "message": {"type": "string"}, "details": {"type": "object"}}}}}},
        },
    }
