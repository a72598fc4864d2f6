"""The check-in worker: door scans decided online and synced from offline devices.

Online scans (`checkin.scan`) are decided in batches, many in one PostgreSQL
transaction (`checkin_batch`), or one at a time with `BILTEN_BATCH_MAX=1`
(`checkin_scan.apply_scan`); either way exactly one of any number of
concurrent entry scans of a ticket gets `ok`, a retried nonce gets its stored
verdict, and every verdict is published through the outbox.

Scans that offline devices decided arrive later through `checkin.sync`
(docs/checkin.md §Sync & conflicts): they are applied in `scanned_at` order,
one transaction each, and a movement the device let through is merged into
the ticket's history (`checkin_offline.replay`), so the first admission by
time stands even when it syncs last; the scans whose verdict that changes are
re-marked and their new verdicts published (`checkin.revised`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bilten.protocol.checkin import GATE, ScanVerdict
from bilten.protocol.commands import CommandRequest
from bilten.protocol.errors import BadRequest
from bilten.protocol.events import parse_event_id
from bilten.protocol.offline import parse_sync
from bilten.protocol.params import MAX_ID, parse_int
from bilten.workers.batching import Batched
from bilten.workers.checkin_batch import scan_batch
from bilten.workers.checkin_offline import bundle
from bilten.workers.checkin_rows import check_nonce
from bilten.workers.checkin_scan import ScanOrigin, apply_scan
from bilten.workers.context import WorkerContext
from bilten.workers.runner import CommandHandler


async def sync(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """checkin.sync: scans an offline device decided, applied in `scanned_at` order.

    Idempotent by nonce: a resubmitted scan is not applied again. Answers the
    stored verdict of every scan, in the order submitted.
    """
    event_id = parse_event_id(request.params)
    upload = parse_sync(request.params, now=datetime.now(UTC))
    gates = await ctx.pg.fetchval(
        "SELECT ARRAY(SELECT name FROM gates WHERE event_id = $1)", event_id
    )
    nonces = [s.nonce for s in upload.scans]
    known = {
        r["nonce"]: r["verdict"]["code"]
        for r in await ctx.pg.fetch(
            "SELECT nonce, verdict FROM scans WHERE event_id = $1 AND nonce = ANY($2::text[])",
            event_id,
            nonces,
        )
    }
    for n, item in enumerate(upload.scans):  # refuse before applying anything
        if item.gate not in gates:
            raise BadRequest(f"no gate {item.gate!r} at this event", field=f"scans[{n}].gate")
        check_nonce(known.get(item.nonce, item.code), item.code, field=f"scans[{n}].nonce")
    pending: list[int] = []  # if we fail midway, the outbox relay publishes these
    for _position, item in upload.in_time_order():
        origin = ScanOrigin(request.claims.gates, upload.device, device_ok=item.verdict == "ok")
        await apply_scan(ctx, event_id, item.request(), origin, pending)
    ctx.publisher.submit(pending)
    ctx.devices.count(request.claims, len(set(nonces) - known.keys()))
    stored = {
        r["nonce"]: ScanVerdict.from_wire(r["verdict"]).to_wire()
        for r in await ctx.pg.fetch(
            "SELECT nonce, verdict FROM scans WHERE event_id = $1 AND nonce = ANY($2::text[])",
            event_id,
            nonces,
        )
    }
    inside = await ctx.pg.fetchval(
        "SELECT COALESCE(sum(n), 0) FROM inside_counts WHERE event_id = $1", event_id
    )
    return {
        "event_id": event_id,
        "device": upload.device,
        "results": [stored[nonce] for nonce in nonces],
        "inside": inside,
    }


async def list_scans(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """checkin.list: decided scans, newest last; `conflicts=1` for conflicts only."""
    params = request.params
    event_id = parse_event_id(params)
    conflicts = str(params.get("conflicts", "0")).lower() in ("1", "true")
    after = parse_int(params, "after", 0, MAX_ID, default=0)
    rows = await ctx.pg.fetch(
        "SELECT id, verdict FROM scans WHERE event_id = $1 AND id > $2"
        " AND ($3::bool IS FALSE OR status = 'conflict') ORDER BY id LIMIT 500",
        event_id,
        after,
        conflicts,
    )
    counts = await ctx.pg.fetch(
        "SELECT gate, sum(n)::int AS n FROM inside_counts WHERE event_id = $1"
        " GROUP BY gate ORDER BY gate",
        event_id,
    )
    return {
        "scans": [
            {"id": row["id"], **ScanVerdict.from_wire(row["verdict"]).to_wire()} for row in rows
        ],
        "inside": sum(r["n"] for r in counts),
        "inside_by_gate": {r["gate"]: r["n"] for r in counts},
        "next": rows[-1]["id"] if len(rows) == 500 else None,
    }


async def list_inside(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """checkin.inside: who is inside now (holder, type, gate of entry, since), by ticket id.

    `gate` narrows it to those who came in through one gate; `inside` is the
    event's total, as in checkin.list.
    """
    params = request.params
    event_id = parse_event_id(params)
    limit = parse_int(params, "limit", 1, 500, default=100)
    after = parse_int(params, "after", 0, MAX_ID, default=0)
    gate = params.get("gate")
    if gate is not None and (not isinstance(gate, str) or not GATE.match(gate)):
        raise BadRequest("gate must be a gate name of [A-Za-z0-9_-]", field="gate")
    rows = await ctx.pg.fetch(
        """SELECT t.id, t.holder, tt.name AS type_name, p.last_gate, p.last_at
           FROM tickets t JOIN ticket_presence p ON p.ticket_id = t.id
           JOIN ticket_types tt ON tt.id = t.ticket_type_id
           WHERE t.event_id = $1 AND t.id > $2 AND p.inside
             AND ($4::text IS NULL OR p.last_gate = $4)
           ORDER BY t.id LIMIT $3""",
        event_id,
        after,
        limit,
        gate,
    )
    inside = await ctx.pg.fetchval(
        "SELECT COALESCE(sum(n), 0) FROM inside_counts WHERE event_id = $1", event_id
    )
    return {
        "event_id": event_id,
        "inside": inside,
        "people": [
            {
                "ticket_id": r["id"],
                "holder": r["holder"],
                "type": r["type_name"],
                "gate": r["last_gate"],
                "since": r["last_at"].isoformat(),
            }
            for r in rows
        ],
        "next": rows[-1]["id"] if len(rows) == limit else None,
    }


HANDLERS: dict[str, CommandHandler | Batched] = {
    "checkin.scan": Batched(scan_batch),
    "checkin.list": list_scans,
    "checkin.sync": sync,
    "checkin.bundle": bundle,
    "checkin.inside": list_inside,
}
"""The check-in worker's command handlers."""
