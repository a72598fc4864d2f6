"""The mail worker end to end: outbox → JetStream → worker → a real SMTP server → mailbox."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from bilten.deploy.embedded_mail import EmbeddedMail
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings, SettingsError
from bilten.protocol.mail import MAIL_REQUESTED
from bilten.protocol.subjects import MAIL_CONSUMER
from bilten.workers import mail
from bilten.workers import main as worker_main
from bilten.workers.context import WorkerContext
from bilten.workers.registry import WORKERS
from bilten.workers.runner import Retry
from tests.mail.conftest import mail_settled, request_mail, running
from tests.ready import free_port
from tests.waiting import wait_for

LINK = "https://tickets.example/signin?token=s3cr3t&next=%2Forders"
SIGNIN = {
    "to": "amra@example.org",
    "template": "signin_link",
    "locale": "tr",
    "vars": {"link": LINK},
}


async def test_requested_mail_arrives_in_the_recipients_language(
    migrated: Settings, mail_server: EmbeddedMail
) -> None:
    async with running(migrated, ["mail"]) as deps:
        await request_mail(deps, SIGNIN)
        [received] = await wait_for(mail_server.mailbox.messages, what="the sign-in mail")
    assert received.recipients == ("amra@example.org",)
    assert received.subject == "Bilten giriş bağlantınız"
    assert received.language == "tr"
    assert LINK in received.text and "bu bağlantıyı açın" in received.text
    assert (
        received.html
        and 'href="https://tickets.example/signin?token=s3cr3t&amp;next' in received.html
    )
    assert received.message_id.startswith("<outbox.") and received.message_id.endswith(
        "@bilten.localhost>"
    )


async def test_the_mailbox_page_lists_and_shows_a_message(
    migrated: Settings, mail_server: EmbeddedMail
) -> None:
    async with running(migrated, ["mail"]) as deps:
        await request_mail(deps, {**SIGNIN, "locale": "en"})
        await wait_for(mail_server.mailbox.messages, what="the sign-in mail")
    async with aiohttp.ClientSession() as http:
        async with http.get(mail_server.mailbox_url) as resp:
            listing = await resp.text()
        assert resp.status == 200 and "Your Bilten sign-in link" in listing
        async with http.get(f"{mail_server.mailbox_url}messages/1") as resp:
            page = await resp.text()
        assert '<a href="https://tickets.example/signin?token=s3cr3t&amp;next=%2Forders">' in page
        async with http.get(f"{mail_server.mailbox_url}api/messages") as resp:
            [summary] = (await resp.json())["messages"]
        assert summary["to"] == ["amra@example.org"] and summary["language"] == "en"
        async with http.get(f"{mail_server.mailbox_url}api/messages/1") as resp:
            assert LINK in (await resp.json())["text"]
        async with http.get(f"{mail_server.mailbox_url}messages/1/html") as resp:
            assert resp.headers["Content-Security-Policy"] == "sandbox"
        async with http.get(f"{mail_server.mailbox_url}messages/99") as resp:
            assert resp.status == 404


async def test_a_mail_server_that_is_down_gets_the_message_once_it_is_back(
    migrated: Settings,
) -> None:
    port = free_port()
    settings = migrated.replace(smtp_url=f"smtp://127.0.0.1:{port}")
    async with running(settings, ["mail"]) as deps:
        await request_mail(deps, SIGNIN)

        async def retried() -> bool:
            info = await deps.js.consumer_info(
                deps.subjects.events_stream, deps.subjects.durable(MAIL_CONSUMER)
            )
            return info.num_redelivered >= 1  # failed at least once, and delivered again

        await wait_for(retried, what="the mail worker to retry")
        with EmbeddedMail().start(smtp_port=port) as late:
            [received] = await wait_for(
                late.mailbox.messages, what="the mail once the server is up"
            )
            await wait_for(lambda: mail_settled(deps), what="the mail to be acknowledged")
            assert len(late.mailbox.messages()) == 1
    assert received.subject == "Bilten giriş bağlantınız"


async def test_a_bad_request_is_terminated_and_the_next_one_sent(
    migrated: Settings, mail_server: EmbeddedMail, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with running(migrated, ["mail"]) as deps:
        await request_mail(deps, {**SIGNIN, "to": "not an address"})
        await request_mail(deps, {**SIGNIN, "vars": {"link": "javascript:alert(1)"}})
        await request_mail(deps, SIGNIN)
        await wait_for(mail_server.mailbox.messages, what="the good mail")
        await wait_for(lambda: mail_settled(deps), what="every request handled")
    assert len(mail_server.mailbox.messages()) == 1
    terminated = [r.getMessage() for r in caplog.records if "terminated" in r.getMessage()]
    assert len(terminated) == 2 and "to must be an e-mail address" in terminated[0]
    assert not any("s3cr3t" in r.getMessage() for r in caplog.records)  # links are credentials


async def test_a_redelivered_event_is_not_sent_twice(
    migrated: Settings, mail_server: EmbeddedMail
) -> None:
    async with running(migrated, []) as deps:
        await request_mail(deps, SIGNIN)
        # The worker's own handler, twice with one delivered event: as after a crash before the ack.
        sub = await deps.js.pull_subscribe(
            deps.subjects.events(MAIL_REQUESTED), stream=deps.subjects.events_stream
        )
        [msg] = await sub.fetch(1, timeout=30)
        ctx = WorkerContext(deps, Metrics())
        await mail.send(msg, ctx)
        await mail.send(msg, ctx)
        await sub.unsubscribe()
        [first] = mail_server.mailbox.messages()
        # Another replica holding the same event's lease: this one waits instead of sending.
        await deps.redis.set(deps.keys.mail_sent(first.message_id), b"sending")
        with pytest.raises(Retry):
            await mail.send(msg, ctx)
    assert len(mail_server.mailbox.messages()) == 1


async def test_the_mail_worker_needs_a_mail_server(migrated: Settings) -> None:
    unset = migrated.replace(smtp_url=None)
    assert WORKERS["mail"].missing(unset) == ["BILTEN_SMTP_URL"]
    assert WORKERS["mail"].missing(migrated) == []
    with pytest.raises(SettingsError) as caught:
        await worker_main.main(unset, "mail", None)
    assert caught.value.variable == "BILTEN_SMTP_URL"
