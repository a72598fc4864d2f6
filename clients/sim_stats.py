"""What a simulated day measures while it runs: counts, latencies, errors, per-second series.

The driver (clients/sim_driver.py) writes here, the live view
(clients/sim_view.py) and the report (clients/sim_report.py) read; one
event loop does all of it, so nothing is locked.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

Latency = Literal["verdict", "hold", "confirm", "vote", "ask", "upvote", "fanout"]
Series = Literal["sales", "scans", "votes", "deliveries"]
LATENCIES: tuple[Latency, ...] = ("verdict", "hold", "confirm", "vote", "ask", "upvote", "fanout")
SERIES: tuple[Series, ...] = ("sales", "scans", "votes", "deliveries")


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


@dataclass(slots=True)
class DayStats:
    """The running figures of one simulated day; `start()` when the day's clock starts."""

    started: float | None = None
    finished: float | None = None
    connections: int = 0
    peak_connections: int = 0
    sent: int = 0
    received: int = 0
    latencies_ms: dict[Latency, list[float]] = field(
        default_factory=lambda: {kind: [] for kind in LATENCIES}
    )
    errors: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    series: dict[Series, list[int]] = field(default_factory=lambda: {name: [] for name in SERIES})

    def start(self) -> None:
        """The day begins now: per-second series count from here."""
        self.started = time.monotonic()

    def finish(self) -> None:
        """The day's last step is done (settling the truths comes after)."""
        self.finished = time.monotonic()

    def elapsed(self) -> float:
        """Seconds since the day started (until it finished)."""
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    def connected(self) -> None:
        """A simulated client is connected."""
        self.connections += 1
        self.peak_connections = max(self.peak_connections, self.connections)

    def disconnected(self) -> None:
        """A simulated client is closed."""
        self.connections -= 1

    def answered(self, kind: Latency | None, started_ns: int) -> None:
        """A command sent at `started_ns` (perf_counter_ns) was answered now; its latency
        is kept as `kind` (None: not measured)."""
        self.sent += 1
        self.received += 1
        if kind is not None:
            self.latencies_ms[kind].append((time.perf_counter_ns() - started_ns) / 1e6)

    def delivered(self, latency_ms: float | None = None) -> None:
        """A publication reached a simulated client; with its fan-out latency if known."""
        self.received += 1
        self.tick("deliveries")
        if latency_ms is not None:
            self.latencies_ms["fanout"].append(latency_ms)

    def failed(self, code: str) -> None:
        """A command or connection failed with the error `code`."""
        self.sent += 1
        self.errors[code] += 1

    def tick(self, name: Series) -> None:
        """One more of `name` in the current second."""
        second = int(self.elapsed())
        bucket = self.series[name]
        if len(bucket) <= second:
            bucket.extend([0] * (second + 1 - len(bucket)))
        bucket[second] += 1

    def rate(self, name: Series) -> int:
        """`name` in the last whole second."""
        bucket = self.series[name]
        second = int(self.elapsed()) - 1
        return bucket[second] if 0 <= second < len(bucket) else 0

    def p(self, kind: Latency, fraction: float) -> float | None:
        """A latency percentile in ms, None before the first sample."""
        return percentile(self.latencies_ms[kind], fraction)

    def messages_per_s(self) -> float:
        """Frames sent and received by the simulated clients, per second of the day."""
        seconds = self.elapsed()
        return (self.sent + self.received) / seconds if seconds else 0.0
