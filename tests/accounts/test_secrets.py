"""Secrets never reach the logs: passwords, session ids, link tokens, connection tokens.

The hub and the workers run in this process, so every record either writes
is captured, at DEBUG, and searched (message, arguments and context) for
each secret the flows handled.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bilten.infra.settings import Settings
from tests.accounts.helpers import PASSWORD, Browser, link_token, mail_to


async def test_no_secret_is_logged(
    workers: Settings, hub_server: Any, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    owner = Browser(await aiohttp_client(hub_server))
    org = (await owner.signup("owner@example.org"))["memberships"][0]["org"]
    secrets = [PASSWORD, owner.cookie, await owner.token(org)]

    await owner.call("orgs.invitations.create", org=org, email="new@example.org", role="viewer")
    invitation = link_token(await mail_to(workers, "new@example.org", "invitation"))
    member = Browser(await aiohttp_client(hub_server))
    other = "another long passphrase"
    await member.call("auth.invitation.accept", token=invitation, password=other)
    await member.error("auth.signin", email="new@example.org", password="a wrong guess here")
    await member.call("auth.reset.request", email="new@example.org")
    reset = link_token(await mail_to(workers, "new@example.org", "password_reset"))
    newest = "yet another passphrase"
    await member.call("auth.reset.confirm", token=reset, password=newest)
    await member.call("auth.signin", email="new@example.org", password=newest)
    secrets += [invitation, other, "a wrong guess here", reset, newest, member.cookie]

    assert all(secrets) and caplog.records
    logged = [(r.getMessage(), repr(r.args), repr(getattr(r, "ctx", None))) for r in caplog.records]
    for secret in secrets:
        assert isinstance(secret, str)
        leaks = [line for line in logged if any(secret in part for part in line)]
        assert not leaks, (secret[:4], leaks)
