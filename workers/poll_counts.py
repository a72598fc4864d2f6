"""Live poll counters in Redis, exact because PostgreSQL can always rebuild them.

docs/engagement.md §Guarantees. The ballots in PostgreSQL are the truth; Redis
holds each poll's counters (protocol/poll_tally.increments) and the set of
ballot ids already in them, so adding the same ballot twice (a batch retried,
a rebuild racing a batch) counts it once. A counters hash without its `ok`
field was never built or was lost (Redis emptied, evicted): adding skips it
and the next read rebuilds it from the ballots. A worker killed between its
commit and its Redis call leaves counters short; `check` notices counters that
stay behind PostgreSQL's count from one pass to the next and rebuilds them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bilten.protocol.poll_tally import VOTERS, add_up, increments
from bilten.protocol.polls import PollSpec
from bilten.workers.context import WorkerContext

log = logging.getLogger(__name__)

BUILT = "ok"
PUBLISHED = "p"  # voters when last published
SUSPECT = "s"  # PostgreSQL's count when the counters were last seen behind it
FLOOR = "f"  # the last ballot id a reset deleted: ids up to it are never counted again
RECHECK_CLOSED_S = 300  # a poll closed this recently is still checked

# KEYS: counts, counted, changed. ARGV: member of `changed`, then per ballot its id, the
# number of counters and (counter, increment) pairs. Counters never built are left alone,
# and so are ballots a reset deleted (ids up to `f`: a batch counted late, after the reset).
_ADD = """
if redis.call('HEXISTS', KEYS[1], 'ok') == 1 then
  local floor = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
  local i = 2
  while i <= #ARGV do
    local n = tonumber(ARGV[i + 1])
    if tonumber(ARGV[i]) > floor and redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
      for j = 1, n do
        redis.call('HINCRBY', KEYS[1], ARGV[i + 2 * j], ARGV[i + 2 * j + 1])
      end
    end
    i = i + 2 + 2 * n
  end
end
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""
# KEYS: counts, counted. ARGV: the number of ballot ids, the ids, then counter/value pairs.
_BUILD = """
local floor = redis.call('HGET', KEYS[1], 'f')
redis.call('DEL', KEYS[1], KEYS[2])
local n = tonumber(ARGV[1])
for i = 2, n + 1 do redis.call('SADD', KEYS[2], ARGV[i]) end
redis.call('HSET', KEYS[1], 'ok', 1)
if floor then redis.call('HSET', KEYS[1], 'f', floor) end
for i = n + 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return n
"""
# KEYS: counts, counted. ARGV: a new floor (0: none). Drops the counters, keeps the floor.
_FORGET = """
local floor = math.max(tonumber(redis.call('HGET', KEYS[1], 'f') or '0'), tonumber(ARGV[1]))
redis.call('DEL', KEYS[1], KEYS[2])
if floor > 0 then redis.call('HSET', KEYS[1], 'f', floor) end
return floor
"""


def changed_member(event_id: int, poll_id: int) -> str:
    """The member of the changed set naming a poll (its event, to publish even once deleted)."""
    return f"{event_id}:{poll_id}"


async def add(
    ctx: WorkerContext,
    event_id: int,
    poll_id: int,
    spec: PollSpec,
    ballots: Sequence[tuple[int, Any]],
) -> None:
    """Count committed ballots `(id, choice)` of one poll, once each, and mark it changed."""
    keys = ctx.deps.keys
    args: list[Any] = [changed_member(event_id, poll_id)]
    for ballot_id, choice in ballots:
        fields = increments(spec, choice)
        args += [ballot_id, len(fields)]
        for field, by in fields:
            args += [field, by]
    await ctx.deps.redis.eval(
        _ADD, 3, keys.poll_counts(poll_id), keys.poll_counted(poll_id), keys.polls_changed(), *args
    )


async def mark_changed(ctx: WorkerContext, event_id: int, poll_id: int) -> None:
    """Have the polls feed publish the poll (workers/poll_feed.py)."""
    await ctx.deps.redis.sadd(ctx.deps.keys.polls_changed(), changed_member(event_id, poll_id))


async def forget(ctx: WorkerContext, poll_id: int, *, floor: int = 0) -> None:
    """Drop a poll's counters (wrong, or reset: then `floor` is the last ballot id the
    reset deleted, never to be counted again); the next read rebuilds them."""
    keys = ctx.deps.keys
    await ctx.deps.redis.eval(
        _FORGET, 2, keys.poll_counts(poll_id), keys.poll_counted(poll_id), floor
    )


async def drop(ctx: WorkerContext, poll_id: int) -> None:
    """Delete a deleted poll's counters, floor and all."""
    keys = ctx.deps.keys
    await ctx.deps.redis.delete(keys.poll_counts(poll_id), keys.poll_counted(poll_id))


