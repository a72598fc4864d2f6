"""Who is calling: bearer tokens, browser origins, and which organization owns an event."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web
from nats.aio.client import Client as NATS

from bilten.hub.revocation import REVOCATIONS
from bilten.infra import rpc
from bilten.infra.settings import Settings
from bilten.protocol.commands import (
    INTERNAL_EVENT_OWNER,
    CommandRequest,
    encode_request,
)
from bilten.protocol.errors import Forbidden, Unauthorized
from bilten.protocol.subjects import Subjects
from bilten.protocol.tokens import Claims, decode_token, mint_claims


def bearer_token(request: web.Request, *, allow_query: bool) -> str:
    """The token from `Authorization: Bearer …` or, for WebSockets, `?token=…`."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Authorization must be `Bearer <token>`")
    else:
        token = (_query_token(request) if allow_query else None) or ""
        if not token:
            raise Unauthorized("missing access token")
    if not token.isascii():  # bytes aiohttp kept undecoded: no token of ours
        raise Unauthorized("malformed token")
    return token


def _query_token(request: web.Request) -> str | None:
    """The first `token` query parameter.

    Parsed here rather than through `request.query`, which would keep a parsed
    copy of the query on the request for as long as the socket stays open.
    """
    for name, value in parse_qsl(request.query_string, keep_blank_values=True):
        if name == "token":
            return value
    return None


class VerifiedTokens:
    """Tokens this hub has verified, so a client that reconnects is not verified again.

    Clients reconnect with the token they connected with, often all at once (a
    hub restarting, a venue's network flapping), and an HS256 verification
    costs tens of microseconds of the hub's one core. Entries are keyed by the
    token's signature and hold a digest of what it signs (header and payload),
    small beside the token itself: a token whose signature or signed part
    differs in any byte misses and is verified in full, and fails there. An
    entry is used only before its `exp` and dropped once found past it; the
    cache is a bounded LRU.
    """

    def __init__(self, settings: Settings, size: int = 10_000) -> None:
        self._settings = settings
        self._size = size
        # signature -> (digest of the signed part, claims); insertion order is recency
        self._known: dict[str, tuple[bytes, Claims]] = {}

    def __len__(self) -> int:
        return len(self._known)

    def claims(self, token: str, now: float) -> Claims:
        """The claims of `token` at `now` (Unauthorized / TokenExpired otherwise)."""
        signed, _, signature = token.rpartition(".")
        digest = hashlib.blake2b(signed.encode(), digest_size=16).digest()
        entry = self._known.get(signature)
        if entry is not None and entry[1].expired(now):
            del self._known[signature]
        elif entry is not None and entry[0] == digest:
            del self._known[signature]
            self._known[signature] = entry  # now the most recently used
            return entry[1]
        claims = decode_token(token, self._settings.require_secret(), now=now)
        self._known.pop(signature, None)
        self._known[signature] = (digest, claims)
        if len(self._known) > self._size:
            del self._known[next(iter(self._known))]
        return claims


def authenticate(request: web.Request, tokens: VerifiedTokens, *, allow_query: bool) -> Claims:
    """Verified claims of the request's token (Unauthorized / TokenExpired otherwise)."""
    claims = tokens.claims(bearer_token(request, allow_query=allow_query), time.time())
    request.app[REVOCATIONS].check(claims)  # hub/revocation.py: removed members' tokens
    return claims


def check_origin(request: web.Request, settings: Settings) -> None:
    """Browsers send Origin: it must be the hub itself or one of the allowed origins.

    Non-browser clients send none and are judged by their token alone.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return
    origin = origin.rstrip("/")
    if "*" in settings.allowed_origins or origin in settings.allowed_origins:
        return
    if not origin.isascii():  # an origin is ASCII (RFC 6454): bytes aiohttp kept undecoded
        raise Forbidden("this origin is not allowed")
    try:
        if urlsplit(origin).netloc == request.host:
            return
    except ValueError:  # not a URL at all ("http://[")
        pass
    raise Forbidden(f"origin {origin[:200]} is not allowed")


class EventOwners:
    """Cache of event id → organization, asked of the events worker on a miss.

    An event never changes organization, so answers are kept (bounded LRU);
    "no such event" is kept only briefly, since the event may be created soon.
    """

    MISSING_TTL_S = 5.0

    def __init__(self, nc: NATS, subjects: Subjects, timeout: float, size: int = 100_000) -> None:
        self._nc = nc
        self._subjects = subjects
        self._timeout = timeout
        self._size = size
        self._known: OrderedDict[int, str] = OrderedDict()
        self._missing: dict[int, float] = {}
        self._claims = mint_claims(
            sub="hub", org="bilten", role="service", events="*", ttl_s=366 * 86400, now=time.time()
        )

    def known(self, event_id: int) -> str | None:
        """The owning organization if this hub knows it already, else None (ask `org_of`)."""
        org = self._known.get(event_id)
        if org is not None:
            self._known.move_to_end(event_id)
        return org

    async def org_of(self, event_id: int) -> str | None:
        """The owning organization, or None if there is no such event."""
        org = self.known(event_id)
        if org is not None:
            return org
        if self._missing.get(event_id, 0.0) > time.monotonic():
            return None
        request = CommandRequest(INTERNAL_EVENT_OWNER, self._claims, {"event_id": event_id})
        reply = await rpc.request(
            self._nc,
            self._subjects.command(INTERNAL_EVENT_OWNER),
            encode_request(request),
            timeout=self._timeout,
            what="the owner of an event",
        )
        found = reply.get("org")
        if found is None:
            self._missing[event_id] = time.monotonic() + self.MISSING_TTL_S
            if len(self._missing) > self._size:
                self._missing.clear()
            return None
        self._known[event_id] = found
        if len(self._known) > self._size:
            self._known.popitem(last=False)
        return str(found)
