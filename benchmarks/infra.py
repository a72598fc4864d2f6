"""The servers a benchmark runs against, isolated per run.

NATS, PostgreSQL and Redis come from `BILTEN_BENCH_NATS_URL`,
`BILTEN_BENCH_DATABASE_URL` and `BILTEN_BENCH_REDIS_URL`; any not given is
started embedded (`bilten.deploy.embedded.EmbeddedStack`) in the run's scratch
directory. Each run gets its own namespace (NATS subjects and streams, Redis
keys) and PostgreSQL schema, named `bench<hex>`, migrated like `bilten
migrate` and dropped again when the run ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from bilten.deploy.embedded import EmbeddedStack
from bilten.infra.bootstrap import drop_namespace, prepare
from bilten.infra.settings import Settings, load_settings
from bilten.protocol.tokens import encode_token, mint_claims

log = logging.getLogger(__name__)

ENV_PREFIX = "BILTEN_BENCH_"
SERVERS = ("nats", "database", "redis")


def with_search_path(url: str, schema: str) -> str:
    """The database URL with `search_path` set (asyncpg passes it as a server setting)."""
    parts = urlsplit(url)
    query = f"{parts.query}&search_path={schema}" if parts.query else f"search_path={schema}"
    return urlunsplit(parts._replace(query=query))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def token(
    secret: str, role: str, *, sub: str, org: str, events: tuple[int, ...] | str, ttl_s: int = 3600
) -> str:
    """A signed access token, as `bilten token` would print it."""
    claims = mint_claims(sub=sub, org=org, role=role, events=events, ttl_s=ttl_s, now=time.time())
    return str(encode_token(claims, secret))


@dataclass(slots=True)
class Infra:
    """Server URLs plus this run's namespace, schema and signing secret.

    Use as a context manager: entering starts missing servers and prepares the
    namespace; leaving drops it and stops the embedded servers.
    """

    scratch: Path
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    namespace: str = field(default_factory=lambda: "bench" + secrets.token_hex(4))
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    urls: dict[str, str] = field(default_factory=dict)
    embedded: list[str] = field(default_factory=list)
    _stack: EmbeddedStack | None = None

    def __enter__(self) -> Infra:
        try:
            self._start_servers()
            asyncio.run(self._prepare())
        except BaseException:
            self._stop_servers()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            asyncio.run(self._cleanup())
        except Exception as error:  # leftovers are harmless: names are unique per run
            log.warning("benchmark cleanup failed: %s", error)
        finally:
            self._stop_servers()

    @property
    def database_url(self) -> str:
        """The database URL confined to this run's schema."""
        return with_search_path(self.urls["database"], self.namespace)

    def settings(self, **overrides: object) -> Settings:
        """Hub/worker settings for this run; `overrides` are Settings fields."""
        return load_settings(
            {},
            nats_url=self.urls["nats"],
            database_url=self.database_url,
            redis_url=self.urls["redis"],
            secret=self.secret,
            namespace=self.namespace,
            data_dir=self.scratch,
            **overrides,
        )

    def _start_servers(self) -> None:
        for name in SERVERS:
            given = self.env.get(f"{ENV_PREFIX}{name.upper()}_URL")
            if given:
                self.urls[name] = given
        missing = [name for name in SERVERS if name not in self.urls]
        if not missing:
            return
        data_dir = self.scratch / "embedded"
        data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.scratch, 0o755)  # the embedded PostgreSQL may run as another user
        stack = EmbeddedStack(data_dir)
        self._stack = stack
        starters = {
            "nats": stack.start_nats,
            "database": stack.start_postgres,
            "redis": stack.start_redis,
        }
        for name in missing:
            self.urls[name] = starters[name]()
            self.embedded.append(name)

    def _stop_servers(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.stop()

    async def _prepare(self) -> None:
        admin = await asyncpg.connect(self.urls["database"], timeout=10)
        try:
            await admin.execute(f"CREATE SCHEMA {self.namespace}")
        finally:
            await admin.close()
        await prepare(self.settings())

    async def _cleanup(self) -> None:
        await drop_namespace(
            nats_url=self.urls["nats"],
            database_url=self.urls["database"],
            redis_url=self.urls["redis"],
            namespace=self.namespace,
        )


BENCH_EVENT = {
    "name": "Bilten benchmark",
    "starts_at": "2030-06-01T19:00:00+00:00",
    "ends_at": "2030-06-01T23:00:00+00:00",
    "timezone": "UTC",
    "locale": "en",
    "currency": "EUR",
}


async def call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None, *, timeout: float = 20.0
) -> Any:
    """One REST command; the decoded result.

    Worker processes may still be subscribing when the hub is ready: their
    503s (no worker serves it yet) are retried until `timeout`.
    """
    deadline = time.monotonic() + timeout
    while True:
        async with http.request(method, url, json=body) as resp:
            if resp.status in (200, 201):
                return await resp.json()
            if resp.status not in (503, 504) or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{method} {url} failed: {resp.status} {(await resp.text())[:300]}"
                )
        await asyncio.sleep(0.2)


async def create_event(http: aiohttp.ClientSession, base: str, timeout: float = 20.0) -> int:
    """Create the benchmark's event through REST (the session carries an organizer token)."""
    event = await call(http, "POST", f"{base}/api/v1/events", BENCH_EVENT, timeout=timeout)
    return int(event["id"])


async def issue_codes(
    http: aiohttp.ClientSession, event_url: str, ticket_type_id: int, count: int
) -> list[str]:
    """`count` tickets of the type issued through REST, 1,000 a call; their door codes."""
    codes: list[str] = []
    while len(codes) < count:
        body = {
            "ticket_type_id": ticket_type_id,
            "count": min(1000, count - len(codes)),
            "holder": "Bench Guest",
        }
        issued = await call(http, "POST", f"{event_url}/tickets", body)
        codes += [t["code"] for t in issued["tickets"]]
    return codes
