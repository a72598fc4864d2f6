"""Invitations and password resets end to end: the mail worker sends them to a real SMTP
server, and the link is taken from the message received there, as a person would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from bilten.deploy.embedded_mail import EmbeddedMail
from bilten.deploy.mailbox import Received
from bilten.infra.settings import Settings
from tests.accounts.helpers import PASSWORD, Browser
from tests.waiting import wait_for

LINK = re.compile(r"https?://\S+#token=\S+")


@pytest.fixture
def mail_server() -> Iterator[EmbeddedMail]:
    with EmbeddedMail() as server:
        yield server


@pytest.fixture
async def migrated(migrated: Settings, mail_server: EmbeddedMail) -> Settings:
    """The workers of this module send their mail to the test's own SMTP server."""
    return migrated.replace(smtp_url=mail_server.smtp_url)


async def received(server: EmbeddedMail, to: str, subject_part: str) -> Received:
    def find() -> Received | None:
        for message in server.mailbox.messages():
            if to in message.recipients and subject_part in message.subject:
                return message
        return None

    return await wait_for(find, what=f"a mail to {to} about {subject_part!r}")


def token_in(message: Received) -> str:
    [link] = LINK.findall(message.text)
    return urlsplit(link).fragment.removeprefix("token=")


async def test_an_invitation_mail_is_received_and_its_link_joins(
    workers: Settings, hub_server: Any, aiohttp_client: Any, mail_server: EmbeddedMail
) -> None:
    owner = Browser(await aiohttp_client(hub_server))
    org = (await owner.signup("owner@example.org", organization="Jazz Club"))["memberships"][0][
        "org"
    ]
    await owner.call(
        "orgs.invitations.create", org=org, email="door@example.org", role="door", locale="tr"
    )
    message = await received(mail_server, "door@example.org", "Jazz Club")
    assert message.language == "tr" and "kapı görevlisi" in message.text  # the role, in Turkish
    member = Browser(await aiohttp_client(hub_server))
    me = await member.call("auth.invitation.accept", token=token_in(message), password=PASSWORD)
    assert {m["org"]: m["role"] for m in me["memberships"]}[org] == "door"


async def test_a_reset_mail_is_received_and_its_link_sets_the_password(
    workers: Settings, hub_server: Any, aiohttp_client: Any, mail_server: EmbeddedMail
) -> None:
    owner = Browser(await aiohttp_client(hub_server))
    await owner.signup("forgetful@example.org")
    await owner.call("auth.reset.request", email="forgetful@example.org")
    message = await received(mail_server, "forgetful@example.org", "password")
    new = "a much longer passphrase now"
    await owner.call("auth.reset.confirm", token=token_in(message), password=new)
    fresh = Browser(await aiohttp_client(hub_server))
    me = await fresh.call("auth.signin", email="forgetful@example.org", password=new)
    assert me["account"]["email"] == "forgetful@example.org"
    refused = await fresh.error("auth.signin", email="forgetful@example.org", password=PASSWORD)
    assert refused[1]["code"] == "bad_credentials"
