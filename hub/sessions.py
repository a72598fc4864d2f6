"""Session and public commands on REST: the session cookie, CSRF, and tokens from a session.

docs/accounts.md. The accounts worker keeps the state; the hub only moves
the cookie: it sends the worker the SHA-256 of the cookie (never the cookie),
sets the cookie from the secret a sign-in answers (and strips it from the
body), clears it on sign-out, refreshes it on every other use, and mints the
connection token that `auth.token` grants, or the device token that
`devices.redeem` grants, with protocol/tokens.py. Attendees (docs/accounts.md
§Attendees) get the same, with a cookie of their own: a command reads only
its own kind's cookie, so an attendee session never reaches an organizer's
command, nor the reverse.

CSRF: the cookie is SameSite=Strict, and besides, every state-changing
request of these commands must come with an `Origin` of the hub itself (or
one of BILTEN_ALLOWED_ORIGINS, `*` excepted).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from bilten.hub.dispatch import check_event, forward
from bilten.hub.runtime import HUB
from bilten.infra.faults import faults_as_errors
from bilten.protocol.accounts import CONNECTION_TOKEN_TTL_S, SESSION_TTL_S
from bilten.protocol.command_shape import Command
from bilten.protocol.commands import ANONYMOUS, check_params
from bilten.protocol.errors import Forbidden, Unauthorized
from bilten.protocol.tokens import encode_token, mint_claims

COOKIE = "bilten_session"
ATTENDEE_COOKIE = "bilten_attendee"
# The cookie each kind of command reads (public ones: an organizer's, if any).
_READS = {"session": COOKIE, "attendee": ATTENDEE_COOKIE, "public": COOKIE}
# A secret in a worker's answer, and the cookie it goes into.
_SETS = {"session": COOKIE, "attendee_session": ATTENDEE_COOKIE}
_SIGN_OUT = {
    "auth.signout": COOKIE,
    "auth.signout.all": COOKIE,
    "attendee.signout": ATTENDEE_COOKIE,
}


def check_same_origin(request: web.Request, allowed: tuple[str, ...]) -> None:
    """Refuse a state-changing request whose Origin is missing or another site's."""
    origin = request.headers.get("Origin")
    if origin is None:
        raise Forbidden("a request with the session cookie must carry Origin", reason="origin")
    origin = origin.rstrip("/")
    if origin in allowed and origin != "*":
        return
    if not origin.isascii():  # an origin is ASCII (RFC 6454): bytes aiohttp kept undecoded
        raise Forbidden("cross-site request refused", reason="origin")
    scheme, _, netloc = origin.partition("://")
    if netloc != request.host or scheme not in ("http", "https"):
        raise Forbidden(f"cross-site request from {origin[:200]} refused", reason="origin")


def set_session_cookie(
    request: web.Request, response: web.Response, secret: str, name: str = COOKIE
) -> None:
    """Set a session cookie: HttpOnly, SameSite=Strict, Secure over TLS, for SESSION_TTL_S."""
    response.set_cookie(
        name,
        secret,
        max_age=SESSION_TTL_S,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


async def _mint(request: web.Request, grant: dict[str, Any]) -> dict[str, Any]:
    """The connection token for an `auth.token` or `attendee.token` grant; listed events
    must be the org's."""
    hub = request.app[HUB]
    claims = mint_claims(
        sub=grant["sub"],
        org=grant["org"],
        role=grant["role"],
        events=grant["events"],
        gates=grant["gates"],
        ttl_s=CONNECTION_TOKEN_TTL_S,
        now=time.time(),
    )
    if claims.events != "*":
        for event_id in claims.events:
            await check_event(hub, claims, event_id)
    return {
        "token": encode_token(claims, hub.settings.require_secret()),
        "expires_at": claims.exp,
        "role": claims.role,
        "sub": claims.sub,
    }


async def _mint_device(request: web.Request, grant: dict[str, Any]) -> dict[str, Any]:
    """The long-lived staff token a redeemed pairing grants: its event and gates only."""
    now = time.time()
    # The worker fixed the expiry (a revocation is kept as long): the token ends then.
    claims = mint_claims(
        sub=grant["sub"],
        org=grant["org"],
        role="staff",
        events=[grant["event_id"]],
        gates=grant["gates"],
        ttl_s=max(grant["expires_at"] - int(now), 1),
        now=now,
    )
    token = encode_token(claims, request.app[HUB].settings.require_secret())
    fields = ("device_id", "org", "event_id", "gates", "expires_at")
    return {"token": token, **{k: grant[k] for k in fields}}


_MINTERS: dict[str, Callable[[web.Request, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "auth.token": _mint,
    "attendee.token": _mint,
    "devices.redeem": _mint_device,
}


async def run(
    request: web.Request, command: Command, params: dict[str, Any], text: set[str]
) -> web.Response:
    """Run a session, attendee or public command for a REST request."""
    hub = request.app[HUB]
    if command.http != "GET":
        check_same_origin(request, hub.settings.allowed_origins)
    name = _READS[command.auth]
    cookie = request.cookies.get(name)
    if cookie is not None and not cookie.isascii():  # none of ours: undecodable bytes
        cookie = None
    if command.auth != "public" and not cookie:
        raise Unauthorized("not signed in")
    params = check_params(command, params, text=text)
    session = hashlib.sha256(cookie.encode()).hexdigest() if cookie else None
    with faults_as_errors():
        result = await forward(
            hub, ANONYMOUS, command, params, session=session, address=request.remote
        )
        minter = _MINTERS.get(command.method)
        if minter is not None:
            result = await minter(request, result)
    secrets = (
        {key: result.pop(key) for key in _SETS if key in result} if isinstance(result, dict) else {}
    )
    response = web.Response(
        status=201 if command.created else 200,
        body=orjson.dumps(result),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
    if command.method in _SIGN_OUT:
        response.del_cookie(_SIGN_OUT[command.method], path="/")
    elif secrets:
        for key, secret in secrets.items():
            set_session_cookie(request, response, secret, _SETS[key])
    elif command.auth != "public" and cookie:
        set_session_cookie(request, response, cookie, name)  # refreshed while in use
    return response
