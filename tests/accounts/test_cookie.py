"""The session cookie's attributes and the CSRF origin rule, on requests built in memory."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bilten.hub.sessions import COOKIE, check_same_origin, set_session_cookie
from bilten.protocol.accounts import SESSION_TTL_S
from bilten.protocol.errors import Forbidden

HOST = "tickets.example.org"


def _request(origin: str | None = None, *, scheme: str = "http") -> web.Request:
    headers = {"Host": HOST} | ({"Origin": origin} if origin is not None else {})
    return make_mocked_request("POST", "/api/v1/auth/signout", headers=headers).clone(scheme=scheme)


@pytest.mark.parametrize(("scheme", "secure"), [("http", False), ("https", True)])
def test_the_cookie_is_secure_over_tls(scheme: str, secure: bool) -> None:
    response = web.Response()
    set_session_cookie(_request(scheme=scheme), response, "secret-value")
    cookie = response.cookies[COOKIE]
    assert cookie.value == "secret-value"
    assert bool(cookie["secure"]) is secure
    assert cookie["httponly"] is True and cookie["samesite"] == "Strict"
    assert cookie["max-age"] == str(SESSION_TTL_S) and cookie["path"] == "/"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (f"https://{HOST}", ()),
        (f"http://{HOST}/", ()),
        ("https://pages.example.org", ("https://pages.example.org",)),
    ],
)
def test_same_origin_or_listed_is_let_through(origin: str, allowed: tuple[str, ...]) -> None:
    check_same_origin(_request(origin), allowed)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, ()),
        ("null", ()),
        ("https://evil.example", ()),
        (f"https://{HOST}.evil.example", ()),
        (f"ftp://{HOST}", ()),
        ("https://evil.example", ("*",)),  # `*` opens /ws to any page, never the cookie
    ],
)
def test_other_origins_are_refused(origin: str | None, allowed: tuple[str, ...]) -> None:
    with pytest.raises(Forbidden) as refused:
        check_same_origin(_request(origin), allowed)
    assert refused.value.details["reason"] == "origin"
