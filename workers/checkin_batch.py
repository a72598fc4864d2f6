"""checkin.scan in batches: the scans that queued while the last commit ran, decided in one.

At a busy door the commit is the cost of a scan (workers/batching.py), so
the runner hands this handler every scan that queued meanwhile and it decides
them in one transaction, with the same rule, rows and outcomes as deciding
each alone (`checkin_scan.apply_scan`), and the same rows and lock order
(`checkin_rows`):

- each request is parsed on its own; a bad one gets its own error;
- stored verdicts of all nonces are read in one query: a retried scan gets
  its stored verdict (or `conflict` for another code), and two requests of
  the batch with one nonce are decided once and share the verdict;
- one transaction locks the presence rows of all tickets in ticket id order
  (like every other transaction, so lanes and workers never deadlock),
  decides the scans in arrival order (of two entries of one ticket, the
  first is `ok` and the second `already_inside`), writes the presence rows,
  the inside counters (summed per row, in sorted order), the scans and the
  outbox rows in a few statements, and commits once;
- each verdict's `inside` is the count right after that scan, as if the
  scans had been decided one by one.

A batch of one is decided by `checkin_scan.apply_scan`: that is the baseline
(`BILTEN_BATCH_MAX=1`), and the path the runner takes when a batch raises,
e.g. on the unique nonce of a scan another worker decided meanwhile, whose
stored verdict it then answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bilten.protocol.checkin import (
    ScanRequest,
    ScanVerdict,
    Status,
    TicketState,
    decide,
    parse_scan,
)
from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BiltenError
from bilten.protocol.events import parse_event_id
from bilten.workers.checkin_rows import (
    PRESENCE_COLUMNS,
    CountKey,
    check_gate,
    check_nonce,
    count_deltas,
    events_of,
    identify,
    record,
    state_of,
    ticket_of,
)
from bilten.workers.checkin_scan import ScanOrigin, apply_scan
from bilten.workers.context import Conn, WorkerContext

_LOCK_TICKETS = (
    f"SELECT {PRESENCE_COLUMNS} WHERE p.ticket_id = ANY($1::bigint[])"
    " ORDER BY p.ticket_id FOR UPDATE OF p"
)
_STORED = (
    "SELECT s.event_id, s.nonce, s.verdict FROM scans s"
    " JOIN unnest($1::bigint[], $2::text[]) AS u (event_id, nonce)"
    " ON s.event_id = u.event_id AND s.nonce = u.nonce"
)
# The tickets' new states and the inside counters in one statement. Counter rows are
# locked in the order given (sorted), and a missing row can only gain: its proposed
# row is valid (GREATEST), and on conflict the row gains its delta, whatever its sign.
_STORE_STATES = """WITH presence AS (
        UPDATE ticket_presence p
           SET inside = u.inside, entries = u.entries, last_gate = u.last_gate, last_at = u.last_at
          FROM unnest($1::bigint[], $2::bool[], $3::int[], $4::text[], $5::timestamptz[])
               AS u (ticket_id, inside, entries, last_gate, last_at)
         WHERE p.ticket_id = u.ticket_id
    ), deltas (event_id, gate, shard, delta, k) AS (
        SELECT * FROM unnest($6::bigint[], $7::text[], $8::smallint[], $9::int[]) WITH ORDINALITY
    )
    INSERT INTO inside_counts (event_id, gate, shard, n)
    SELECT event_id, gate, shard, GREATEST(delta, 0) FROM deltas ORDER BY k
    ON CONFLICT (event_id, gate, shard) DO UPDATE SET n = inside_counts.n + (
        SELECT d.delta FROM deltas d WHERE (d.event_id, d.gate, d.shard)
            = (excluded.event_id, excluded.gate, excluded.shard))"""


@dataclass(frozen=True, slots=True)
class _Scan:
    """One request of the batch to decide: its position, the scan, and what its code names."""

    index: int
    event_id: int
    scan: ScanRequest
    nonce: str
    at: datetime
    allowed_gates: tuple[str, ...] | None
    ticket_id: int | None = None
    reason: str | None = None


async def scan_batch(requests: Sequence[CommandRequest], ctx: WorkerContext) -> list[Any]:
    """checkin.scan for many requests: one verdict (or error) each, in order."""
    if len(requests) == 1:
        return [await _scan_alone(requests[0], ctx)]
    outcomes: list[Any] = [None] * len(requests)
    parsed: list[_Scan] = []
    now = datetime.now(UTC)
    for index, request in enumerate(requests):
        try:
            event_id, scan = parse_event_id(request.params), _stamped(request)
        except BiltenError as error:
            outcomes[index] = error
            continue
        at = (scan.scanned_at or now).astimezone(UTC)
        nonce = scan.nonce or f"srv:{uuid.uuid4().hex}"
        parsed.append(_Scan(index, event_id, scan, nonce, at, request.claims.gates))
    stored = {
        (r["event_id"], r["nonce"]): ScanVerdict.from_wire(r["verdict"])
        for r in await ctx.pg.fetch(
            _STORED, [s.event_id for s in parsed], [s.nonce for s in parsed]
        )
    }
    fresh: dict[tuple[int, str], _Scan] = {}
    same: list[tuple[int, int]] = []  # (request, the earlier request with its nonce)
    for item in parsed:
        key = (item.event_id, item.nonce)
        known = stored.get(key)
        earlier = fresh.get(key)
        try:
            if known is not None:
                check_nonce(known.code, item.scan.code)
                outcomes[item.index] = known.to_wire()
            elif earlier is not None:
                check_nonce(earlier.scan.code, item.scan.code)
                same.append((item.index, earlier.index))
            else:
                ticket_id, reason = await identify(ctx.keys, ctx.pg, item.event_id, item.scan.code)
                fresh[key] = replace(item, ticket_id=ticket_id, reason=reason)
        except BiltenError as error:
            outcomes[item.index] = error
    if fresh:
        async with ctx.pg.acquire() as conn, conn.transaction():
            decided = await _decide(conn, list(fresh.values()))
            ids = await record(conn, [v for v in decided.values() if isinstance(v, ScanVerdict)])
        ctx.publisher.submit(ids)
        for index, outcome in decided.items():
            outcomes[index] = outcome.to_wire() if isinstance(outcome, ScanVerdict) else outcome
    for index, earlier_index in same:
        outcomes[index] = outcomes[earlier_index]
    for request, outcome in zip(requests, outcomes, strict=True):
        if not isinstance(outcome, BiltenError):  # a door device's scans made (device_usage.py)
            ctx.devices.count(request.claims, 1)
    return outcomes


def _stamped(request: CommandRequest) -> ScanRequest:
    """The scan asked for; at the hub's clock when it came, if its caller gave no time."""
    scan = parse_scan(request.params)
    if scan.scanned_at is None and request.sent_at is not None:
        return replace(scan, scanned_at=datetime.fromtimestamp(request.sent_at, UTC))
    return scan


