"""The hourly sweep keeps settled deliveries 30 days, and pending ones however long."""

from __future__ import annotations

from bilten.infra.deps import open_deps
from bilten.infra.metrics import Metrics
from bilten.infra.settings import Settings
from bilten.workers.context import WorkerContext
from bilten.workers.webhook_delivery import KEEP_DAYS, sweep


async def test_sweep_deletes_old_settled_deliveries_and_their_attempts(
    migrated: Settings,
) -> None:
    async with open_deps(migrated, "test") as deps:
        ctx = WorkerContext(deps, Metrics())
        webhook = await deps.pg.fetchval(
            """INSERT INTO webhooks (org_id, url, kinds, secret)
                VALUES ('acme', 'https://hooks.invalid/', '{*}', 'whsec_x') RETURNING id"""
        )
        ids = {}
        for name, status, age_days in [
            ("old delivered", "delivered", KEEP_DAYS + 1),
            ("old failed", "failed", KEEP_DAYS + 1),
            ("old pending", "pending", KEEP_DAYS + 1),
            ("recent delivered", "delivered", KEEP_DAYS - 1),
        ]:
            ids[name] = await deps.pg.fetchval(
                """INSERT INTO webhook_deliveries (webhook_id, source, kind, body, status,
                        occurred_at, created_at)
                    VALUES ($1, $2, 'events.updated', '{}', $3, now(),
                        now() - make_interval(days => $4)) RETURNING id""",
                webhook,
                name,
                status,
                age_days,
            )
            await deps.pg.execute(
                """INSERT INTO webhook_attempts (delivery_id, webhook_id, attempt, outcome,
                        duration_ms) VALUES ($1, $2, 1, 'failed', 5)""",
                ids[name],
                webhook,
            )
        assert await sweep(ctx) == 2
        kept = await deps.pg.fetch("SELECT source FROM webhook_deliveries ORDER BY id")
        assert [r["source"] for r in kept] == ["old pending", "recent delivered"]
        attempts = await deps.pg.fetch("SELECT delivery_id FROM webhook_attempts ORDER BY id")
        assert [r["delivery_id"] for r in attempts] == [ids["old pending"], ids["recent delivered"]]
        assert await sweep(ctx) == 0
