"""Organizer accounts: member roles, what each grants, and the rules for e-mails and passwords.

docs/accounts.md. A member's role in an organization is policy as a table,
like protocol/permissions.py: `GRANTS` maps each role to the connection
token a session mints for it (the existing token roles and claims of
protocol/tokens.py), and `MANAGES` says which roles run the organization.
The checks only look things up here; the accounts worker, the hub and the
docs read the same tables.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import orjson

from bilten.protocol.errors import BadRequest, Forbidden, WeakPassword
from bilten.protocol.tokens import Role

MemberRole = Literal["owner", "manager", "door", "viewer"]
MEMBER_ROLES: tuple[MemberRole, ...] = ("owner", "manager", "door", "viewer")

# Lifetimes (docs/accounts.md §Lifetimes).
SESSION_TTL_S = 14 * 86400  # idle: each use pushes the end this far again
SESSION_MAX_S = 60 * 86400  # absolute: a session never outlives this
CONNECTION_TOKEN_TTL_S = 300  # what a session mints: minutes, so removal bites soon
INVITATION_TTL_S = 7 * 86400
RESET_TTL_S = 30 * 60
# How often the hub re-reads the revocation set: with it, a removed member's
# tokens stop within this many seconds (docs/accounts.md §Revocation).
REVOCATION_REFRESH_S = 10.0

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes anything; a bound keeps a request's cost bounded
MAX_EMAIL = 254  # RFC 5321 §4.5.3.1.3, a path's limit
_EMAIL = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}\.)+[A-Za-z]{2,63}")


@dataclass(frozen=True, slots=True)
class Grant:
    """The connection token a member's role earns: its token role, and whether a
    member's event and gate limits apply (else it covers every event of the org)."""

    role: Role
    limited: bool


GRANTS: Mapping[MemberRole, Grant] = MappingProxyType(
    {
        # Events, sales, polls: everything an organizer token reaches.
        "owner": Grant("organizer", limited=False),
        "manager": Grant("organizer", limited=False),
        # Scanning only: a staff token, narrowed to the member's events and gates.
        "door": Grant("staff", limited=True),
        # Dashboards, read-only: the public view and the dashboard of every event of
        # the organization, and no organizer command (docs/accounts.md §Roles).
        "viewer": Grant("viewer", limited=False),
    }
)

# What only some roles may do in their organization.
MANAGES: Mapping[str, frozenset[MemberRole]] = MappingProxyType(
    {
        "members.read": frozenset({"owner"}),
        "members.invite": frozenset({"owner"}),
        "members.change": frozenset({"owner"}),
        "audit.read": frozenset({"owner"}),
        # Door devices: pairing, listing, revoking (docs/accounts.md §Door devices).
        "devices.manage": frozenset({"owner", "manager"}),
        # API keys outlive their creator's membership: the organization's owners only.
        "apikeys.manage": frozenset({"owner"}),
    }
)


def check_manages(role: MemberRole | None, action: str, org: str) -> None:
    """Allow `action` in `org` to a member with `role` (None: not a member), or raise Forbidden.

    A non-member is told the same as a member without the right, so the answer
    does not reveal which organizations exist.
    """
    if role is None or role not in MANAGES[action]:
        raise Forbidden(f"{action} in organization {org} is for its owners", org=org)


def parse_member_role(value: object) -> MemberRole:
    """A role from params, or BadRequest."""
    if value not in MEMBER_ROLES:
        raise BadRequest(f"role must be one of {', '.join(MEMBER_ROLES)}", field="role")
    return value


def normalize_email(value: object) -> str:
    """An address as stored and compared: trimmed and lower-cased; BadRequest if malformed."""
    if not isinstance(value, str) or len(value) > MAX_EMAIL:
        raise BadRequest("email must be an e-mail address", field="email")
    email = value.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise BadRequest("email must be an e-mail address", field="email")
    return email


def check_password(password: object, email: str, common: Collection[str]) -> str:
    """`password` if strong enough, else WeakPassword naming the rule it fails.

    NIST SP 800-63B §5.1.1.2: a minimum length, no composition rules, and a
    check against passwords known to be common (`common`, lower-cased).
    """
    if not isinstance(password, str):
        raise BadRequest("password must be a string", field="password")
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(
            f"password must be at least {MIN_PASSWORD} characters", reason="too_short"
        )
    if len(password) > MAX_PASSWORD:
        raise WeakPassword(f"password must be at most {MAX_PASSWORD} characters", reason="too_long")
    lowered = password.lower()
    if lowered in common:
        raise WeakPassword("password is one of the most common passwords", reason="common")
    if lowered == email or lowered == email.partition("@")[0]:
        raise WeakPassword("password must not be the e-mail address", reason="email")
    return password


def account_sub(account_id: int) -> str:
    """The `sub` of the tokens an account's sessions mint (docs/accounts.md §Tokens)."""
    return f"account-{account_id}"


@dataclass(frozen=True, slots=True)
class Revocation:
    """A bearer (`org|sub`) whose tokens issued before `until` (Unix seconds) are refused.

    Its wire form travels on `Subjects.revocations()` from the accounts worker
    to every hub, so a revocation holds on a bearer's next request.
    """

    bearer: str
    until: float

    def encode(self) -> bytes:
        """The wire form: `{"bearer": …, "until": …}`."""
        return orjson.dumps({"bearer": self.bearer, "until": self.until})

    @classmethod
    def decode(cls, data: bytes) -> Revocation:
        """Parse the wire form; ValueError for anything else."""
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise ValueError(f"not JSON: {error}") from None
        if not isinstance(body, dict):
            raise ValueError("not an object")
        bearer, until = body.get("bearer"), body.get("until")
        if not isinstance(bearer, str) or "|" not in bearer:
            raise ValueError("bearer must be org|sub")
        if isinstance(until, bool) or not isinstance(until, int | float):
            raise ValueError("until must be a number")
        return cls(bearer, float(until))
