"""Test harness: real NATS (JetStream), PostgreSQL and Redis for the session.

`BILTEN_TEST_NATS_URL`, `BILTEN_TEST_DATABASE_URL` and `BILTEN_TEST_REDIS_URL`
point the suite at running servers; any not given is started embedded, on a
free port, for the session. Each test gets its own PostgreSQL schema, NATS
subject/stream prefix and Redis key prefix (the `settings` fixture), so tests
run in any order and leave nothing behind.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from bilten.infra.bootstrap import drop_namespace
from bilten.infra.db import migrate_url
from bilten.infra.settings import Settings, load_settings


@dataclass(frozen=True, slots=True)
class ServerURLs:
    """Where the session's servers listen."""

    nats: str
    database: str
    redis: str


@pytest.fixture(scope="session")
def servers() -> Iterator[ServerURLs]:
    """The three servers: external ones from BILTEN_TEST_*_URL, else embedded."""
    given = {
        "nats": os.environ.get("BILTEN_TEST_NATS_URL"),
        "database": os.environ.get("BILTEN_TEST_DATABASE_URL"),
        "redis": os.environ.get("BILTEN_TEST_REDIS_URL"),
    }
    if all(given.values()):
        yield ServerURLs(**given)  # type: ignore[arg-type]
        return
    from bilten.deploy.embedded import EmbeddedStack

    with tempfile.TemporaryDirectory(prefix="bilten-test-") as tmp:
        os.chmod(tmp, 0o755)  # the embedded PostgreSQL may run as another user
        with EmbeddedStack(Path(tmp)) as stack:
            yield ServerURLs(
                nats=given["nats"] or stack.start_nats(),
                database=given["database"] or stack.start_postgres(),
                redis=given["redis"] or stack.start_redis(),
            )


@pytest.fixture(scope="session")
def secret() -> str:
    """The token signing key used by every test hub."""
    return secrets.token_urlsafe(32)


def with_search_path(url: str, schema: str) -> str:
    """The database URL with `search_path` set (asyncpg passes it as a server setting)."""
    parts = urlsplit(url)
    query = f"{parts.query}&search_path={schema}" if parts.query else f"search_path={schema}"
    return urlunsplit(parts._replace(query=query))


# The hub's and workers' budget for one command in tests: far beyond any healthy answer,
# so a busy machine slows tests down but never turns a slow reply into a `timeout` error.
REQUEST_TIMEOUT_S = 30.0
PING_INTERVAL_S = 3600.0


def pytest_configure(config: pytest.Config) -> None:
    """Register the `request_timeout` and `faults` markers (markers are strict)."""
    config.addinivalue_line(
        "markers",
        "request_timeout(seconds): a larger command budget for a test's hubs and"
        " workers, for work that grows (a 50,000-seat map)",
    )
    config.addinivalue_line(
        "markers",
        "faults: a process killed or a network cut under load; in the whole suite, and"
        " alone with `python3 dev.py test --faults`",
    )


@pytest.fixture
async def settings(
    servers: ServerURLs, secret: str, request: pytest.FixtureRequest
) -> AsyncIterator[Settings]:
    """Settings isolated for one test: own schema, subject prefix and key prefix."""
    budget = request.node.get_closest_marker("request_timeout")
    tag = "t" + secrets.token_hex(5)
    admin = await asyncpg.connect(servers.database)
    try:
        await admin.execute(f"CREATE SCHEMA {tag}")
        yield load_settings(
            {},
            nats_url=servers.nats,
            database_url=with_search_path(servers.database, tag),
            redis_url=servers.redis,
            secret=secret,
            namespace=tag,
            port=0,
            data_dir=Path(tempfile.gettempdir()) / tag,
            request_timeout_s=float(budget.args[0]) if budget else REQUEST_TIMEOUT_S,
            # A test's raw sockets sit unread while it works elsewhere, and aiohttp answers
            # pings only while reading: at the default 25 s a slow run would see them cut
            # with `ping_timeout`. The keepalive's own tests set short intervals.
            ping_interval_s=PING_INTERVAL_S,
        )
    finally:
        await admin.close()
        await drop_namespace(
            nats_url=servers.nats,
            database_url=servers.database,
            redis_url=servers.redis,
            namespace=tag,
        )


@pytest.fixture
async def migrated(settings: Settings) -> Settings:
    """`settings` with the schema migrated."""
    assert settings.database_url
    await migrate_url(settings.database_url)
    return settings


@pytest.fixture
async def workers(migrated: Settings) -> AsyncIterator[Settings]:
    """Every worker running in this process (as `bilten worker all` would) for one test."""
    import asyncio

    from bilten.workers.main import run_workers
    from bilten.workers.registry import WORKERS
    from tests.ready import workers_answer
    from tests.waiting import arrives

    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(run_workers(migrated, sorted(WORKERS), stop))
    await workers_answer(migrated, sorted(WORKERS), running=task)
    yield migrated
    stop.set()
    await arrives(task, what="the workers to stop")


@pytest.fixture
def make_token(secret: str) -> Callable[..., str]:
    """Factory: a signed token for a role, org and events."""
    import time

    from bilten.protocol.tokens import encode_token, mint_claims

    def make(
        role: str = "organizer",
        *,
        org: str = "acme",
        sub: str | None = None,
        events: Any = "*",
        gates: tuple[str, ...] | None = None,
        ttl_s: int = 600,
    ) -> str:
        claims = mint_claims(
            sub=sub or f"{role}-1",
            org=org,
            role=role,
            events=events,
            gates=gates,
            ttl_s=ttl_s,
            now=time.time(),
        )
        return encode_token(claims, secret)

    return make


@pytest.fixture
async def hub_server(workers: Settings, aiohttp_server: Any) -> Any:
    """A real hub on a free port (with workers running), as a pytest-aiohttp TestServer."""
    from bilten.hub.app import create_app

    return await aiohttp_server(create_app(workers))
