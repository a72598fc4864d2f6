"""`bilten replay` on real servers: an event's log, in order, onto the replay stream.

Nothing of it reaches the events stream, so nothing is logged twice.

Also the upgrade: rows the audit worker recorded in `domain_events` are the
event log's after migration 0015, and the new consumer's re-reading of the
stream does not log them again.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from bilten.deploy.replay_cli import parse_since
from bilten.infra.db import load_migrations, migrate
from bilten.infra.deps import Deps, open_deps
from bilten.infra.replay import END, replay
from bilten.infra.settings import Settings, settings_env
from bilten.infra.streams import StreamLimits, declare
from bilten.protocol.event_log import (
    HDR_REPLAY_COUNT,
    HDR_REPLAY_MSG_ID,
    HDR_REPLAY_RUN,
    HDR_REPLAY_SEQ,
)
from bilten.workers.persistence import insert_rows
from tests.deploy.test_cli import bilten
from tests.waiting import WAIT_S


async def log_events(deps: Deps, entries: list[tuple[str, int, datetime]]) -> None:
    """Rows as the persistence worker writes them: (kind, event id, when) at seq 1, 2, …"""
    async with deps.pg.acquire() as conn:
        await insert_rows(
            conn,
            (
                [deps.subjects.events_stream] * len(entries),
                list(range(1, len(entries) + 1)),
                [f"outbox:t:{n}" for n in range(len(entries))],
                [kind for kind, _, _ in entries],
                [event for _, event, _ in entries],
                [
                    orjson.dumps({"kind": kind, "event_id": event, "n": n}).decode()
                    for n, (kind, event, _) in enumerate(entries)
                ],
                [at for _, _, at in entries],
            ),
        )


async def replayed(deps: Deps, run: str) -> list[Any]:
    """Every message of replay run `run`, the closing one included."""
    sub = await deps.js.subscribe(deps.subjects.replay(run, ">"), ordered_consumer=True)
    try:
        msgs = []
        while not msgs or not msgs[-1].subject.endswith(f".{END}"):
            msgs.append(await sub.next_msg(timeout=WAIT_S))
        return msgs
    finally:
        await sub.unsubscribe()


async def test_replay_republishes_one_events_log_in_order(migrated: Settings) -> None:
    t0 = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    entries = [
        ("checkin.decided", 7, t0 + timedelta(seconds=2)),
        ("checkin.decided", 8, t0 + timedelta(seconds=1)),
        ("events.created", 7, t0),
        ("checkin.revised", 7, t0 + timedelta(seconds=3)),
    ]
    async with open_deps(migrated, "test") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        await log_events(deps, entries)
        events_before = (await deps.js.stream_info(deps.subjects.events_stream)).state.messages

        done = await replay(deps, 7)
        assert done.count == 3
        msgs = await replayed(deps, done.run)
        bodies = [orjson.loads(m.data) for m in msgs]
        # In the order they happened, as logged; event 8's entry is not among them.
        assert [(b["kind"], b.get("n")) for b in bodies] == [
            ("events.created", 2),
            ("checkin.decided", 0),
            ("checkin.revised", 3),
            (END, None),
        ]
        assert msgs[0].subject == deps.subjects.replay(done.run, "events.created")
        assert msgs[0].headers[HDR_REPLAY_RUN] == done.run
        assert msgs[0].headers[HDR_REPLAY_SEQ] == f"{deps.subjects.events_stream}:3"
        assert msgs[0].headers[HDR_REPLAY_MSG_ID] == "outbox:t:2"  # the original's id
        assert msgs[-1].headers[HDR_REPLAY_COUNT] == "3" and bodies[-1]["count"] == 3

        later = await replay(deps, 7, t0 + timedelta(seconds=2))
        assert later.count == 2 and later.run != done.run
        assert [orjson.loads(m.data).get("n") for m in await replayed(deps, later.run)] == [
            0,
            3,
            None,
        ]
        # Nothing went to the events stream: the event log cannot get a replayed entry twice.
        events_after = (await deps.js.stream_info(deps.subjects.events_stream)).state.messages
        assert events_after == events_before
        assert await deps.pg.fetchval("SELECT count(*) FROM event_log") == 4


async def test_replay_command(migrated: Settings) -> None:
    async with open_deps(migrated, "test") as deps:
        await declare(deps.js, deps.subjects, StreamLimits())
        now = datetime.now(UTC)
        await log_events(deps, [("events.created", 5, now), ("events.updated", 5, now)])
    env = {**os.environ, **settings_env(migrated)}
    ok = bilten("replay", "--event", "5", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "replayed 2 domain events of event 5 as run r" in ok.stdout
    bad = bilten("replay", "--event", "5", "--from", "yesterday", env=env)
    assert bad.returncode == 2
    assert "--from: 'yesterday' is not an ISO 8601 time" in bad.stderr


def test_from_is_utc_unless_it_says_otherwise() -> None:
    assert parse_since(None) is None
    assert parse_since("2026-12-01T18:00") == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    assert parse_since("2026-12-01T19:00+01:00") == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


async def test_audit_rows_become_the_event_log(settings: Settings) -> None:
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url)
    try:
        before = [m for m in load_migrations() if m.version < 15]
        await migrate(conn, before)
        await conn.execute(
            "INSERT INTO domain_events (stream, seq, kind, event_id, payload, occurred_at)"
            " VALUES ('S', 1, 'events.created', 4, '{\"kind\": \"events.created\"}', now())"
        )
        await migrate(conn)
        # The persistence consumer reads the stream from its start: seq 1 is known.
        now = datetime.now(UTC)
        await insert_rows(
            conn, (["S"], [1], ["outbox:x:9"], ["events.created"], [4], ["{}"], [now])
        )
        rows = await conn.fetch("SELECT seq, msg_id, event_id FROM event_log")
        assert [tuple(r) for r in rows] == [(1, None, 4)]
    finally:
        await conn.close()
