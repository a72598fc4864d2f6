"""Migrations against a real PostgreSQL: once, twice, and from two processes at once."""

from __future__ import annotations

import asyncio

import asyncpg

from bilten.infra.db import load_migrations, migrate, migrate_url
from bilten.infra.settings import Settings


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        return {row["tablename"] for row in rows}
    finally:
        await conn.close()


async def test_applies_to_empty_database_then_is_a_no_op(settings: Settings) -> None:
    assert settings.database_url
    versions = [m.version for m in load_migrations()]
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert await migrate_url(settings.database_url) == versions
    assert {"events", "schema_migrations", "outbox"} <= await _tables(settings.database_url)
    assert await migrate_url(settings.database_url) == []


async def test_concurrent_runs_apply_each_migration_once(settings: Settings) -> None:
    assert settings.database_url
    results = await asyncio.gather(*(migrate_url(settings.database_url) for _ in range(4)))
    applied = [v for result in results for v in result]
    assert sorted(applied) == [m.version for m in load_migrations()]
    conn = await asyncpg.connect(settings.database_url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await conn.close()
    assert count == len(load_migrations())


async def test_failed_migration_leaves_nothing_half_applied(settings: Settings) -> None:
    assert settings.database_url
    from bilten.infra.db import Migration

    broken = [
        *load_migrations(),
        Migration(9999, "broken", "CREATE TABLE half (id int); SELECT no_such_function();"),
    ]
    conn = await asyncpg.connect(settings.database_url)
    try:
        try:
            await migrate(conn, broken)
        except asyncpg.PostgresError:
            pass
        else:
            raise AssertionError("the broken migration should fail")
        assert "half" not in await _tables(settings.database_url)
        assert "events" not in await _tables(settings.database_url)
        assert await migrate(conn) == [m.version for m in load_migrations()]
    finally:
        await conn.close()
