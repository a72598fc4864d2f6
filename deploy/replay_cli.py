"""`bilten replay --event E [--from T]`: the command around infra/replay.py.

It declares the streams first (the replay stream may be new to an older
deployment), runs one replay and says what it published and where.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bilten.infra.bootstrap import declare_streams
from bilten.infra.deps import open_deps
from bilten.infra.replay import replay
from bilten.infra.settings import Settings, SettingsError


def parse_since(text: str | None) -> datetime | None:
    """The `--from` time: ISO 8601, UTC unless it names an offset."""
    if text is None:
        return None
    try:
        since = datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError("--from", f"{text!r} is not an ISO 8601 time") from None
    return since if since.tzinfo else since.replace(tzinfo=UTC)


async def main(settings: Settings, event_id: int, since: datetime | None) -> str:
    """Replay event `event_id`'s log; returns the line to print."""
    await declare_streams(settings)
    async with open_deps(settings, "replay", pg_max=2) as deps:
        done = await replay(deps, event_id, since)
        subject = deps.subjects.replay(done.run, ">")
    return f"replayed {done.count} domain events of event {event_id} as run {done.run} on {subject}"
