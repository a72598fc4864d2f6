"""Helpers for account tests: a browser-like client (cookie jar, Origin) and the mail outbox.

Each `Browser` is its own aiohttp client, so its own cookie jar: two of them
are two people (or two devices of one). Mail is read where the mail worker
would read it: the `mail.requested` domain events on the JetStream stream.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import asyncpg
import jsonschema_rs
import nats
import orjson

from bilten.hub.sessions import COOKIE
from bilten.infra.settings import Settings
from bilten.protocol.commands import COMMANDS, path_params
from bilten.protocol.subjects import Subjects
from tests.hub.test_openapi_results import _closed, _success
from tests.waiting import wait_for

PASSWORD = "correct horse battery staple"
DOC: dict[str, Any] = {}


class Browser:
    """Calls commands by name like a web page of the hub would: same origin, with cookies."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.origin = f"http://{client.server.host}:{client.server.port}"

    @property
    def cookie(self) -> str | None:
        """The session cookie the browser holds, if any."""
        for cookie in self.client.session.cookie_jar:
            if cookie.key == COOKIE:
                return str(cookie.value)
        return None

    async def raw(
        self, method: str, *, origin: str | None = "same", bearer: str | None = None, **params: Any
    ) -> tuple[int, Any, Any]:
        """Status, decoded body and response of one call."""
        command = COMMANDS[method]
        path = command.path
        for name in path_params(command):
            path = path.replace(f"{{{name}}}", str(params.pop(name)))
        headers = {}
        if origin is not None:
            headers["Origin"] = self.origin if origin == "same" else origin
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        body = command.http != "GET"
        resp = await self.client.request(
            command.http,
            path,
            json=params if body else None,
            params=None if body else {k: str(v) for k, v in params.items()},
            headers=headers,
        )
        return resp.status, await resp.json(), resp

    async def call(self, method: str, **params: Any) -> Any:
        """The result of a call that must succeed, checked against its declared result."""
        status, body, _ = await self.raw(method, **params)
        assert status < 300, (method, status, body)
        await check_result(self.client, method, body)
        return body

    async def error(self, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
        """The status and `error` object of a call that must fail."""
        status, body, _ = await self.raw(method, **params)
        assert status >= 400, (method, status, body)
        return status, body["error"]

    async def signup(self, email: str, organization: str = "Jazz Club") -> dict[str, Any]:
        """Sign up, owning a new organization; returns auth.me's answer."""
        me: dict[str, Any] = await self.call(
            "auth.signup", email=email, password=PASSWORD, organization=organization
        )
        return me

    async def token(self, org: str, **params: Any) -> str:
        """A connection token from the session."""
        answer = await self.call("auth.token", org=org, **params)
        return str(answer["token"])


async def check_result(client: Any, method: str, answer: Any) -> None:
    """Fail unless `answer` matches the result the served OpenAPI document declares."""
    if not DOC:
        DOC.update(await (await client.get("/api/v1/openapi.json")).json())
    schema = _success(DOC, method)[1]
    validator = jsonschema_rs.Draft202012Validator(
        _closed({**schema, "components": DOC["components"]})
    )
    problems = [e.message for e in validator.iter_errors(answer)]
    assert not problems, (method, problems, answer)


async def mails_to(settings: Settings, to: str, template: str) -> list[dict[str, Any]]:
    """Every `mail.requested` event on the stream for `to` with `template`, newest first,
    once every mail request committed so far is published (a command answers before its
    outbox rows reach the stream: docs/insight.md §Domain events)."""
    subjects = Subjects(settings.namespace)
    assert settings.nats_url and settings.database_url

    async def published() -> bool:
        conn = await asyncpg.connect(settings.database_url)
        try:
            left = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE subject_kind = 'mail.requested'"
            )
        finally:
            await conn.close()
        return bool(left == 0)

    await wait_for(published, what="the mail requests committed so far on the stream")
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(subjects.events_stream)
        found = []
        # An empty stream says first_seq 0, which is no message.
        for seq in range(info.state.last_seq, max(info.state.first_seq, 1) - 1, -1):
            msg = await js.get_msg(subjects.events_stream, seq)
            if msg.subject != subjects.events("mail.requested"):
                continue
            body: dict[str, Any] = orjson.loads(msg.data or b"{}")
            if body["to"] == to and body["template"] == template:
                found.append(body)
        return found
    finally:
        await nc.close()


async def mail_to(settings: Settings, to: str, template: str) -> dict[str, Any]:
    """The last `mail.requested` event for `to` with `template`, waited for on the stream."""

    async def last() -> dict[str, Any] | None:
        found = await mails_to(settings, to, template)
        return found[0] if found else None

    return await wait_for(last, what=f"a {template} mail to {to}")


def link_token(mail: dict[str, Any]) -> str:
    """The one-time token in a mail's link (`…#token=…`)."""
    fragment = urlsplit(mail["vars"]["link"]).fragment
    assert fragment.startswith("token="), mail
    return fragment.removeprefix("token=")
