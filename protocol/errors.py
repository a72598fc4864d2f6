"""Bilten's error set: one root, a stable string code per kind of failure.

The codes are part of the public contract (docs/protocol.md §Errors): the
WebSocket `error` frame and the REST error body carry the same `code`, and the
REST status is derived from it here, in one place. Unexpected exceptions are
never shown to clients; they become `Internal` at a process boundary.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeGuard

# code -> HTTP status, for the REST API (docs/protocol.md §Errors).
HTTP_STATUS: dict[str, int] = {
    "bad_frame": 400,
    "unknown_op": 400,
    "bad_channel": 400,
    "bad_request": 400,
    "bad_config": 500,
    "unauthorized": 401,
    "token_expired": 401,
    "bad_credentials": 401,
    "weak_password": 400,
    "email_taken": 409,
    "forbidden": 403,
    "not_found": 404,
    "unknown_method": 404,
    "method_not_allowed": 405,
    "upgrade_required": 426,
    "conflict": 409,
    "already_voted": 409,
    "poll_closed": 409,
    "bad_choice": 400,
    "too_large": 413,
    "rate_limited": 429,
    "already_upvoted": 409,
    "not_upvoted": 409,
    "bad_reaction": 400,
    "unsupported_format": 400,
    "bad_metric": 400,
    "bad_step": 400,
    "bad_range": 400,
    "bad_webhook_url": 400,
    "bad_signature": 401,
    "internal": 500,
    "unavailable": 503,
    "timeout": 504,
}


class BiltenError(Exception):
    """Root of every error Bilten reports to a client or an operator."""

    code: ClassVar[str] = "internal"

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.details = details

    @property
    def http_status(self) -> int:
        """The REST status for this error's code."""
        return HTTP_STATUS.get(self.code, 500)

    def to_wire(self) -> dict[str, Any]:
        """The `error` object of the wire format: code, message and details."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class BadFrame(BiltenError):
    """The frame is not valid JSON or not a JSON object/array of objects."""

    code = "bad_frame"


class UnknownOp(BiltenError):
    """The frame's `op` is not one this protocol version knows."""

    code = "unknown_op"


class BadChannel(BiltenError):
    """The channel name fails the grammar of docs/protocol.md §Channels."""

    code = "bad_channel"


class BadRequest(BiltenError):
    """Parameters of a command are missing, mistyped or out of range."""

    code = "bad_request"


class Unauthorized(BiltenError):
    """No token, or a token that fails verification."""

    code = "unauthorized"


class TokenExpired(BiltenError):
    """The token's `exp` has passed."""

    code = "token_expired"


class BadCredentials(BiltenError):
    """Sign-in failed: the e-mail address or the password is wrong (which one is not said)."""

    code = "bad_credentials"


class WeakPassword(BiltenError):
    """A new password is too short or too common (`details.reason`)."""

    code = "weak_password"


class EmailTaken(BiltenError):
    """An account with this e-mail address exists already."""

    code = "email_taken"


class Forbidden(BiltenError):
    """The token is valid but does not grant this action."""

    code = "forbidden"


class NotFound(BiltenError):
    """The addressed resource does not exist (or is not visible to the caller)."""

    code = "not_found"


class UnknownMethod(BiltenError):
    """The rpc method is not in the command table."""

    code = "unknown_method"


class MethodNotAllowed(BiltenError):
    """The REST path exists but not with this HTTP method (`details.allowed`)."""

    code = "method_not_allowed"


class UpgradeRequired(BiltenError):
    """A WebSocket upgrade in a version other than RFC 6455's 13 (`details.versions`)."""

    code = "upgrade_required"


class Conflict(BiltenError):
    """The request conflicts with the current state."""

    code = "conflict"


class AlreadyVoted(BiltenError):
    """The caller has a ballot in this poll already (docs/engagement.md §Votes)."""

    code = "already_voted"


class PollClosed(BiltenError):
    """The poll is not open for votes: not opened yet, closed, or past its time limit."""

    code = "poll_closed"


class BadChoice(BiltenError):
    """The vote's choice does not fit the poll's kind or options (`details.reason`)."""

    code = "bad_choice"


