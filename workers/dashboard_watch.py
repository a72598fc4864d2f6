"""Which events' dashboards a metrics worker keeps counting, remembered in-process too.

The shared record is a Redis sorted set (`RedisKeys.dashboards_watched`);
this copy lets a worker go on counting the events it knows of when Redis is
emptied, and holds its own once-a-second gate per event, so a lost Redis
gate does not set it counting more often.
"""

from __future__ import annotations

from bilten.protocol.dashboard import PUBLISH_INTERVAL_S

WATCH_S = 3600.0
"""An event with no news and no new subscriber for this long is no longer counted."""

RENOTE_S = 10.0
"""News of an event seen this recently is not written to Redis again: a storm of
scans costs a few writes a minute, not one per scan."""


class DashboardWatch:
    """Events with news or subscribers (by last time seen) and when each was last counted."""

    def __init__(self) -> None:
        self._seen: dict[int, float] = {}
        self._counted: dict[int, float] = {}

    def note(self, event_id: int, now: float) -> bool:
        """The event had news or a subscriber at `now` (epoch seconds); returns whether
        that is worth recording in Redis (not within `RENOTE_S` of the last time)."""
        last = self._seen.get(event_id)
        if last is not None and now - last < RENOTE_S:
            return False
        self._seen[event_id] = now
        return True

    def events(self, now: float) -> set[int]:
        """The events seen within `WATCH_S`; forgets the others."""
        for event_id in [e for e, at in self._seen.items() if at < now - WATCH_S]:
            del self._seen[event_id]
            self._counted.pop(event_id, None)
        return set(self._seen)

    def forget(self, event_id: int) -> None:
        """The event is gone (deleted): stop counting it."""
        self._seen.pop(event_id, None)
        self._counted.pop(event_id, None)

    def may_count(self, event_id: int, now: float) -> bool:
        """Whether the event was last counted here at least `PUBLISH_INTERVAL_S` ago."""
        return now - self._counted.get(event_id, float("-inf")) >= PUBLISH_INTERVAL_S

    def counted(self, event_id: int, now: float) -> None:
        """The event is being counted at `now`."""
        self._counted[event_id] = now

    def failed(self, event_id: int) -> None:
        """The event's count failed: it is due again at once."""
        self._counted.pop(event_id, None)