async def counters(ctx: WorkerContext, specs: Mapping[int, PollSpec]) -> dict[int, dict[str, int]]:
    """The counters of each poll, rebuilt from PostgreSQL where Redis has none."""
    keys = ctx.deps.keys
    async with ctx.deps.redis.pipeline(transaction=False) as pipe:
        for poll_id in specs:
            pipe.hgetall(keys.poll_counts(poll_id))
        found = await pipe.execute()
    out: dict[int, dict[str, int]] = {}
    for (poll_id, spec), raw in zip(specs.items(), found, strict=True):
        got = _decode(raw)
        out[poll_id] = got if BUILT in got else await rebuild(ctx, poll_id, spec)
    return out


async def rebuild(ctx: WorkerContext, poll_id: int, spec: PollSpec) -> dict[str, int]:
    """Counters summed from the poll's ballots in PostgreSQL, stored in place of Redis's."""
    rows = await ctx.pg.fetch("SELECT id, choice FROM poll_ballots WHERE poll_id = $1", poll_id)
    built = add_up(spec, (r["choice"] for r in rows))
    keys = ctx.deps.keys
    pairs = [x for field, value in built.items() for x in (field, value)]
    await ctx.deps.redis.eval(
        _BUILD,
        2,
        keys.poll_counts(poll_id),
        keys.poll_counted(poll_id),
        len(rows),
        *(r["id"] for r in rows),
        *pairs,
    )
    log.info("poll %d counters rebuilt from %d ballots", poll_id, len(rows))
    return {BUILT: 1, **built}


async def published(ctx: WorkerContext, poll_id: int, voters: int) -> None:
    """Note the voters just published, so `check` can tell a publication was missed."""
    key = ctx.deps.keys.poll_counts(poll_id)
    async with ctx.deps.redis.pipeline(transaction=False) as pipe:
        pipe.hexists(key, BUILT)
        pipe.hset(key, PUBLISHED, voters)
        exists, _ = await pipe.execute()
    if not exists:  # emptied meanwhile: drop the stray field, the next read rebuilds
        await ctx.deps.redis.hdel(key, PUBLISHED)


async def check(ctx: WorkerContext) -> list[tuple[int, int]]:
    """Compare Redis with the ballots in PostgreSQL of every open (or lately closed) poll;
    returns the `(event_id, poll_id)` to publish again: counters lost, wrong (dropped, to
    be rebuilt), or not published yet.

    Redis is read first: a ballot it counts was committed before PostgreSQL is counted.
    Counters behind PostgreSQL may only be waiting for a batch's Redis call; behind what
    PostgreSQL counted on the previous pass (`s`), they lost ballots. Ahead of it (ballots
    reset meanwhile), they never heal by themselves either.
    """
    polls = await ctx.pg.fetch(
        f"""SELECT id, event_id FROM polls
            WHERE status = 'open' OR closed_at > now() - interval '{RECHECK_CLOSED_S} seconds'"""
    )
    keys = ctx.deps.keys
    async with ctx.deps.redis.pipeline(transaction=False) as pipe:
        for poll in polls:
            pipe.hmget(keys.poll_counts(poll["id"]), [BUILT, VOTERS, PUBLISHED, SUSPECT])
        found = await pipe.execute()
    counts: dict[int, int] = {
        r["poll_id"]: r["n"]
        for r in await ctx.pg.fetch(
            """SELECT poll_id, count(*) AS n FROM poll_ballots
               WHERE poll_id = ANY($1::bigint[]) GROUP BY poll_id""",
            [poll["id"] for poll in polls],
        )
    }
    again: list[tuple[int, int]] = []
    for poll, (built, voters, shown, suspect) in zip(polls, found, strict=True):
        poll_id, count = poll["id"], counts.get(poll["id"], 0)
        key = keys.poll_counts(poll_id)
        counted = int(voters or 0)
        if built is None:
            again.append((poll["event_id"], poll_id))
        elif counted > count or (suspect is not None and counted < int(suspect)):
            await forget(ctx, poll_id)
            again.append((poll["event_id"], poll_id))
        elif counted < count:
            await ctx.deps.redis.hset(key, SUSPECT, count)
        else:
            if suspect is not None:
                await ctx.deps.redis.hdel(key, SUSPECT)
            if int(shown or -1) != counted:
                again.append((poll["event_id"], poll_id))
    return again


def _decode(raw: Mapping[Any, Any]) -> dict[str, int]:
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): int(v)
        for k, v in raw.items()
        if (k.decode() if isinstance(k, bytes) else str(k)) not in (PUBLISHED, SUSPECT, FLOOR)
    }
