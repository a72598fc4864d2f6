"""error_from_wire is total: whatever the other side sends, it yields a BiltenError."""

from __future__ import annotations

from typing import Any

import pytest

from bilten.protocol.errors import (
    HTTP_STATUS,
    BiltenError,
    Internal,
    TooLarge,
    error_from_wire,
)


@pytest.mark.parametrize(
    "body",
    [
        "boom",
        None,
        0,
        1.5,
        True,
        [],
        [{"code": "conflict"}],
        {"code": "too_large", "details": {"size": "70000", "limit": 65536}},
        {"code": "too_large", "details": {"size": 70000, "limit": None}},
        {"code": "too_large", "details": {"size": False, "limit": 65536}},
        {"code": "too_large", "details": "70000"},
    ],
)
def test_malformed_bodies_become_internal(body: Any) -> None:
    error = error_from_wire(body)
    assert type(error) is Internal and error.message == "malformed error reply"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"code": "bad_request", "message": "m", "details": [1]}, ("bad_request", "m", {})),
        (
            {"code": "bad_request", "message": "m", "details": {"message": "x"}},
            ("bad_request", "m", {"message": "x"}),
        ),
        ({"code": "bad_request", "message": 42}, ("bad_request", "bad_request", {})),
        ({"code": ["bad_request"], "message": "m"}, ("internal", "m", {})),
        (
            {"code": "from_the_future", "message": "m", "details": {"k": 1}},
            ("internal", "m", {"k": 1}),
        ),
    ],
)
def test_sanitized_fields(body: dict[str, Any], expected: tuple[str, str, dict[str, Any]]) -> None:
    error = error_from_wire(body)
    assert (error.code, error.message, error.details) == expected


def test_too_large_keeps_its_sizes() -> None:
    error = error_from_wire({"code": "too_large", "details": {"size": 9, "limit": 8}})
    assert isinstance(error, TooLarge) and error.details == {"size": 9, "limit": 8}


# bad_config is an operator's error (infra/settings.py), never rebuilt from a reply.
@pytest.mark.parametrize("code", sorted(set(HTTP_STATUS) - {"bad_config"}))
def test_every_code_round_trips(code: str) -> None:
    details = {"size": 2, "limit": 1} if code == "too_large" else {"field": "x"}
    error = error_from_wire({"code": code, "message": "m", "details": details})
    assert isinstance(error, BiltenError) and error.code == code
    assert error.http_status == HTTP_STATUS[code]
    assert error.details == details
