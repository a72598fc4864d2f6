"""An attendee signs in end to end: the mail worker sends the link to a real SMTP server, the
link is taken from the message received there, and it opens the attendee's tickets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bilten.deploy.embedded_mail import EmbeddedMail
from bilten.infra.settings import Settings
from tests.accounts.attendee_helpers import attendee_cookie, buy, ga_event
from tests.accounts.helpers import Browser
from tests.accounts.test_mailed_links import received, token_in


@pytest.fixture
def mail_server() -> Iterator[EmbeddedMail]:
    with EmbeddedMail() as server:
        yield server


@pytest.fixture
async def migrated(migrated: Settings, mail_server: EmbeddedMail) -> Settings:
    """The workers of this module send their mail to the test's own SMTP server."""
    return migrated.replace(smtp_url=mail_server.smtp_url)


async def test_a_mailed_sign_in_link_opens_the_attendees_tickets(
    workers: Settings,
    hub_server: Any,
    aiohttp_client: Any,
    make_token: Any,
    mail_server: EmbeddedMail,
) -> None:
    client = await aiohttp_client(hub_server)
    jazz = await ga_event(client, make_token, "acme", "Sarajevo Jazz Night")
    order = await buy(client, make_token, "acme", jazz, "amra@example.org")

    browser = Browser(client)
    await browser.call("auth.link.request", email="amra@example.org", locale="tr")
    message = await received(mail_server, "amra@example.org", "giriş bağlantınız")
    assert message.language == "tr"
    assert f"{workers.public_url}/signin#token=" in message.text
    token = token_in(message)
    me = await browser.call("auth.link.redeem", token=token)
    assert me["attendee"]["email"] == "amra@example.org" and attendee_cookie(browser)
    [ticket] = (await browser.call("attendee.tickets"))["tickets"]
    assert ticket["code"] == order["tickets"][0]["code"] and "<svg" in ticket["qr_svg"]

    # The link in the mailbox works once.
    status, error = await Browser(client).error("auth.link.redeem", token=token)
    assert (status, error["code"]) == (404, "not_found")
