"""reactions.send and `event.{id}.reactions`: counts per session per 250 ms window.

docs/engagement.md §Reactions. Ephemeral: nothing is stored in PostgreSQL.
Every reaction is counted in Redis, in the hash of its session's current
window, by one script that reads the window from Redis's own clock: all
workers, behind all hubs, count into the same hashes, and a window is closed
for everyone at the same instant. Every FLUSH_S each worker runs a script
that takes (reads and deletes, atomically) the hashes of windows Redis's
clock has left behind, and publishes what it took: each window is published
once, by whichever worker took it, with exact counts. A worker that dies
between taking and publishing loses that window's counts (a quarter of a
second of applause, never a stored vote).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from bilten.protocol.commands import CommandRequest
from bilten.protocol.events import parse_event_id
from bilten.protocol.params import MAX_ID, parse_int
from bilten.protocol.qa import REACTION_LIMIT, WINDOW_MS, check_reaction, encode_reactions
from bilten.workers import qa_limits
from bilten.workers.context import WorkerContext
from bilten.workers.qa_store import check_session

FLUSH_S = WINDOW_MS / 1000
_KEEP_S = 60  # a window nobody flushed (no worker running) expires by itself

# KEYS[1] the open windows (sorted set), ARGV: key prefix, emoji, window ms, keep s.
# The window's hash is named inside the script, from Redis's clock, so it cannot be
# declared in KEYS: fine on one Redis (what Bilten runs), not on Redis Cluster.
_COUNT = """
local now = redis.call('TIME')
local window = math.floor((now[1] * 1000 + math.floor(now[2] / 1000)) / tonumber(ARGV[3]))
local key = ARGV[1] .. window
redis.call('HINCRBY', key, ARGV[2], 1)
redis.call('EXPIRE', key, tonumber(ARGV[4]))
redis.call('ZADD', KEYS[1], window, key)
return window
"""
# KEYS[1] the open windows; ARGV[1] window ms. Returns key, counts, key, counts, … of
# every window before the current one, deleted as they are read.
_TAKE = """
local now = redis.call('TIME')
local current = math.floor((now[1] * 1000 + math.floor(now[2] / 1000)) / tonumber(ARGV[1]))
local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', current - 1)
local out = {}
for _, key in ipairs(keys) do
    redis.call('ZREM', KEYS[1], key)
    out[#out + 1] = key
    out[#out + 1] = redis.call('HGETALL', key)
    redis.call('DEL', key)
end
return out
"""


def reactions_channel(event_id: int) -> str:
    """`event.{event_id}.reactions`."""
    return f"event.{event_id}.reactions"


async def send(request: CommandRequest, ctx: WorkerContext) -> dict[str, Any]:
    """reactions.send: count one reaction in its session's current window."""
    event_id = parse_event_id(request.params)
    session_id = parse_int(request.params, "session_id", 1, MAX_ID)
    emoji = check_reaction(request.params.get("emoji"))
    await check_session(ctx.pg, event_id, session_id)
    keys, redis = ctx.deps.keys, ctx.deps.redis
    sent = keys.reactions_sent(event_id, request.claims.sub)
    await qa_limits.spend(redis, sent, REACTION_LIMIT, "reactions")
    window = await redis.eval(
        _COUNT,
        1,
        keys.reaction_windows(),
        keys.reaction_window(event_id, session_id),
        emoji,
        WINDOW_MS,
        _KEEP_S,
    )
    return {"session_id": session_id, "emoji": emoji, "window": int(window)}


async def flush(ctx: WorkerContext) -> int:
    """Publish the counts of every closed window; returns how many were published."""
    keys = ctx.deps.keys
    taken = await ctx.deps.redis.eval(_TAKE, 1, keys.reaction_windows(), WINDOW_MS)
    publications = []
    for key, flat in zip(taken[::2], taken[1::2], strict=True):
        event_id, session_id, window = (int(part) for part in _text(key).rsplit(":", 3)[1:])
        counts = {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        data = orjson.dumps(encode_reactions(session_id, window, counts))
        publications.append(ctx.channels.publish(reactions_channel(event_id), data))
    # All at once (a channel's go out in this order): one that fails loses only its window.
    outcomes = await asyncio.gather(*publications, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return len(outcomes)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
