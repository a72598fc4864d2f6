"""The mail worker: every `mail.requested` domain event becomes one e-mail, sent through SMTP.

docs/mail.md. Events come from the events stream through the durable `mail`
consumer (infra/streams.py), so a request written to the outbox is kept until
it is sent, across restarts of the worker and outages of the mail server.

- A payload that cannot become a message (protocol/mail.py,
  protocol/mail_templates.py) is terminated and logged: retrying cannot fix it.
- The server being away, slow or answering 4yz naks the message with a
  growing delay (the runner's backoff); after `MAX_DELIVER` attempts it is
  given up, logged as an error. A 5yz refusal of the message is final.
- "Once": each event gets a Message-ID derived from its outbox id and stream
  sequence, and Redis
  remembers the Message-IDs sent. A redelivered event whose message was sent
  is acknowledged without sending; one being sent by another replica waits.
  SMTP cannot make this exact: if the worker dies after the server accepted
  the message and before it is remembered, it is sent again, with the same
  Message-ID, which mail clients may use to show it once.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
import orjson
from nats.aio.msg import Msg

from bilten.infra import smtp
from bilten.infra.streams import MAIL_MAX_DELIVER
from bilten.protocol.errors import BadRequest, Unavailable
from bilten.protocol.mail import MailRequest, message_id, parse_mail_request
from bilten.protocol.mail_templates import Rendered, render
from bilten.protocol.subjects import HDR_MSG_ID
from bilten.workers.context import WorkerContext
from bilten.workers.runner import Retry

log = logging.getLogger(__name__)

MAX_DELIVER = MAIL_MAX_DELIVER
# A replica sending a message holds it this long at most (the runner gives a handler 10 s).
LEASE_S = 30
# How long a sent Message-ID is remembered: beyond any redelivery of its event.
SENT_TTL_S = 7 * 86400
_SENDING, _SENT = b"sending", b"sent"


async def send(msg: Msg, ctx: WorkerContext) -> None:
    """Send the message a `mail.requested` event asks for, unless it was sent already."""
    request = parse_mail_request(_body(msg))
    rendered = render(request)
    meta = msg.metadata
    # The event's outbox id, and where the stream stored it: the same on every redelivery,
    # and never the same for two events (outbox ids restart with a new database).
    source = f"{(msg.headers or {}).get(HDR_MSG_ID, meta.stream)}.{meta.sequence.stream}"
    mid = message_id(source, _domain(ctx.settings.mail_from))
    log_ctx = {"message_id": mid, "template": request.template, "seq": meta.sequence.stream}
    key = ctx.deps.keys.mail_sent(mid)
    redis = ctx.deps.redis
    if not await redis.set(key, _SENDING, nx=True, ex=LEASE_S):
        if await redis.get(key) == _SENT:
            log.info("mail already sent; not again", extra={"ctx": log_ctx})
            return
        raise Retry(LEASE_S)  # another replica is sending it right now
    try:
        await _deliver(ctx, _message(ctx, request, rendered, mid, msg), meta.num_delivered)
    except Exception:
        await redis.delete(key)  # not sent: the next delivery may try
        raise
    await redis.set(key, _SENT, ex=SENT_TTL_S)
    log.info("mail sent", extra={"ctx": log_ctx})


async def _deliver(ctx: WorkerContext, message: EmailMessage, attempt: int) -> None:
    """Send; a refusal is final (5yz) or retried; running out of attempts is final too."""
    assert ctx.settings.smtp_url  # the registry runs this worker only when it is set
    server = smtp.SmtpServer.from_url(ctx.settings.smtp_url)
    try:
        await smtp.send(server, message)
    except aiosmtplib.SMTPResponseException as error:
        if smtp.refusal(error) == "permanent":
            raise BadRequest(f"the mail server refused the message: {error.code}") from None
        _give_up_after_last(attempt, error)
        log.warning("mail server answered %d; trying again later", error.code)
        raise Retry(_backoff(attempt)) from None
    except aiosmtplib.SMTPRecipientsRefused as error:
        if smtp.refusal(error) == "permanent":
            raise BadRequest("the mail server refused the recipient", field="to") from None
        _give_up_after_last(attempt, error)
        log.warning("mail server deferred the recipient; trying again later")
        raise Retry(_backoff(attempt)) from None
    except (OSError, TimeoutError) as error:  # away or stalled: the runner retries
        _give_up_after_last(attempt, error)
        raise


def _give_up_after_last(attempt: int, error: Exception) -> None:
    if attempt >= MAX_DELIVER:
        log.error("mail given up after %d attempts: %s", attempt, type(error).__name__)
        raise Unavailable(f"mail server failed {attempt} times") from None


def _backoff(attempt: int) -> float:
    """The runner's delay for faults (workers/runner.py), for refusals worth retrying."""
    return min(30.0, 0.5 * 2.0**attempt)


def _body(msg: Msg) -> dict[str, object]:
    try:
        body = orjson.loads(msg.data)
    except orjson.JSONDecodeError:
        raise BadRequest("malformed mail request: not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("malformed mail request: not an object")
    return body


def _domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2]


def _message(
    ctx: WorkerContext, request: MailRequest, rendered: Rendered, mid: str, msg: Msg
) -> EmailMessage:
    """The e-mail: text and HTML alternatives, dated when the event was written."""
    message = EmailMessage()
    message["From"] = ctx.settings.mail_from
    message["To"] = request.to
    message["Subject"] = rendered.subject
    message["Message-ID"] = mid
    if msg.metadata.timestamp:
        message["Date"] = format_datetime(msg.metadata.timestamp)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    # After the parts: making the message multipart moves Content-* headers into them.
    message["Content-Language"] = rendered.locale
    return message
