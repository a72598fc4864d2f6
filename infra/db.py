"""PostgreSQL: connection pools and the migration runner.

Migrations are plain SQL files in `infra/migrations/NNNN_name.sql`, applied in
order, each once, recorded in `schema_migrations`. All pending migrations run
in one transaction under a transaction-scoped advisory lock, so two processes
starting at once apply them exactly once and a failing file leaves nothing
half-applied.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import asyncpg
import orjson

log = logging.getLogger(__name__)

# Arbitrary constant: the advisory lock that serializes migrations.
MIGRATION_LOCK_ID = 0x62696C74656E  # "bilten"
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file: its version number, name and text."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The packaged migrations, sorted by version; duplicate versions are an error."""
    found: dict[int, Migration] = {}
    for entry in resources.files("bilten.infra.migrations").iterdir():
        match = _FILE_RE.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations with version {version}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(
            kind,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What the pool runs on a connection given back: nothing, on the server.

    asyncpg's default sends `RESET ALL; UNLISTEN *; CLOSE ALL; SELECT
    pg_advisory_unlock_all()` on every release, one more round trip per
    transaction (a tenth of a check-in worker's time at a busy door). Bilten
    leaves no session state behind: settings are transaction-local
    (`set_config(…, true)`), advisory locks are `pg_advisory_xact_lock`,
    cursors live inside transactions and nothing LISTENs. asyncpg still ends
    a transaction left open before this runs.
    """


async def create_pool(
    url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 10.0
) -> asyncpg.Pool:
    """A pool whose json/jsonb columns read and write Python values via orjson."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        timeout=timeout,
        command_timeout=timeout,
    )
    return pool


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply pending migrations in one transaction; returns the versions applied now."""
    todo = load_migrations() if migrations is None else migrations
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_ID)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        applied: list[int] = []
        for migration in todo:
            if migration.version in done:
                continue
            log.info("applying migration %04d_%s", migration.version, migration.name)
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
            applied.append(migration.version)
    return applied


async def migrate_url(url: str) -> list[int]:
    """Connect to `url`, apply pending migrations, disconnect."""
    conn: Any = await asyncpg.connect(url, timeout=10)
    try:
        return await migrate(conn)
    finally:
        await conn.close()
