"""The `mail.requested` domain event: who gets which message, in which language.

docs/mail.md. Whoever wants an e-mail sent writes this event to the outbox in
the transaction that made it necessary (`outbox.enqueue(conn, MAIL_REQUESTED,
payload)`), with exactly `{"to", "template", "locale", "vars"}`; the mail
worker parses it here before rendering (protocol/mail_templates.py). Parsing
is strict about what would make a broken or dangerous message (a malformed
address, a template that does not exist, a missing variable, control
characters that could forge a header) and lenient where a default does no
harm: a language we have no translation for falls back to English, and
variables a template does not use are ignored. Errors name the field, never
its value: the variables carry sign-in links.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from bilten.protocol.errors import BadRequest

MAIL_REQUESTED = "mail.requested"
"""The domain event kind (and NATS subject suffix) of a mail request."""

Locale = Literal["en", "tr"]
LOCALES: tuple[Locale, ...] = get_args(Locale)
DEFAULT_LOCALE: Locale = "en"
MAX_ADDRESS = 254  # RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its brackets
MAX_LOCALE = 35
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
"""An address as web forms accept it (WHATWG's valid e-mail address), ASCII only."""
_EMAIL = re.compile(EMAIL_PATTERN)
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_email(value: object, field: str = "email") -> str:
    """An e-mail address, exactly as given; BadRequest naming `field` otherwise."""
    if not isinstance(value, str) or len(value) > MAX_ADDRESS or not _EMAIL.fullmatch(value):
        raise BadRequest(f"{field} must be an e-mail address", field=field)
    return value


def resolve_locale(value: str) -> Locale:
    """The language we write in for a locale tag: `tr-TR` → `tr`, anything unknown → `en`."""
    primary = value.replace("_", "-").split("-", 1)[0].lower()
    for locale in LOCALES:
        if primary == locale:
            return locale
    return DEFAULT_LOCALE


@dataclass(frozen=True, slots=True)
class MailRequest:
    """One message to send: recipient, template name, language, and the template's variables.

    `vars` keeps the values as given (text, integers, lists of text); the
    template checks the ones it needs when rendering.
    """

    to: str
    template: str
    locale: Locale
    vars: Mapping[str, Any]

    def to_payload(self) -> dict[str, Any]:
        """The event payload that parses back into this request."""
        return {
            "to": self.to,
            "template": self.template,
            "locale": self.locale,
            "vars": dict(self.vars),
        }


def parse_mail_request(body: Mapping[str, Any]) -> MailRequest:
    """A `mail.requested` payload (the event's `kind` may be present) as a request.

    The template and its variables are checked by `render` (they depend on
    the template); here only the envelope: address, name, locale, an object
    of variables.
    """
    template = body.get("template")
    if not isinstance(template, str) or not re.fullmatch(r"[a-z][a-z_]{0,63}", template):
        raise BadRequest("template must be a template name", field="template")
    locale = body.get("locale", DEFAULT_LOCALE)
    if not isinstance(locale, str) or len(locale) > MAX_LOCALE or not _LOCALE.fullmatch(locale):
        raise BadRequest("locale must be a language tag such as en or tr-TR", field="locale")
    variables = body.get("vars", {})
    if not isinstance(variables, dict) or not all(isinstance(k, str) for k in variables):
        raise BadRequest("vars must be an object", field="vars")
    return MailRequest(
        to=parse_email(body.get("to"), "to"),
        template=template,
        locale=resolve_locale(locale),
        vars=variables,
    )


def message_id(source: str, domain: str) -> str:
    """An RFC 5322 Message-ID derived from what identifies the event (`outbox:ns:42`).

    The same event always gets the same Message-ID, so a message sent again
    after a crash (docs/mail.md §Once) is recognisable as the same message.
    Characters not allowed in its left part (RFC 5322 §3.6.4, `dot-atom-text`)
    become dots.
    """
    left = re.sub(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+", ".", source).strip(".") or "mail"
    right = re.sub(r"[^A-Za-z0-9.-]+", ".", domain).strip(".") or "localhost"
    return f"<{left}@{right}>"


def contains_control(text: str) -> bool:
    """Whether `text` has control characters (a newline could forge a mail header)."""
    return _CONTROL.search(text) is not None
