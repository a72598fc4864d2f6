"""The e-mail templates, in every language we write, and the one function that renders them.

docs/mail.md §Templates. Each template is a row: the variables it needs (and
of which kind), and per language a subject and a body. The body is plain text
with `{name}` fields and blank lines between paragraphs; the HTML part is
derived from the same text, so the two never say different things. Values are
escaped for HTML, links become anchors, lists become lines. A language
without a translation is written in English. Pure: the mail worker renders,
the tests read what would be sent.
"""

from __future__ import annotations

import html
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bilten.protocol.errors import BadRequest
from bilten.protocol.mail import DEFAULT_LOCALE, Locale, MailRequest, contains_control

Kind = Literal["text", "url", "lines"]
MAX_TEXT = 500
MAX_URL = 2000
MAX_LINES = 500
MAX_LINE = 1000


@dataclass(frozen=True, slots=True)
class Template:
    """One message: its variables by kind, and per language (subject, body)."""

    name: str
    fields: Mapping[str, Kind]
    texts: Mapping[Locale, tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Rendered:
    """What is sent: the subject, the plain-text part and the HTML part, in `locale`."""

    locale: Locale
    subject: str
    text: str
    html: str


_LINK: dict[str, Kind] = {"link": "url"}
TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            "invitation",
            {"organization": "text", "role": "text", "link": "url"},
            {
                "en": (
                    "You are invited to join {organization} on Bilten",
                    "Hello,\n\nYou are invited to join {organization} on Bilten as {role}.\n\n"
                    "Accept the invitation:\n{link}\n\n"
                    "If you did not expect this invitation, you can ignore this message.",
                ),
                "tr": (
                    "{organization} sizi Bilten'e davet ediyor",
                    "Merhaba,\n\n{organization} sizi Bilten'e {role} rolüyle katılmaya "
                    "davet ediyor.\n\nDaveti kabul etmek için:\n{link}\n\n"
                    "Bu daveti beklemiyorsanız bu iletiyi yok sayabilirsiniz.",
                ),
            },
        ),
        Template(
            "password_reset",
            _LINK,
            {
                "en": (
                    "Reset your Bilten password",
                    "Hello,\n\nSomeone asked to reset the password of your Bilten account. "
                    "To choose a new password, open this link:\n{link}\n\n"
                    "The link works once and expires soon. If you did not ask for this, "
                    "ignore this message: your password stays as it is.",
                ),
                "tr": (
                    "Bilten parolanızı sıfırlayın",
                    "Merhaba,\n\nBilten hesabınızın parolasını sıfırlama isteği aldık. "
                    "Yeni bir parola belirlemek için bu bağlantıyı açın:\n{link}\n\n"
                    "Bağlantı yalnızca bir kez çalışır ve kısa süre sonra geçerliliğini yitirir. "
                    "Bu isteği siz yapmadıysanız bu iletiyi yok sayın: parolanız değişmez.",
                ),
            },
        ),
        Template(
            "signin_link",
            _LINK,
            {
                "en": (
                    "Your Bilten sign-in link",
                    "Hello,\n\nOpen this link to sign in to Bilten and see your orders "
                    "and tickets:\n{link}\n\n"
                    "The link works once and expires in a few minutes. If you did not ask "
                    "for it, ignore this message.",
                ),
                "tr": (
                    "Bilten giriş bağlantınız",
                    "Merhaba,\n\nBilten'e giriş yapıp siparişlerinizi ve biletlerinizi görmek "
                    "için bu bağlantıyı açın:\n{link}\n\n"
                    "Bağlantı yalnızca bir kez çalışır ve birkaç dakika içinde geçerliliğini "
                    "yitirir. Bunu siz istemediyseniz bu iletiyi yok sayın.",
                ),
            },
        ),
        Template(
            "order_confirmation",
            {"event": "text", "order_id": "text", "amount": "text", "tickets": "lines"},
            {
                "en": (
                    "Your tickets for {event} (order {order_id})",
                    "Hello,\n\nThank you for your order {order_id} for {event}. "
                    "Total: {amount}.\n\nYour tickets (show the code at the door):\n{tickets}\n\n"
                    "Keep this message: each code lets one person in once.",
                ),
                "tr": (
                    "{event} biletleriniz (sipariş {order_id})",
                    "Merhaba,\n\n{event} için verdiğiniz {order_id} numaralı sipariş için "
                    "teşekkür ederiz. Toplam: {amount}.\n\n"
                    "Biletleriniz (kodu girişte gösterin):\n{tickets}\n\n"
                    "Bu iletiyi saklayın: her kod bir kişiyi bir kez içeri alır.",
                ),
            },
        ),
    )
}

