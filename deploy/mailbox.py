"""The development mailbox: messages the embedded SMTP server kept, as web pages and JSON.

docs/operations.md §Development mailbox. `bilten up` without BILTEN_SMTP_URL
keeps every message its workers send in memory (the newest `limit`, so a long
session cannot grow without bound) and shows them on its own loopback port:
a list, one page per message with its links clickable (a new user follows
invitations and sign-in links without a mail account), the message's own
HTML part, and the same as JSON for scripts and tests.
"""

from __future__ import annotations

import email.policy
import html
import re
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from typing import Any

from aiohttp import web

MAX_MESSAGES = 500
_URL = re.compile(r"https?://[^\s<>\"']+")
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .6rem;"
    "border-bottom:1px solid #ddd}pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem}"
)


@dataclass(frozen=True, slots=True)
class Received:
    """One kept message: envelope, the headers people look at, and its text and HTML parts."""

    id: int
    received_at: datetime
    sender: str
    recipients: tuple[str, ...]
    subject: str
    message_id: str
    language: str
    text: str
    html: str | None

    def summary(self) -> dict[str, Any]:
        """What the list shows."""
        return {
            "id": self.id,
            "received_at": self.received_at.isoformat(),
            "from": self.sender,
            "to": list(self.recipients),
            "subject": self.subject,
            "message_id": self.message_id,
            "language": self.language,
        }

    def to_json(self) -> dict[str, Any]:
        """Everything, for `/api/messages/{id}`."""
        return {**self.summary(), "text": self.text, "html": self.html}


class Mailbox:
    """The newest `limit` messages; thread-safe, since tests read it from their own thread."""

    def __init__(self, limit: int = MAX_MESSAGES) -> None:
        self._messages: deque[Received] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self._next_id = 1

    def add(self, raw: bytes, sender: str, recipients: list[str]) -> Received:
        """Keep a message as received by SMTP (the oldest goes when full)."""
        parsed = message_from_bytes(raw, policy=email.policy.default)
        text, rich = parsed.get_body(("plain",)), parsed.get_body(("html",))
        with self._lock:
            received = Received(
                id=self._next_id,
                received_at=datetime.now(UTC),
                sender=sender,
                recipients=tuple(recipients),
                subject=str(parsed.get("Subject", "")),
                message_id=str(parsed.get("Message-ID", "")),
                language=str(parsed.get("Content-Language", "")),
                text=_content(text) if text is not None else "",
                html=_content(rich) if rich is not None else None,
            )
            self._next_id += 1
            self._messages.append(received)
        return received

    def messages(self) -> list[Received]:
        """The kept messages, newest first."""
        with self._lock:
            return list(reversed(self._messages))

    def get(self, message_id: int) -> Received | None:
        """A kept message by its mailbox id."""
        with self._lock:
            return next((m for m in self._messages if m.id == message_id), None)


def _content(part: Any) -> str:
    content = part.get_content()
    return content if isinstance(content, str) else content.decode("utf-8", "replace")


class SmtpHandler:
    """aiosmtpd's handler: every accepted message goes into the mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message (aiosmtpd calls this after DATA)."""
        self.mailbox.add(
            envelope.original_content or envelope.content, envelope.mail_from, envelope.rcpt_tos
        )
        return "250 Message accepted for delivery"


MAILBOX = web.AppKey("mailbox", Mailbox)


def mailbox_app(mailbox: Mailbox) -> web.Application:
    """The pages: `/`, `/messages/{id}`, `/messages/{id}/html`, `/api/messages[/{id}]`."""
    app = web.Application()
    app[MAILBOX] = mailbox
    app.router.add_get("/", _list_page)
    app.router.add_get("/messages/{id:\\d{1,9}}", _message_page)
    app.router.add_get("/messages/{id:\\d{1,9}}/html", _message_html)
    app.router.add_get("/api/messages", _list_json)
    app.router.add_get("/api/messages/{id:\\d{1,9}}", _message_json)
    return app


def _found(request: web.Request) -> Received:
    found = request.app[MAILBOX].get(int(request.match_info["id"]))
    if found is None:
        raise web.HTTPNotFound(text="no such message (the mailbox keeps the newest ones)")
    return found


def _page(title: str, body: str) -> web.Response:
    return web.Response(
        text=(
            f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}'
            f"</title><style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n"
        ),
        content_type="text/html",
    )


async def _list_page(request: web.Request) -> web.Response:
    rows = "".join(
        f"<tr><td>{m.received_at:%H:%M:%S}</td><td>{html.escape(', '.join(m.recipients))}</td>"
        f'<td><a href="messages/{m.id}">{html.escape(m.subject or "(no subject)")}</a></td></tr>'
        for m in request.app[MAILBOX].messages()
    )
    table = (
        f"<table><tr><th>received (UTC)</th><th>to</th><th>subject</th></tr>{rows}</table>"
        if rows
        else "<p>No messages yet. Everything Bilten sends while it runs appears here.</p>"
    )
    return _page("Bilten mailbox", f"<h1>Bilten mailbox</h1>\n{table}")


async def _message_page(request: web.Request) -> web.Response:
    m = _found(request)
    heads = (("From", m.sender), ("To", ", ".join(m.recipients)), ("Subject", m.subject))
    rows = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in heads)
    rich = f'<p><a href="{m.id}/html">The HTML version</a></p>' if m.html else ""
    body = (
        f'<p><a href="../">← all messages</a></p>\n<table>{rows}</table>\n'
        f"<pre>{_linked(m.text)}</pre>\n{rich}"
    )
    return _page(m.subject or "(no subject)", body)


async def _message_html(request: web.Request) -> web.Response:
    m = _found(request)
    if m.html is None:
        raise web.HTTPNotFound(text="this message has no HTML part")
    # Shown as sent, but unable to run scripts or reach this page's origin.
    return web.Response(
        text=m.html, content_type="text/html", headers={"Content-Security-Policy": "sandbox"}
    )


async def _list_json(request: web.Request) -> web.Response:
    return web.json_response({"messages": [m.summary() for m in request.app[MAILBOX].messages()]})


async def _message_json(request: web.Request) -> web.Response:
    return web.json_response(_found(request).to_json())


def _linked(text: str) -> str:
    """Plain text as HTML with its http(s) links clickable."""
    parts, last = [], 0
    for match in _URL.finditer(text):
        parts.append(html.escape(text[last : match.start()]))
        url = html.escape(match.group(), quote=True)
        parts.append(f'<a href="{url}">{url}</a>')
        last = match.end()
    parts.append(html.escape(text[last:]))
    return "".join(parts)
