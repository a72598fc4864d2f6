"""The engagement worker: sessions, polls, quizzes and their live results.

docs/engagement.md. Commands arrive through the worker's NATS queue group, so
any number of these share the load; ballots live in PostgreSQL and decide
everything exact (one per voter per poll), live counters in Redis, rebuilt
from the ballots when lost. Each worker also runs the polls feed tick (one at
a time publishes), the counters check, and answers `event.{id}.polls`
snapshot requests.

    sessions.*                                       workers/engagement_sessions.py
    polls.create / update / open / close / reveal /
    reset / delete / get / list / results / blocklist  workers/polls.py
    polls.vote (batched)                             workers/poll_votes.py
    counters, feed, leaderboard                      workers/poll_counts.py, poll_feed.py,
                                                     poll_leaderboard.py
    announcements told as domain events              workers/announcements.py
"""

from __future__ import annotations

from bilten.protocol.subjects import ANNOUNCEMENTS_CONSUMER
from bilten.workers import announcements, engagement_sessions, poll_feed, poll_votes, polls
from bilten.workers.batching import Batched
from bilten.workers.shape import BatchConsumer, Periodic, Worker

WORKER = Worker(
    "engagement",
    commands={
        "sessions.create": engagement_sessions.create,
        "sessions.list": engagement_sessions.list_sessions,
        "sessions.update": engagement_sessions.update,
        "sessions.delete": engagement_sessions.delete,
        "polls.create": polls.create,
        "polls.update": polls.update,
        "polls.list": polls.list_polls,
        "polls.get": polls.get,
        "polls.open": polls.open_poll,
        "polls.close": polls.close,
        "polls.reveal": polls.reveal,
        "polls.reset": polls.reset,
        "polls.delete": polls.delete,
        "polls.results": polls.results,
        "polls.blocklist": polls.blocklist,
        "polls.blocklist.set": polls.set_blocklist,
        "polls.vote": Batched(poll_votes.vote, lanes=poll_votes.LANES),
    },
    snapshots={"polls": poll_feed.snapshot},
    consumers=(BatchConsumer(ANNOUNCEMENTS_CONSUMER, announcements.tell, history=True),),
    periodic=(
        Periodic("polls feed", poll_feed.TICK_S, poll_feed.tick),
        Periodic("polls counters check", poll_feed.CHECK_S, poll_feed.check),
    ),
)
"""Sessions and polls; the polls feed, the counters check and the announcements'
domain events run alongside."""
