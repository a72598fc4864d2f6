"""The command table's rows for accounts and organizations (docs/accounts.md).

Public commands take no credential (sign-up, sign-in, password reset,
accepting an invitation); session commands take the session cookie that
sign-in sets, on REST only, and state-changing ones a same-origin request.
All run in the accounts worker; the hub sets and clears the cookie and mints
the connection tokens (hub/sessions.py).
"""

from __future__ import annotations

from typing import Any, get_args

from bilten.protocol import results
from bilten.protocol.accounts import MAX_EMAIL, MAX_PASSWORD, MEMBER_ROLES
from bilten.protocol.checkin import GATE
from bilten.protocol.command_shape import Command
from bilten.protocol.params import MAX_ID
from bilten.protocol.tokens import MAX_GATES, MAX_TOKEN_EVENTS, Role

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_IDENT = {"type": "string", "pattern": GATE.pattern}
_EMAIL = {"type": "string", "minLength": 3, "maxLength": MAX_EMAIL}
# Length rules are the worker's (weak_password names them); this bounds the request.
_PASSWORD = {"type": "string", "maxLength": MAX_PASSWORD}
_SECRET = {"type": "string", "pattern": "^[A-Za-z0-9_-]{20,128}$"}
_LOCALE = {"type": "string", "enum": ["en", "tr"]}
_EVENTS = {"type": ["array", "null"], "minItems": 1, "maxItems": MAX_TOKEN_EVENTS, "items": _ID}
_GATES = {"type": ["array", "null"], "minItems": 1, "maxItems": MAX_GATES, "items": _IDENT}
_ROLE = {"type": "string", "enum": list(MEMBER_ROLES)}

_LIMITS = {
    "events": results.nullable(results.array(results.ID)),
    "gates": results.nullable(results.array(results.TEXT)),
}
MEMBERSHIP = results.obj(
    org=results.TEXT, name=results.TEXT, role=results.enum(*MEMBER_ROLES), **_LIMITS
)
ME = results.obj(
    account=results.obj(id=results.ID, email=results.TEXT, created_at=results.TIME),
    memberships=results.array(MEMBERSHIP),
)
MEMBER = results.obj(
    account_id=results.ID,
    email=results.TEXT,
    role=results.enum(*MEMBER_ROLES),
    joined_at=results.TIME,
    **_LIMITS,
)
INVITATION = results.obj(
    id=results.ID, email=results.TEXT, role=results.enum(*MEMBER_ROLES), expires_at=results.TIME
)
AUDIT_ENTRY = results.obj(
    id=results.ID,
    at=results.TIME,
    action=results.TEXT,
    account_id=results.nullable(results.ID),
    actor_id=results.nullable(results.ID),
    address=results.nullable(results.TEXT),
    detail={"type": "object"},
)
TOKEN = results.obj(
    token=results.TEXT, expires_at=results.ID, role=results.enum(*get_args(Role)), sub=results.TEXT
)
DONE = results.obj(done=results.const(True))
SIGNED_OUT = results.obj(signed_out=results.COUNT)


def _public(method: str, summary: str, path: str, **more: Any) -> Command:
    return Command(method, summary, frozenset(), "POST", path, "accounts", auth="public", **more)


def _session(method: str, summary: str, http: Any, path: str, **more: Any) -> Command:
    return Command(method, summary, frozenset(), http, path, "accounts", auth="session", **more)


ACCOUNT_COMMANDS: tuple[Command, ...] = (
    _public(
        "auth.signup",
        "Create an account and its organization (the caller owns it); signs in.",
        "/api/v1/auth/signup",
        created=True,
        params={
            "email": _EMAIL,
            "password": _PASSWORD,
            "organization": {"type": "string", "minLength": 1, "maxLength": 200},
        },
        required=("email", "password", "organization"),
        result=ME,
    ),
    _public(
        "auth.signin",
        "Sign in with e-mail and password: sets the session cookie.",
        "/api/v1/auth/signin",
        params={"email": _EMAIL, "password": _PASSWORD},
        required=("email", "password"),
        result=ME,
    ),
    _public(
        "auth.reset.request",
        "Send a password reset link, if an account has this address (never says).",
        "/api/v1/auth/password-reset",
        params={"email": _EMAIL, "locale": _LOCALE},
        required=("email",),
        result=DONE,
    ),
    _public(
        "auth.reset.confirm",
        "Set a new password with a reset link's token; signs out every session.",
        "/api/v1/auth/password-reset/confirm",
        params={"token": _SECRET, "password": _PASSWORD},
        required=("token", "password"),
        result=DONE,
    ),
    _public(
        "auth.invitation.accept",
        "Join an organization with an invitation's token (new accounts set a password).",
        "/api/v1/auth/invitations/accept",
        params={"token": _SECRET, "password": _PASSWORD},
        required=("token", "password"),
        result=ME,
    ),
    _session(
        "auth.me", "The signed-in account and its memberships.", "GET", "/api/v1/auth/me", result=ME
    ),
    _session(
        "auth.signout", "End this session.", "POST", "/api/v1/auth/signout", result=SIGNED_OUT
    ),
    _session(
        "auth.signout.all",
        "End every session of the account, this one included.",
        "POST",
        "/api/v1/auth/signout-everywhere",
        result=SIGNED_OUT,
    ),
    _session(
        "auth.password",
        "Change the password; ends every other session.",
        "POST",
        "/api/v1/auth/password",
        params={"password": _PASSWORD, "new_password": _PASSWORD},
        required=("password", "new_password"),
        result=SIGNED_OUT,
    ),
    _session(
        "auth.token",
        "A connection token (minutes) for /ws and REST, as the member's role allows.",
        "POST",
        "/api/v1/auth/tokens",
        created=True,
        params={"org": _IDENT, "events": _EVENTS},
        required=("org",),
        result=TOKEN,
    ),
    _session(
        "orgs.members.list",
        "The organization's members (owners).",
        "GET",
        "/api/v1/orgs/{org}/members",
        params={"org": _IDENT},
        result=results.obj(members=results.array(MEMBER)),
    ),
    _session(
        "orgs.members.update",
        "Change a member's role and limits (owners).",
        "PATCH",
        "/api/v1/orgs/{org}/members/{account_id}",
        params={
            "org": _IDENT,
            "account_id": _ID,
            "role": _ROLE,
            "events": _EVENTS,
            "gates": _GATES,
        },
        required=("role",),
        result=MEMBER,
    ),
    _session(
        "orgs.members.remove",
        "Remove a member: their sessions stop now, their tokens within a minute (owners).",
        "DELETE",
        "/api/v1/orgs/{org}/members/{account_id}",
        params={"org": _IDENT, "account_id": _ID},
        result=results.obj(account_id=results.ID, removed=results.const(True)),
    ),
    _session(
        "orgs.invitations.create",
        "Invite someone by e-mail link, with a role (owners).",
        "POST",
        "/api/v1/orgs/{org}/invitations",
        created=True,
        params={
            "org": _IDENT,
            "email": _EMAIL,
            "role": _ROLE,
            "events": _EVENTS,
            "gates": _GATES,
            "locale": _LOCALE,
        },
        required=("email", "role"),
        result=INVITATION,
    ),
    _session(
        "orgs.audit",
        "The organization's audit log, newest first (owners).",
        "GET",
        "/api/v1/orgs/{org}/audit",
        params={
            "org": _IDENT,
            "limit": {"type": "integer", "minimum": 1, "maximum": 500},
            "before": _ID,
        },
        result=results.page("entries", AUDIT_ENTRY),
    ),
)
