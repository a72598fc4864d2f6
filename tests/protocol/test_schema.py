"""The params validator and the command table's declarations (pure, table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from bilten.protocol.commands import COMMANDS, ID, check_params, path_params
from bilten.protocol.errors import BadRequest
from bilten.protocol.schema import check_schema, validate, validate_params

SCAN = {
    "type": "object",
    "required": ["gate"],
    "additionalProperties": False,
    "properties": {
        "gate": {"type": "string", "pattern": "^[a-z]{1,8}$"},
        "at": {"type": "string", "format": "date-time"},
    },
}
SYNC = {"type": "array", "maxItems": 3, "items": SCAN}

ACCEPTED: list[tuple[dict[str, Any], Any]] = [
    ({"type": "integer"}, 7),
    ({"type": "integer", "minimum": 1, "maximum": 9}, 9),
    ({"type": "number"}, 1.5),
    ({"type": "number"}, 2),
    ({"type": ["integer", "null"]}, None),
    ({"type": "string", "minLength": 1, "maxLength": 3}, "abc"),
    ({"type": "string", "pattern": "^[A-Z]{3}$"}, "BAM"),
    ({"type": "boolean"}, False),
    ({"enum": ["in", "out"]}, "out"),
    ({"enum": [0, 1]}, 1),
    ({"const": "*"}, "*"),
    ({"type": "string", "format": "date-time"}, "2027-06-01T19:00:00+02:00"),
    ({"type": "array", "minItems": 1, "uniqueItems": True, "items": ID}, [1, 2]),
    (SYNC, [{"gate": "north"}, {"gate": "west", "at": "2027-06-01T19:00:00Z"}]),
    ({"type": "object", "additionalProperties": {"type": "integer"}}, {"a": 1}),
    ({"oneOf": [{"type": "array", "items": ID}, {"const": "*"}]}, "*"),
    ({"oneOf": [{"type": "array", "items": ID}, {"const": "*"}]}, [3]),
    ({}, {"any": ["thing", None]}),
]

REFUSED: list[tuple[dict[str, Any], Any, str]] = [
    ({"type": "integer"}, 1.0, "x"),
    ({"type": "integer"}, True, "x"),
    ({"type": "integer"}, "7", "x"),
    ({"type": "integer", "minimum": 1}, 0, "x"),
    ({"type": "integer", "maximum": 9}, 10, "x"),
    ({"type": "number"}, float("nan"), "x"),
    ({"type": "number"}, False, "x"),
    ({"type": "string"}, 5, "x"),
    ({"type": "string", "minLength": 1}, "", "x"),
    ({"type": "string", "maxLength": 3}, "abcd", "x"),
    ({"type": "string", "pattern": "^[A-Z]{3}$"}, "BAM\n", "x"),
    ({"type": "string", "pattern": "^[A-Z]{3}$"}, "BAMX", "x"),
    ({"type": "boolean"}, 0, "x"),
    ({"enum": [0, 1]}, True, "x"),
    ({"enum": ["in", "out"]}, "up", "x"),
    ({"const": "*"}, "**", "x"),
    ({"type": "string", "format": "date-time"}, "0001-01-01T00:30:00+14:00", "x"),
    ({"type": "string", "format": "date-time"}, "2027-06-01T19:00:00", "x"),
    ({"type": "array", "minItems": 1}, [], "x"),
    ({"type": "array", "maxItems": 1}, [1, 2], "x"),
    ({"type": "array", "uniqueItems": True}, [1, 1], "x"),
    ({"type": "array", "items": ID}, [1, 0], "x[1]"),
    ({"type": "array", "items": ID}, [1, 2**63], "x[1]"),
    (SYNC, [{"gate": "n"}, {"gate": "w"}, {"gate": "s"}, {"gate": "e"}], "x"),
    (SYNC, [{"gate": "n"}, {"gate": "w"}, {"gate": 3}], "x[2].gate"),
    (SYNC, [{"gate": "n"}, {}], "x[1].gate"),
    (SYNC, [{"gate": "n", "extra": 1}], "x[0].extra"),
    (SYNC, [{"gate": "n", "at": "soon"}], "x[0].at"),
    ({"type": "object", "additionalProperties": {"type": "integer"}}, {"a": "1"}, "x.a"),
    ({"oneOf": [{"type": "array", "items": ID}, {"const": "*"}]}, "all", "x"),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 3, "x"),  # matches both
]


@pytest.mark.parametrize(("schema", "value"), ACCEPTED)
def test_accepts(schema: dict[str, Any], value: Any) -> None:
    check_schema(schema)
    assert validate(schema, value, "x") == value


@pytest.mark.parametrize(("schema", "value", "field"), REFUSED)
def test_refuses_naming_the_field(schema: dict[str, Any], value: Any, field: str) -> None:
    check_schema(schema)
    with pytest.raises(BadRequest) as refused:
        validate(schema, value, "x")
    assert refused.value.details["field"] == field


@pytest.mark.parametrize(
    ("schema", "text", "value"),
    [
        (ID, "42", 42),
        ({"type": "boolean"}, "true", True),
        ({"type": "boolean"}, "0", False),
        ({"type": ["boolean", "integer"]}, "1", 1),
        ({"type": "string"}, "42", "42"),
    ],
)
def test_text_coercion(schema: dict[str, Any], text: str, value: Any) -> None:
    assert validate(schema, text, "x", text=True) == value


@pytest.mark.parametrize("text", ["²", "４２", "-1", "+1", " 1", "0", "9" * 20, "yes"])
def test_text_coercion_refuses(text: str) -> None:
    with pytest.raises(BadRequest):
        validate(ID, text, "x", text=True)


def test_validate_params() -> None:
    props = {"event_id": ID, "name": {"type": "string"}}
    assert validate_params(props, ["event_id"], {"event_id": "5"}, text={"event_id"}) == {
        "event_id": 5
    }
    for params, field in [
        ({}, "event_id"),
        ({"event_id": 5, "nmae": "x"}, "nmae"),
        ({"event_id": "5"}, "event_id"),
    ]:
        with pytest.raises(BadRequest) as refused:
            validate_params(props, ["event_id"], params)
        assert refused.value.details["field"] == field


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "format": "email", "minProperties": 1},
        {"type": "string", "pattern": "[a-z]+"},
        {"type": "object", "properties": {"a": {"anyOf": []}}},
    ],
)
def test_check_schema_refuses_what_is_not_enforced(schema: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        check_schema(schema)


@pytest.mark.parametrize("method", sorted(COMMANDS))
def test_every_declaration_is_enforceable(method: str) -> None:
    command = COMMANDS[method]
    for name, schema in command.params.items():
        check_schema(schema, f"{method}.{name}")
    assert set(command.required) <= set(command.params)
    for name in path_params(command):
        assert name in command.params, f"{method}: path parameter {name} is undeclared"
        if name.endswith("_id"):
            assert command.params[name] == ID


def test_check_params_bounds_come_from_the_declaration() -> None:
    scan = COMMANDS["checkin.sync"]
    base = {"event_id": 1, "device": "door-1"}
    good = {
        "code": "T",
        "gate": "north",
        "scanned_at": "2027-06-01T19:00:00Z",
        "nonce": "nonce-0001",
        "verdict": "ok",
    }
    assert check_params(scan, {**base, "scans": [good]})["scans"] == [good]
    with pytest.raises(BadRequest) as refused:
        check_params(scan, {**base, "scans": [good, good, good, {**good, "gate": "a b"}]})
    assert refused.value.details["field"] == "scans[3].gate"
    tokens = COMMANDS["tokens.create"]
    with pytest.raises(BadRequest) as refused:
        check_params(tokens, {"role": "staff", "sub": "s", "events": [1], "ttl_s": 31 * 86400})
    assert refused.value.details["field"] == "ttl_s"
    issue = COMMANDS["tickets.issue"]
    with pytest.raises(BadRequest) as refused:
        check_params(issue, {"event_id": 1, "ticket_type_id": 1, "holder": "A", "owner_sub": 5})
    assert refused.value.details["field"] == "owner_sub"