# Values we translate rather than print as given: organization roles (docs/mail.md).
TRANSLATED_VALUES: dict[tuple[Locale, str], dict[str, str]] = {
    ("tr", "role"): {
        "owner": "sahip",
        "manager": "yönetici",
        "door": "kapı görevlisi",
        "viewer": "izleyici",
    },
}


def render(request: MailRequest) -> Rendered:
    """The message for `request`; BadRequest when its template or a variable is wrong."""
    template = TEMPLATES.get(request.template)
    if template is None:
        raise BadRequest(f"no mail template {request.template}", field="template")
    locale = request.locale if request.locale in template.texts else DEFAULT_LOCALE
    values = {
        name: _value(kind, request.vars.get(name), f"vars.{name}")
        for name, kind in template.fields.items()
    }
    for name, value in values.items():
        translated = TRANSLATED_VALUES.get((locale, name), {})
        if isinstance(value, str) and value in translated:
            values[name] = translated[value]
    subject, body = template.texts[locale]
    plain = {
        name: "\n".join(f"- {line}" for line in value) if isinstance(value, tuple) else value
        for name, value in values.items()
    }
    subject_text = subject.format_map(plain)
    return Rendered(
        locale=locale,
        subject=subject_text,
        text=body.format_map(plain) + "\n",
        html=_html(locale, subject_text, body, values, template.fields),
    )


def _value(kind: Kind, value: Any, field: str) -> str | tuple[str, ...]:
    """A variable checked for its kind: text (or an integer), an http(s) link, a list of text."""
    if kind == "lines":
        if not isinstance(value, list) or not 0 < len(value) <= MAX_LINES:
            raise BadRequest(f"{field} must be a list of 1 to {MAX_LINES} lines", field=field)
        return tuple(str(_value("text", item, f"{field}[{n}]")) for n, item in enumerate(value))
    if isinstance(value, int) and not isinstance(value, bool) and kind == "text":
        return str(value)
    limit = MAX_URL if kind == "url" else (MAX_LINE if field.endswith("]") else MAX_TEXT)
    if not isinstance(value, str) or not 0 < len(value) <= limit or contains_control(value):
        raise BadRequest(f"{field} must be text of 1 to {limit} characters", field=field)
    if kind == "url" and (
        not value.startswith(("https://", "http://")) or any(c.isspace() for c in value)
    ):
        raise BadRequest(f"{field} must be an http(s) link", field=field)
    return value


def _html(
    locale: Locale,
    subject: str,
    body: str,
    values: Mapping[str, str | tuple[str, ...]],
    kinds: Mapping[str, Kind],
) -> str:
    """The body as simple HTML: a paragraph per blank-line block, links as anchors."""
    paragraphs = []
    for block in body.split("\n\n"):
        parts = []
        for literal, name, _spec, _conversion in string.Formatter().parse(block):
            parts.append(html.escape(literal).replace("\n", "<br>\n"))
            if name is not None:
                parts.append(_html_value(values[name], kinds[name]))
        paragraphs.append(f"<p>{''.join(parts)}</p>")
    return (
        f'<!doctype html>\n<html lang="{locale}"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n<body>\n"
        + "\n".join(paragraphs)
        + "\n</body></html>\n"
    )


def _html_value(value: str | tuple[str, ...], kind: Kind) -> str:
    if isinstance(value, tuple):
        return "<br>\n".join(html.escape(line) for line in value)
    if kind == "url":
        link = html.escape(value, quote=True)
        return f'<a href="{link}">{link}</a>'
    return html.escape(value)