async def _scan_alone(request: CommandRequest, ctx: WorkerContext) -> Any:
    """One scan, one transaction: the path of a batch of one."""
    try:
        event_id, scan = parse_event_id(request.params), _stamped(request)
        pending: list[int] = []
        verdict = await apply_scan(ctx, event_id, scan, ScanOrigin(request.claims.gates), pending)
    except BiltenError as error:
        return error
    ctx.publisher.submit(pending)
    ctx.devices.count(request.claims, 1)
    return verdict.to_wire()


async def _decide(conn: Conn, scans: list[_Scan]) -> dict[int, ScanVerdict | BiltenError]:
    """Decide `scans` in order under their tickets' row locks; update presence and counters.

    Answers by request index: the verdict (to record), or the error of a
    scan at an unknown event or gate (recorded nowhere, as when alone).
    """
    ticket_ids = sorted({s.ticket_id for s in scans if s.ticket_id})
    rows = {r["id"]: r for r in await conn.fetch(_LOCK_TICKETS, ticket_ids)}
    # Read once the tickets are ours: what committed before counts in `inside`.
    events = await events_of(conn, sorted({s.event_id for s in scans}))
    decided: dict[int, ScanVerdict | BiltenError] = {}
    rules: dict[int, bool] = {}  # by request index: may tickets come back in
    for item in scans:
        try:
            rules[item.index] = check_gate(events, item.event_id, item.scan.gate)
        except BiltenError as error:
            decided[item.index] = error
    before = {ticket_id: state_of(row) for ticket_id, row in rows.items()}
    states = dict(before)
    moves: list[tuple[_Scan, ScanVerdict, int]] = []  # verdict without `inside` yet, and its ±1
    for item in scans:
        if item.index not in rules:
            continue
        row = rows.get(item.ticket_id) if item.ticket_id else None
        if row is not None and row["event_id"] != item.event_id:
            row = None
        status: Status = "rejected"
        reason, previous, ticket, moved = item.reason, None, None, 0
        if item.ticket_id is not None and row is None:
            reason = "unknown"
        if row is not None:
            state = states[row["id"]]
            decision = decide(
                state,
                item.scan.direction,
                item.scan.gate,
                item.at,
                allowed_gates=item.allowed_gates,
                allow_reentry=rules[item.index],
            )
            status, reason, previous = decision.status, decision.reason, decision.previous
            ticket = ticket_of(row)
            states[row["id"]] = decision.state
            moved = int(decision.state.inside) - int(state.inside)
        verdict = ScanVerdict(
            status,
            reason,
            ticket,
            previous,
            item.scan.gate,
            item.scan.direction,
            item.at,
            item.nonce,
            item.scan.code,
            item.event_id,
            False,
            None,
            0,
        )
        moves.append((item, verdict, moved))
    await _store_states(conn, rows, before, states)
    running = {event_id: event["inside"] for event_id, event in events.items()}
    for item, verdict, moved in moves:  # the count right after each
        running[item.event_id] += moved
        decided[item.index] = replace(verdict, inside=running[item.event_id])
    return dict(sorted(decided.items()))


async def _store_states(
    conn: Conn,
    rows: dict[int, asyncpg.Record],
    before: dict[int, TicketState],
    after: dict[int, TicketState],
) -> None:
    """Write the tickets that moved, and the inside counters summed per row."""
    changed = [ticket_id for ticket_id, state in after.items() if state != before[ticket_id]]
    if not changed:
        return
    news = [after[ticket_id] for ticket_id in changed]
    deltas: dict[CountKey, int] = {}
    for ticket_id in changed:
        event_id = rows[ticket_id]["event_id"]
        for key, delta in count_deltas(
            event_id, ticket_id, before[ticket_id], after[ticket_id]
        ).items():
            deltas[key] = deltas.get(key, 0) + delta
    counts = [(*key, delta) for key, delta in sorted(deltas.items()) if delta]
    await conn.execute(
        _STORE_STATES,
        changed,
        [s.inside for s in news],
        [s.entries for s in news],
        [s.last_gate for s in news],
        [s.last_at for s in news],
        *([c[n] for c in counts] for n in range(4)),
    )
