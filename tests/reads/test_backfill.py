"""Migration 0005: tickets issued before issuing took from the quota are counted."""

from __future__ import annotations

import asyncpg

from bilten.infra.db import load_migrations, migrate
from bilten.infra.settings import Settings


async def test_directly_issued_tickets_become_sold(settings: Settings) -> None:
    assert settings.database_url
    before = [m for m in load_migrations() if m.version < 5]
    conn = await asyncpg.connect(settings.database_url)
    try:
        await migrate(conn, before)
        event = await conn.fetchval(
            """INSERT INTO events (org_id, name, starts_at, ends_at, timezone, locale, currency)
               VALUES ('acme', 'Old', now(), now() + interval '1 hour', 'UTC', 'en', 'EUR')
               RETURNING id"""
        )
        types = {}
        for name, quota in (("fits", 5), ("oversold", 2), ("unlimited", None), ("unsold", 3)):
            types[name] = await conn.fetchval(
                "INSERT INTO ticket_types (event_id, name, price_minor, currency, quota)"
                " VALUES ($1, $2, 100, 'EUR', $3) RETURNING id",
                event,
                name,
                quota,
            )
        # "oversold": 2 confirmed through holds (counted) plus 2 issued directly (not).
        await conn.execute(
            "INSERT INTO ga_counters (ticket_type_id, event_id, quota, sold) VALUES ($1, $2, 2, 2)",
            types["oversold"],
            event,
        )
        for name, count in (("fits", 3), ("oversold", 4), ("unlimited", 2)):
            await conn.execute(
                "INSERT INTO tickets (event_id, ticket_type_id, holder)"
                " SELECT $1, $2, 'Old Holder' FROM generate_series(1, $3)",
                event,
                types[name],
                count,
            )
        assert await migrate(conn) == [m.version for m in load_migrations() if m.version >= 5]
        counters = {
            r["ticket_type_id"]: (r["quota"], r["held"], r["sold"])
            for r in await conn.fetch("SELECT * FROM ga_counters")
        }
        assert counters == {
            types["fits"]: (5, 0, 3),
            types["oversold"]: (4, 0, 4),
            types["unlimited"]: (None, 0, 2),
        }
        assert (
            await conn.fetchval("SELECT quota FROM ticket_types WHERE id = $1", types["oversold"])
            == 4
        )
    finally:
        await conn.close()
