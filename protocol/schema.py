"""A small, strict JSON Schema validator: the one check of every command's params.

Each command declares its parameters once, in the command table, as a subset
of JSON Schema (draft 2020-12); the same declaration produces the OpenAPI
document and is enforced here, for WebSocket rpc and REST alike, so the two
cannot drift (docs/protocol.md §Commands). Pure: no I/O, no clock.

Deliberately strict where JSON Schema is loose, so that what passes is what
the workers accept: integers are never floats or booleans, `pattern` must
match the whole string, unknown keywords are refused at declaration time
(`check_schema`), and `format: date-time` goes through the bounded time
parser. Values given as text (REST path and query parameters) may spell an
integer in ASCII digits and a boolean as true/false/1/0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any

from bilten.protocol.errors import BadRequest
from bilten.protocol.params import ascii_int, parse_time

Schema = Mapping[str, Any]

VALIDATING = frozenset(
    {
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minItems",
        "maxItems",
        "uniqueItems",
        "items",
        "required",
        "properties",
        "additionalProperties",
        "oneOf",
    }
)
ANNOTATIONS = frozenset({"description", "example", "examples", "title", "default"})
_TEXT_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def validate_params(
    properties: Mapping[str, Schema],
    required: Collection[str],
    params: Mapping[str, Any],
    *,
    text: Collection[str] = (),
) -> dict[str, Any]:
    """Check a command's params; return them with text values coerced (see module doc).

    Unknown parameters are refused: a misspelt optional field must not be
    silently ignored. `text` names the params that arrived as text.
    """
    checked: dict[str, Any] = {}
    for name, value in params.items():
        schema = properties.get(name)
        if schema is None:
            raise BadRequest(f"unknown parameter {name[:64]!r}", field=name[:64])
        checked[name] = validate(schema, value, name, text=name in text)
    missing = [name for name in required if name not in params]
    if missing:
        raise BadRequest(f"{missing[0]} is required", field=missing[0])
    return checked


def validate(schema: Schema, value: Any, where: str, *, text: bool = False) -> Any:
    """`value` if it satisfies `schema`, else BadRequest with `field` = `where`."""
    if text and isinstance(value, str):
        value = _from_text(schema, value)
    types = _types(schema)
    if types is not None and not any(_is(kind, value) for kind in types):
        raise _fail(where, f"must be {' or '.join(_ARTICLE[t] for t in types)}")
    if "const" in schema and not _same(value, schema["const"]):
        raise _fail(where, f"must be {schema['const']!r}")
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        raise _fail(where, f"must be one of {', '.join(map(repr, schema['enum']))}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(schema, value, where)
    elif isinstance(value, str):
        _check_string(schema, value, where)
    elif isinstance(value, list):
        _check_array(schema, value, where)
    elif isinstance(value, dict):
        _check_object(schema, value, where)
    if "oneOf" in schema:
        _check_one_of(schema["oneOf"], value, where)
    return value


def check_schema(schema: Schema, where: str = "") -> None:
    """Raise ValueError if `schema` uses a keyword this validator does not enforce."""
    unknown = set(schema) - VALIDATING - ANNOTATIONS
    if unknown:
        raise ValueError(f"{where or 'schema'}: unsupported keywords {sorted(unknown)}")
    pattern = schema.get("pattern")
    if pattern is not None and not (pattern.startswith("^") and pattern.endswith("$")):
        raise ValueError(f"{where}: patterns are whole-string matches: anchor {pattern!r}")
    for name, child in schema.get("properties", {}).items():
        check_schema(child, f"{where}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), Mapping):
            check_schema(schema[key], f"{where}.{key}")
    for n, option in enumerate(schema.get("oneOf", ())):
        check_schema(option, f"{where}.oneOf[{n}]")


_ARTICLE = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def _fail(where: str, problem: str) -> BadRequest:
    return BadRequest(f"{where} {problem}", field=where)


def _types(schema: Schema) -> tuple[str, ...] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    return (kind,) if isinstance(kind, str) else tuple(kind)


def _is(kind: str, value: object) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return kind == "null" and value is None


def _same(value: object, expected: object) -> bool:
    """JSON equality: unlike Python's, `true` is not `1`."""
    return isinstance(value, bool) == isinstance(expected, bool) and value == expected


def _from_text(schema: Schema, value: str) -> object:
    types = _types(schema) or ()
    if "integer" in types and (number := ascii_int(value)) is not None:
        return number
    if "boolean" in types and value in _TEXT_BOOLEANS:
        return _TEXT_BOOLEANS[value]
    return value


def _check_number(schema: Schema, value: float, where: str) -> None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (
            f"from {low} to {high}"
            if low is not None and high is not None
            else f"at least {low}"
            if low is not None
            else f"at most {high}"
        )
        raise _fail(where, f"must be {bounds}")


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _check_string(schema: Schema, value: str, where: str) -> None:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if len(value) < low or (high is not None and len(value) > high):
        raise _fail(where, f"must be {low} to {high if high is not None else 'any'} characters")
    pattern = schema.get("pattern")
    if pattern is not None and not _compiled(pattern).fullmatch(value):
        raise _fail(where, f"must match {pattern}")
    if schema.get("format") == "date-time":
        parse_time(value, where)


def _check_array(schema: Schema, value: list[Any], where: str) -> None:
    low, high = schema.get("minItems", 0), schema.get("maxItems")
    if len(value) < low or (high is not None and len(value) > high):
        raise _fail(where, f"must hold {low} to {high if high is not None else 'any'} items")
    items = schema.get("items")
    if items is not None:
        for n, item in enumerate(value):
            validate(items, item, f"{where}[{n}]")
    if schema.get("uniqueItems"):
        seen: set[str] = set()
        for item in value:
            key = repr((type(item).__name__, item))
            if key in seen:
                raise _fail(where, "must not repeat an item")
            seen.add(key)


def _check_object(schema: Schema, value: dict[str, Any], where: str) -> None:
    properties: Mapping[str, Schema] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        at = f"{where}.{name[:64]}"
        if name in properties:
            validate(properties[name], item, at)
        elif extra is False:
            raise _fail(at, "is not a known field")
        elif isinstance(extra, Mapping):
            validate(extra, item, at)
    for name in schema.get("required", ()):
        if name not in value:
            raise _fail(f"{where}.{name}", "is required")


def _check_one_of(options: list[Schema], value: object, where: str) -> None:
    matches = 0
    for option in options:
        types = _types(option)
        if types is not None and not any(_is(kind, value) for kind in types):
            continue  # the common miss, decided without building an error
        try:
            validate(option, value, where)
        except BadRequest:
            continue
        matches += 1
    if matches != 1:
        raise _fail(where, "must match exactly one of its allowed forms")
