"""One webhook attempt over HTTP(S): a guarded address, a bounded answer, no redirects.

docs/webhooks.md §Delivery. Every attempt checks its URL again (`parse_url`:
HTTPS unless plain HTTP is allowed, an IP literal must be public), and the
connector's resolver refuses a name that resolves to a loopback, private or
link-local address, so a DNS answer that changed since the webhook was
registered (rebinding) cannot turn an attempt against the platform's own
network. The answer is read up to a few KiB and never followed elsewhere.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from bilten.infra.settings import Settings
from bilten.protocol.errors import BadWebhookUrl
from bilten.protocol.webhooks import (
    MAX_RESPONSE_KEPT,
    MAX_RESPONSE_READ,
    UrlPolicy,
    parse_url,
    refused_address,
)

USER_AGENT = "Bilten-Webhooks/1"
MAX_ERROR = 500


class AddressRefused(Exception):
    """A webhook's host resolved to an address attempts may not reach.

    Not an OSError, so the HTTP client passes it through as it is."""


def url_policy(settings: Settings) -> UrlPolicy:
    """What the settings let webhook URLs reach."""
    return UrlPolicy(settings.webhook_allow_http, settings.webhook_allow_private)


class GuardedResolver(AbstractResolver):
    """The system resolver, refusing names that resolve to any non-public address."""

    def __init__(self, policy: UrlPolicy) -> None:
        self._inner = ThreadedResolver()
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of `host`, or `AddressRefused` if any of them is not public."""
        found = await self._inner.resolve(host, port, family)
        for result in found:
            if refused_address(result["host"], self._policy):
                raise AddressRefused(f"{host} resolves to the non-public address {result['host']}")
        return found

    async def close(self) -> None:
        """Release the inner resolver."""
        await self._inner.close()


async def resolves_to_refused(host: str, policy: UrlPolicy, timeout_s: float) -> str | None:
    """A non-public address `host` resolves to now, if any (None also when it does not
    resolve: the receiver may not exist yet, and every attempt checks again)."""
    try:
        async with asyncio.timeout(timeout_s):
            await GuardedResolver(policy).resolve(host, 0, socket.AF_UNSPEC)
    except AddressRefused as refused:
        return str(refused)
    except (OSError, TimeoutError):
        return None
    return None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to: a 2xx answer or not, and what is logged of it."""

    delivered: bool
    response_code: int | None
    response_body: str | None
    duration_ms: int
    error: str | None


@dataclass(frozen=True, slots=True)
class Sender:
    """The HTTP client of a worker's attempts (`open_sender`)."""

    session: aiohttp.ClientSession
    policy: UrlPolicy
    timeout_s: float

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        """POST `body` to `url` once; any failure becomes an `Outcome`, never an exception."""
        started = time.perf_counter()
        code: int | None = None
        text: str | None = None
        error: str | None = None
        try:
            parse_url(url, self.policy)  # settings or the URL may have changed since it was set
            async with self.session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                code = resp.status
                raw = await resp.content.read(MAX_RESPONSE_READ)
            text = raw[:MAX_RESPONSE_KEPT].decode(errors="replace") or None
        except BadWebhookUrl as refused:
            error = refused.message
        except AddressRefused as refused:
            error = str(refused)
        except TimeoutError:
            error = f"no answer within {self.timeout_s:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as failed:
            error = f"{type(failed).__name__}: {failed}"[:MAX_ERROR]
        duration_ms = round((time.perf_counter() - started) * 1000)
        delivered = code is not None and 200 <= code < 300
        if code is not None and not delivered:
            error = f"answered {code}" + (" (redirects are not followed)" if code < 400 else "")
        return Outcome(delivered, code, text, duration_ms, error)


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    """The system's trusted certificates, plus BILTEN_WEBHOOK_CA_FILE's."""
    context = ssl.create_default_context()
    if settings.webhook_ca_file is not None:
        context.load_verify_locations(cafile=settings.webhook_ca_file)
    return context


@asynccontextmanager
async def open_sender(settings: Settings) -> AsyncIterator[Sender]:
    """A `Sender` for `settings`, closed on exit."""
    policy = url_policy(settings)
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(policy),
        use_dns_cache=False,  # every connection resolves, and is checked, afresh
        limit=settings.webhook_concurrency,
        ssl=_ssl_context(settings),
    )
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=settings.webhook_timeout_s),
        headers={"User-Agent": USER_AGENT},
        auto_decompress=False,
    )
    try:
        yield Sender(session, policy, settings.webhook_timeout_s)
    finally:
        await session.close()
