"""Reading and marking questions in PostgreSQL: the queries the qa worker's modules share.

docs/engagement.md §Q&A. A change that alters what the room sees marks the
session in `qa_dirty` in the same transaction, so the feed (workers/qa_feed.py)
publishes it once committed and never misses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import asyncpg

from bilten.protocol.errors import NotFound
from bilten.protocol.qa import MAX_LISTED, MAX_MODERATED, Question
from bilten.workers.context import Conn

COLUMNS = "id, session_id, text, asker, state, answered, pinned, votes, created_at"
ORDER = "pinned DESC, votes DESC, id"  # protocol/qa.order_key


@contextmanager
def gone_as_not_found(what: str) -> Iterator[None]:
    """Turn a foreign key violation (the event, session or question was deleted meanwhile)
    into NotFound naming `what`."""
    try:
        yield
    except asyncpg.ForeignKeyViolationError:
        raise NotFound(f"{what} is gone") from None


def question_of(row: asyncpg.Record) -> Question:
    """A `questions` row (COLUMNS) as the wire type."""
    return Question(
        row["id"],
        row["session_id"],
        row["text"],
        row["asker"],
        row["state"],
        row["answered"],
        row["pinned"],
        row["votes"],
        row["created_at"],
    )


async def check_session(conn: Conn | asyncpg.Pool, event_id: int, session_id: int) -> None:
    """Raise NotFound unless the session exists and belongs to the event."""
    found = await conn.fetchval(
        "SELECT 1 FROM event_sessions WHERE id = $1 AND event_id = $2", session_id, event_id
    )
    if found is None:
        raise NotFound(f"no session {session_id} in event {event_id}", session_id=session_id)


async def session_list(
    conn: Conn | asyncpg.Pool, session_id: int, *, everything: bool
) -> list[Question]:
    """The session's questions in list order: the visible ones, or with `everything`
    (organizers) pending and hidden ones too."""
    rows = await conn.fetch(
        f"""SELECT {COLUMNS} FROM questions
            WHERE session_id = $1 AND ($2 OR state = 'visible')
            ORDER BY {ORDER} LIMIT $3""",
        session_id,
        everything,
        MAX_MODERATED if everything else MAX_LISTED,
    )
    return [question_of(row) for row in rows]


async def mark_changed(conn: Conn, event_id: int, session_ids: Iterable[int]) -> None:
    """Have the feed publish these sessions' lists after this transaction commits.

    Sorted, so that transactions marking several sessions lock them in one order.
    """
    await conn.execute(
        """INSERT INTO qa_dirty (session_id, event_id)
           SELECT s, $1 FROM unnest($2::bigint[]) AS s ORDER BY s
           ON CONFLICT DO NOTHING""",
        event_id,
        sorted(set(session_ids)),
    )
