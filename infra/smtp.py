"""The SMTP client: where BILTEN_SMTP_URL points, sending one message, and what a refusal means.

One place that speaks SMTP (through aiosmtplib), so the mail worker only
decides what to do with the outcome. `smtp://` sends in the clear, upgrading
with STARTTLS when the server offers it; `smtps://` is TLS from the first
byte (RFC 8314 "implicit TLS"). A server that is down, resets or times out
raises an OSError or TimeoutError (aiosmtplib's connection errors are both),
which `infra/faults.py` already counts as transient; a server that answers
with a refusal is classified by `refusal` after RFC 5321 §4.2.1: 4yz is
"try again later", 5yz is "never", except where the fault is our own
configuration (authentication, an extension we asked for), which an operator
can fix while the message waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal
from urllib.parse import unquote, urlsplit

import aiosmtplib

Refusal = Literal["permanent", "transient"]
# RFC 5321 §4.5.4.2 asks for five-minute timeouts; a worker cannot wait that long
# for one message: a stalled server is retried later instead.
TIMEOUT_S = 5.0
_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where to send: host, port, credentials and whether TLS starts at once."""

    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """Parse `smtp[s]://[user:password@]host[:port]` (checked by infra/settings.py)."""
        parts = urlsplit(url)
        assert parts.hostname  # the setting's parser refuses URLs without a host
        return cls(
            host=parts.hostname,
            port=parts.port or _DEFAULT_PORTS[parts.scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=parts.scheme == "smtps",
        )

    def __repr__(self) -> str:  # never the password, in case one is logged
        return f"SmtpServer({self.host}:{self.port}, tls={self.implicit_tls})"


async def send(server: SmtpServer, message: EmailMessage, *, timeout_s: float = TIMEOUT_S) -> None:
    """Deliver `message` to its To address through `server` (one connection per message)."""
    await aiosmtplib.send(
        message,
        hostname=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
        use_tls=server.implicit_tls,
        timeout=timeout_s,
    )


def refusal(error: aiosmtplib.SMTPException) -> Refusal:
    """Whether a server's refusal is final (5yz about the message) or worth retrying."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in error.recipients]
        return "permanent" if codes and all(code >= 500 for code in codes) else "transient"
    if isinstance(error, aiosmtplib.SMTPAuthenticationError | aiosmtplib.SMTPNotSupported):
        return "transient"  # our configuration: fixable while the message waits
    if isinstance(error, aiosmtplib.SMTPResponseException) and error.code >= 500:
        return "permanent"
    return "transient"
