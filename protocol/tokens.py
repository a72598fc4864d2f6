"""Access tokens: JWTs signed with HS256, and the claims they carry.

docs/protocol.md §Tokens & permissions. The algorithm is pinned on decode, so a
token whose header says "none" or RS256 is rejected rather than trusted, and
`exp` is compared with an explicit `now` (leeway 0) so that time is an input,
not a hidden dependency. A token minted from another one stays within its
grant (`check_mint`, §Minting), and minting refuses claims that mean nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, cast

import jwt

from bilten.protocol.errors import BadRequest, Forbidden, TokenExpired, Unauthorized
from bilten.protocol.jws import ALGORITHM, InvalidJws, verify_hs256

Role = Literal["organizer", "viewer", "staff", "attendee", "service"]
ROLES: tuple[Role, ...] = ("organizer", "viewer", "staff", "attendee", "service")

MIN_TTL_S = 1
MAX_TTL_S = 366 * 24 * 3600
DEFAULT_TTL_S = 3600
MAX_TOKEN_EVENTS = 256  # beyond that, use "*": tokens travel in URLs
MAX_GATES = 64
_MAX_EVENT_ID = 2**63 - 1
MAX_SECONDS = 253_402_300_799  # exp and iat: 9999-12-31T23:59:59Z at the latest
_IDENT = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_REQUIRED = ("sub", "org", "role", "events", "exp", "iat")

# docs/protocol.md §Minting: a token mints only roles ranked below its own, so
# organizers mint no organizers (a credential limited to some events would
# otherwise spawn peers; granting organizers stays an operator's act).
ROLE_RANK: Mapping[Role, int] = MappingProxyType(
    {"attendee": 0, "staff": 1, "viewer": 2, "organizer": 3, "service": 4}
)
# Operator credentials: they mint any role, for any organization, with any lifetime.
OPERATORS: frozenset[Role] = frozenset({"service"})
# Roles whose token reaches nothing without events (a service reaches every event).
NEEDS_EVENTS: frozenset[Role] = frozenset({"viewer", "staff", "attendee"})
# Roles a `gates` claim narrows: only staff decide scans at a gate.
GATED: frozenset[Role] = frozenset({"staff"})


@dataclass(frozen=True, slots=True)
class Claims:
    """What a verified token says about its bearer.

    `events` is the tuple of event ids the token covers, or "*" for every event
    of `org`. `gates` narrows a staff token to some entrances (None: all).
    `exp` and `iat` are Unix seconds.
    """

    sub: str
    org: str
    role: Role
    events: tuple[int, ...] | Literal["*"]
    gates: tuple[str, ...] | None
    exp: int
    iat: int

    def covers_event(self, event_id: int, event_org: str) -> bool:
        """Whether the token reaches `event_id`, an event of organization `event_org`."""
        if self.role == "service":
            return True
        if event_org != self.org:
            return False
        return self.events == "*" or event_id in self.events

    def covers_every_event(self) -> bool:
        """Whether the token reaches every event of its organization (or of all, for a service)."""
        return self.role == "service" or self.events == "*"

    def expired(self, now: float) -> bool:
        """Whether `exp` has passed at `now` (RFC 7519 §4.1.4: "on or after")."""
        return now >= self.exp


def mint_claims(
    *,
    sub: object,
    org: object,
    role: object,
    events: Iterable[int] | str,
    gates: Iterable[str] | None = None,
    ttl_s: int,
    now: float,
) -> Claims:
    """Validated claims for a new token valid `ttl_s` seconds from `now`.

    Every argument is checked, whatever its type, so request params go in as they came.

    Raises `BadRequest` naming the field at fault, also for claims that mean
    nothing for the role: a staff or attendee token without events reaches
    nothing, and `gates` narrow staff tokens only.
    """
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
        raise BadRequest(
            f"ttl_s must be an integer from {MIN_TTL_S} to {MAX_TTL_S} seconds (366 days)",
            field="ttl_s",
        )
    issued = int(now)
    claims = _claims(sub, org, role, events, gates, issued + ttl_s, issued, BadRequest)
    if claims.role in NEEDS_EVENTS and not claims.events:
        raise BadRequest(
            f'events must name at least one event (or "*"): a {claims.role} '
            "token without events reaches nothing",
            field="events",
        )
    if claims.gates is not None and claims.role not in GATED:
        raise BadRequest(
            f"gates narrow {', '.join(sorted(GATED))} tokens only, not {claims.role} tokens",
            field="gates",
        )
    if claims.gates == ():
        raise BadRequest(
            "gates must name at least one gate (leave it out for every gate)", field="gates"
        )
    return claims


def default_ttl_s(parent: Claims, now: float) -> int:
    """The lifetime of a token `parent` mints when none is asked for.

    An hour, or what is left of `parent`'s own lifetime if less, so that the
    default always passes `check_mint`.
    """
    if parent.role in OPERATORS:
        return DEFAULT_TTL_S
    return max(MIN_TTL_S, min(DEFAULT_TTL_S, parent.exp - int(now)))


def check_mint(parent: Claims, child: Claims) -> None:
    """Allow `parent` to mint `child`, or raise `Forbidden` naming the claim that exceeds its grant.

    docs/protocol.md §Minting: every claim of the child stays within the
    parent's (`MINT_RULES`). Whether listed events exist is for the caller to
    check: it takes a database.
    """
    for claim, exceeds in MINT_RULES:
        problem = exceeds(parent, child)
        if problem:
            raise Forbidden(f"{claim}: {problem}", field=claim)


def _role_exceeds(parent: Claims, child: Claims) -> str | None:
    if parent.role in OPERATORS or ROLE_RANK[child.role] < ROLE_RANK[parent.role]:
        return None
    below = [r for r in ROLES if ROLE_RANK[r] < ROLE_RANK[parent.role]]
    return f"a {parent.role} token mints {' and '.join(below) or 'no'} tokens, not {child.role}"


def _org_exceeds(parent: Claims, child: Claims) -> str | None:
    if parent.role in OPERATORS or child.org == parent.org:
        return None
    return f"a {parent.role} token mints tokens of its own organization {parent.org} only"


def _events_exceed(parent: Claims, child: Claims) -> str | None:
    if parent.covers_every_event():
        return None
    if child.events == "*":
        return 'events "*" takes a token that covers every event itself'
    outside = sorted(set(child.events) - set(parent.events))
    if outside:
        return f"the token does not cover event {', '.join(map(str, outside))}"
    return None


def _gates_exceed(parent: Claims, child: Claims) -> str | None:
    if parent.gates is None or child.role not in GATED:
        return None
    if child.gates is None:
        return "a token limited to some gates mints tokens limited to them too"
    outside = sorted(set(child.gates) - set(parent.gates))
    return f"the token does not cover gate {', '.join(outside)}" if outside else None


def _exp_exceeds(parent: Claims, child: Claims) -> str | None:
    if parent.role in OPERATORS or child.exp <= parent.exp:
        return None
    return (
        f"a minted token cannot outlive its minter (expires at {parent.exp}): "
        f"ttl_s at most {max(0, parent.exp - child.iat)}"
    )


# One row per claim a minted token must keep within its minter's grant.
MINT_RULES: tuple[tuple[str, Callable[[Claims, Claims], str | None]], ...] = (
    ("role", _role_exceeds),
    ("org", _org_exceeds),
    ("events", _events_exceed),
    ("gates", _gates_exceed),
    ("exp", _exp_exceeds),
)


def encode_token(claims: Claims, secret: str) -> str:
    """The signed JWT for `claims`."""
    payload: dict[str, Any] = {
        "sub": claims.sub,
        "org": claims.org,
        "role": claims.role,
        "events": claims.events if claims.events == "*" else list(claims.events),
        "exp": claims.exp,
        "iat": claims.iat,
    }
    if claims.gates is not None:
        payload["gates"] = list(claims.gates)
    return jwt.encode(payload, _key(secret), algorithm=ALGORITHM)


def decode_token(token: str, secret: str, *, now: float) -> Claims:
    """Verify `token` and return its claims.

    Raises `Unauthorized` for anything but a well-formed HS256 token signed with
    `secret` carrying every claim, and `TokenExpired` once `now` reaches `exp`.
    """
    if not isinstance(token, str) or not token:
        raise Unauthorized("no token")
    try:
        payload = verify_hs256(token, _key(secret).encode())
    except InvalidJws as error:
        raise Unauthorized(f"invalid token: {error}") from None
    missing = [name for name in _REQUIRED if name not in payload]
    if missing:
        raise Unauthorized(f"token lacks claims: {', '.join(missing)}")
    claims = _claims(
        payload["sub"],
        payload["org"],
        payload["role"],
        payload["events"],
        payload.get("gates"),
        _seconds(payload["exp"], "exp"),
        _seconds(payload["iat"], "iat"),
        Unauthorized,
    )
    if claims.expired(now):
        raise TokenExpired("token expired", exp=claims.exp)
    return claims


def _key(secret: str) -> str:
    if not secret:
        raise ValueError("the token secret is empty")
    return secret


def _seconds(value: object, name: str) -> int:
    # Accept floats: some languages only produce them (JavaScript's Date.now() / 1000).
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unauthorized(f"token claim {name} is not a number of seconds")
    if not 0 <= value <= MAX_SECONDS:
        raise Unauthorized(f"token claim {name} is not a time from 1970 to 9999")
    return int(value)


def _claims(
    sub: object,
    org: object,
    role: object,
    events: object,
    gates: object,
    exp: int,
    iat: int,
    error: type[BadRequest] | type[Unauthorized],
) -> Claims:
    def fail(field: str, problem: str) -> Exception:
        exc: Exception = error(f"{field} {problem}", field=field)
        return exc

    if not isinstance(sub, str) or not _IDENT.fullmatch(sub):
        raise fail("sub", "must be 1 to 64 letters, digits, '_' or '-'")
    if not isinstance(org, str) or not _IDENT.fullmatch(org):
        raise fail("org", "must be 1 to 64 letters, digits, '_' or '-'")
    if role not in ROLES:
        raise fail("role", f"must be one of {', '.join(ROLES)}")
    scope: tuple[int, ...] | Literal["*"]
    if events == "*":
        scope = "*"
    elif isinstance(events, str | bytes | Mapping) or not isinstance(events, Iterable):
        raise fail("events", 'must be a list of event ids or "*"')
    else:
        ids = list(cast(Iterable[object], events))
        if len(ids) > MAX_TOKEN_EVENTS or not all(
            isinstance(e, int) and not isinstance(e, bool) and 0 < e <= _MAX_EVENT_ID for e in ids
        ):
            raise fail(
                "events", f'must be at most {MAX_TOKEN_EVENTS} positive integer event ids, or "*"'
            )
        scope = tuple(sorted(set(cast(list[int], ids))))
    gate_ids: tuple[str, ...] | None = None
    if gates is not None:
        if isinstance(gates, str | bytes | Mapping) or not isinstance(gates, Iterable):
            raise fail("gates", "must be a list of gate ids")
        raw = tuple(cast(Iterable[object], gates))
        if len(raw) > MAX_GATES or not all(isinstance(g, str) and _IDENT.fullmatch(g) for g in raw):
            raise fail(
                "gates", f"must be at most {MAX_GATES} ids of 1 to 64 letters, digits, '_' or '-'"
            )
        gate_ids = cast(tuple[str, ...], raw)
    return Claims(sub, org, role, scope, gate_ids, exp, iat)