class TooLarge(BiltenError):
    """A frame or body exceeds the configured limit."""

    code = "too_large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes exceeds the limit of {limit}", size=size, limit=limit)


class RateLimited(BiltenError):
    """The connection sends faster than its rate limit allows."""

    code = "rate_limited"


class AlreadyUpvoted(BiltenError):
    """The attendee upvoted this question already (docs/engagement.md §Q&A)."""

    code = "already_upvoted"


class NotUpvoted(BiltenError):
    """A withdrawn upvote the attendee never gave, or already withdrew."""

    code = "not_upvoted"


class BadReaction(BiltenError):
    """A reaction outside the fixed set (docs/engagement.md §Reactions)."""

    code = "bad_reaction"


class UnsupportedFormat(BiltenError):
    """An export asked for in a format it does not come in (`details.formats`)."""

    code = "unsupported_format"


class BadMetric(BiltenError):
    """A stats query names a metric analytics do not count (`details.metrics`)."""

    code = "bad_metric"


class BadStep(BiltenError):
    """A stats query asks for a step other than 1m, 5m or 1h (`details.steps`)."""

    code = "bad_step"


class BadRange(BiltenError):
    """A stats query's range is backwards (`details.reason`: `from_after_to`) or holds
    too many steps (`too_many_points`, with `details.points` and `details.limit`)."""

    code = "bad_range"


class BadWebhookUrl(BiltenError):
    """A webhook URL that is malformed, not HTTPS, or reaches a non-public address
    (docs/webhooks.md §URLs; `details.reason`)."""

    code = "bad_webhook_url"

    def __init__(self, message: str = "", reason: str = "malformed", **details: Any) -> None:
        super().__init__(message, reason=reason, field="url", **details)


class BadSignature(BiltenError):
    """A received webhook delivery fails verification (docs/webhooks.md §Verifying;
    `details.reason`: missing, malformed, stale or mismatch)."""

    code = "bad_signature"

    def __init__(self, message: str = "", reason: str = "mismatch", **details: Any) -> None:
        super().__init__(message, reason=reason, **details)


class Unavailable(BiltenError):
    """A dependency (NATS, a worker, a database) cannot serve the request now."""

    code = "unavailable"


class Timeout(BiltenError):
    """A dependency did not answer within the request timeout."""

    code = "timeout"


class Internal(BiltenError):
    """Something unexpected failed; details are in the server log, not here."""

    code = "internal"


_BY_CODE: dict[str, type[BiltenError]] = {
    cls.code: cls
    for cls in (
        BadFrame,
        UnknownOp,
        BadChannel,
        BadRequest,
        Unauthorized,
        TokenExpired,
        BadCredentials,
        WeakPassword,
        EmailTaken,
        Forbidden,
        NotFound,
        UnknownMethod,
        MethodNotAllowed,
        UpgradeRequired,
        Conflict,
        AlreadyVoted,
        PollClosed,
        BadChoice,
        RateLimited,
        AlreadyUpvoted,
        NotUpvoted,
        BadReaction,
        UnsupportedFormat,
        BadMetric,
        BadStep,
        BadRange,
        BadWebhookUrl,
        BadSignature,
        Unavailable,
        Timeout,
        Internal,
    )
}


MALFORMED = "malformed error reply"


def error_from_wire(body: object) -> BiltenError:
    """Rebuild an error from its wire form (used by workers' replies and the SDK).

    Total, because the other side may be buggy, older or newer: an unknown code
    becomes `Internal` with the message (docs/protocol.md §Errors), details
    that are not an object are dropped, and a body that is not an object, or a
    `too_large` without integer `size` and `limit`, becomes
    `Internal("malformed error reply")`.
    """
    if not isinstance(body, dict):
        return Internal(MALFORMED)
    code = body.get("code")
    message = body.get("message")
    details = body.get("details")
    details = dict(details) if isinstance(details, dict) else {}
    if code == "too_large":
        size, limit = details.get("size"), details.get("limit")
        if not (_is_int(size) and _is_int(limit)):
            return Internal(MALFORMED)
        return TooLarge(size, limit)
    cls = _BY_CODE.get(code if isinstance(code, str) else "", Internal)
    error = cls(message if isinstance(message, str) else "")
    error.details = details  # set, not passed: a detail named `message` must not clash
    return error


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
