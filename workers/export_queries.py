"""The SQL of each export: one page of rows after a cursor, in a stable order.

Each export reads its rows by keyset (`WHERE key > cursor ORDER BY key
LIMIT n`), so a page costs the same wherever it falls and no state is kept
between pages: any exports worker serves any page. Check-ins, orders and
tickets are keyed by their ids; poll results by (poll id, answer), the
answer being an option's or rating's zero-padded number or a word-cloud word.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from bilten.protocol.errors import BadRequest
from bilten.protocol.params import MAX_ID

_CHECKINS = """
SELECT s.id, s.ticket_id, t.holder, s.gate, s.direction, s.status, s.reason,
       s.scanned_at, s.decided_at, s.offline, s.device
FROM scans s LEFT JOIN tickets t ON t.id = s.ticket_id
WHERE s.event_id = $1 AND s.id > $2
ORDER BY s.id LIMIT $3"""

_ORDERS = """
SELECT id, owner_sub, email, cardinality(ticket_ids) AS tickets, ticket_ids,
       amount_minor, currency, created_at
FROM orders WHERE event_id = $1 AND id > $2
ORDER BY id LIMIT $3"""

_TICKETS = """
SELECT t.id, t.ticket_type_id, tt.name AS ticket_type, t.holder, t.owner_sub, t.state,
       tt.price_minor, tt.currency, t.created_at, t.revoked_at
FROM tickets t JOIN ticket_types tt ON tt.id = t.ticket_type_id
WHERE t.event_id = $1 AND t.id > $2
ORDER BY t.id LIMIT $3"""

# A ballot's points per answer are those of protocol/poll_tally.increments: one per
# option chosen, rating or word; a ranking's Borda points (n - 1 - place). Every
# option and rating is listed, chosen or not; words only as they were answered.
_POLLS = """
WITH polls_ AS (
    SELECT * FROM polls WHERE event_id = $1 AND id >= $2
), points AS (
    SELECT b.poll_id, p.kind, e.value #>> '{}' AS answer,
           CASE WHEN p.kind = 'ranking' THEN jsonb_array_length(b.choice) - e.ord
                ELSE 1 END AS points
    FROM poll_ballots b JOIN polls_ p ON p.id = b.poll_id
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(b.choice) = 'array' THEN b.choice
             ELSE jsonb_build_array(b.choice) END) WITH ORDINALITY AS e(value, ord)
), votes AS (
    SELECT poll_id,
           CASE WHEN kind = 'words' THEN answer ELSE lpad(answer, 10, '0') END AS key,
           sum(points) AS votes
    FROM points GROUP BY 1, 2
), answers AS (
    SELECT p.id AS poll_id, lpad(g::text, 10, '0') AS key,
           CASE WHEN p.kind = 'rating' THEN NULL ELSE g END AS option,
           CASE WHEN p.kind = 'rating' THEN g::text ELSE p.options ->> g END AS answer
    FROM polls_ p
    CROSS JOIN LATERAL generate_series(
        CASE WHEN p.kind = 'rating' THEN 1 ELSE 0 END,
        CASE WHEN p.kind = 'rating' THEN 5 WHEN p.kind = 'words' THEN -1
             ELSE jsonb_array_length(p.options) - 1 END) AS g
    UNION ALL
    SELECT v.poll_id, v.key, NULL, v.key
    FROM votes v JOIN polls_ p ON p.id = v.poll_id WHERE p.kind = 'words'
)
SELECT a.poll_id, p.session_id, p.question, p.kind, p.status, a.option, a.answer,
       coalesce(v.votes, 0) AS votes,
       (SELECT count(*) FROM poll_ballots b WHERE b.poll_id = a.poll_id) AS voters,
       a.key
FROM answers a JOIN polls_ p ON p.id = a.poll_id
LEFT JOIN votes v ON v.poll_id = a.poll_id AND v.key = a.key
WHERE (a.poll_id, a.key COLLATE "C") > ($2, $3 COLLATE "C")
ORDER BY a.poll_id, a.key COLLATE "C" LIMIT $4"""

_BY_ID = {"checkins": _CHECKINS, "orders": _ORDERS, "tickets": _TICKETS}


@dataclass(frozen=True, slots=True)
class Page:
    """Rows of one page, and the cursor of the next (None: this was the last)."""

    rows: list[asyncpg.Record]
    next: str | None


async def fetch_page(
    pool: asyncpg.Pool, name: str, event_id: int, after: str | None, limit: int
) -> Page:
    """Up to `limit` rows of export `name` after the cursor `after` (None: from the start)."""
    if name == "polls":
        poll_id, key = _poll_cursor(after)
        rows = await pool.fetch(_POLLS, event_id, poll_id, key, limit)
        last = f"{rows[-1]['poll_id']}:{rows[-1]['key']}" if rows else None
    else:
        rows = await pool.fetch(_BY_ID[name], event_id, _id_cursor(after), limit)
        last = str(rows[-1]["id"]) if rows else None
    return Page(rows, last if len(rows) == limit else None)


def _id_cursor(after: str | None) -> int:
    if after is None:
        return 0
    if not (after.isascii() and after.isdigit()) or int(after) > MAX_ID:
        raise BadRequest("after is not a cursor of this export", field="after")
    return int(after)


def _poll_cursor(after: str | None) -> tuple[int, str]:
    if after is None:
        return 0, ""
    poll, colon, key = after.partition(":")
    if not colon:
        raise BadRequest("after is not a cursor of this export", field="after")
    return _id_cursor(poll), key
