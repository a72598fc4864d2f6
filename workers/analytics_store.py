"""Where analytics live: ClickHouse embedded in the analytics worker (chdb), or a server.

docs/insight.md §Analytics. Both run the same SQL text (workers/analytics_sql.py)
and answer rows as JSON objects (`FORMAT JSONEachRow`), so nothing above this
module knows which one it has.

- **Embedded** (the default): chdb, ClickHouse in the worker's own process,
  with its data in `<data dir>/analytics`. chdb is synchronous, so each
  statement runs in a thread of its own: one thread, so one statement at a
  time, even when the task that awaited one was cancelled. Its data
  directory belongs to one process: no other process (a hub, a second
  analytics worker) can open it while the worker runs, which is why stats are
  a command answered by the worker that owns the data.
- **Server** (`BILTEN_CLICKHOUSE_URL`): ClickHouse's HTTP interface through
  aiochclient (asyncio, on aiohttp); any number of analytics workers share it.

Both come with the `analytics` install extra (`pip install 'bilten[analytics]'`),
imported only when the worker opens its store: hubs and other workers never
load them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
import orjson

from bilten.infra.settings import Settings
from bilten.protocol.errors import Unavailable

EXTRA = "analytics"
MODULES = ("chdb", "aiochclient")  # what the extra installs, by import name
# The oldest server taken: the SQL needs DateTime64 and `mutations_sync` (an LTS release).
MIN_SERVER = (21, 8)


class ServerTooOld(Exception):
    """BILTEN_CLICKHOUSE_URL names a server older than MIN_SERVER: the worker stops."""


def check_server_version(version: str) -> None:
    """Refuse a server older than MIN_SERVER, naming both versions."""
    parts = version.split(".")
    try:
        found = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        raise ServerTooOld(f"ClickHouse server version {version!r} is not understood") from None
    if found < MIN_SERVER:
        raise ServerTooOld(
            f"ClickHouse server {version} is older than {MIN_SERVER[0]}.{MIN_SERVER[1]}, "
            "the oldest the analytics SQL runs on"
        )


class AnalyticsStore(Protocol):
    """A ClickHouse to run statements on."""

    async def run(self, sql: str) -> None:
        """Run a statement that answers no rows (DDL, INSERT, ALTER)."""

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        """Run a SELECT; its rows as objects by column name."""


class EmbeddedStore:
    """chdb in this process: one statement at a time, in the store's one thread."""

    def __init__(self, session: Any, thread: ThreadPoolExecutor) -> None:
        self._session = session
        self._thread = thread

    async def _query(self, sql: str, fmt: str) -> bytes:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._thread, self._session.query, sql, fmt)
        return bytes(result.bytes())

    async def run(self, sql: str) -> None:
        """Run a statement that answers no rows."""
        await self._query(sql, "CSV")

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        """Run a SELECT; its rows as objects."""
        data = await self._query(sql, "JSONEachRow")
        return [orjson.loads(line) for line in data.splitlines() if line]


class ServerStore:
    """A ClickHouse server over HTTP (aiochclient)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def run(self, sql: str) -> None:
        """Run a statement that answers no rows."""
        await self._client.execute(sql)

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        """Run a SELECT; its rows as objects (aiochclient appends FORMAT JSONEachRow)."""
        return [dict(row) for row in await self._client.fetch(sql, json=True)]


class StoreHolder:
    """The analytics worker's store, open while the worker runs (WorkerContext.analytics)."""

    def __init__(self) -> None:
        self._store: AnalyticsStore | None = None

    @property
    def store(self) -> AnalyticsStore:
        """The open store; `unavailable` before the worker opened it or after it closed."""
        if self._store is None:
            raise Unavailable("analytics store is not open")
        return self._store

    @asynccontextmanager
    async def opened(self, settings: Settings) -> AsyncIterator[AnalyticsStore]:
        """Open the store the settings name for as long as the block runs."""
        opener = server_store if settings.clickhouse_url else embedded_store
        async with opener(settings) as store:
            self._store = store
            try:
                yield store
            finally:
                self._store = None


def embedded_lock(settings: Settings) -> Path | None:
    """The lock file of the embedded store's directory, which one process alone may
    open; None with a ClickHouse server, which takes any number of workers."""
    return None if settings.clickhouse_url else Path(settings.data_dir) / "analytics.lock"


@asynccontextmanager
async def embedded_store(settings: Settings) -> AsyncIterator[AnalyticsStore]:
    """chdb with its data in `<data dir>/analytics`, closed on exit."""
    from chdb import session as chdb_session

    path = Path(settings.data_dir) / "analytics"
    path.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chdb")
    try:
        session = await loop.run_in_executor(thread, chdb_session.Session, str(path))
        try:
            yield EmbeddedStore(session, thread)
        finally:
            # After any statement still running: the thread takes one job at a time.
            await loop.run_in_executor(thread, session.close)
    finally:
        thread.shutdown(wait=False)


@asynccontextmanager
async def server_store(settings: Settings) -> AsyncIterator[AnalyticsStore]:
    """aiochclient on its own HTTP session; credentials from the URL, database `default`
    (the worker names its own database in every statement). A server older than
    MIN_SERVER is refused (ServerTooOld) before anything is written."""
    from aiochclient import ChClient

    assert settings.clickhouse_url
    parts = urlsplit(settings.clickhouse_url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    url = urlunsplit((parts.scheme, netloc, parts.path or "/", "", ""))
    timeout = aiohttp.ClientTimeout(total=max(30.0, settings.request_timeout_s))
    async with aiohttp.ClientSession(timeout=timeout) as http:
        client = ChClient(
            http,
            url=url,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )
        check_server_version(str(await client.fetchval("SELECT version()")))
        yield ServerStore(client)
