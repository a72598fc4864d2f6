"""Prometheus metrics, per process, in a registry owned by the app context.

No default global registry: each hub or worker builds its own `Metrics`, so
two apps in one test process never share counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.process_collector import ProcessCollector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(slots=True)
class Metrics:
    """Every figure a Bilten process exports."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    http_requests: Counter = field(init=False)
    http_latency: Histogram = field(init=False)
    ws_connections: Gauge = field(init=False)
    ws_connects: Counter = field(init=False)
    ws_disconnects: Counter = field(init=False)
    ws_frames_in: Counter = field(init=False)
    ws_messages_out: Counter = field(init=False)
    publications: Counter = field(init=False)
    channel_subscriptions: Gauge = field(init=False)
    worker_messages: Counter = field(init=False)
    worker_latency: Histogram = field(init=False)
    worker_queued: Gauge = field(init=False)
    worker_batch_size: Histogram = field(init=False)
    process_restarts: Counter = field(init=False)

    def __post_init__(self) -> None:
        r = self.registry
        ProcessCollector(registry=r)
        self.http_requests = Counter(
            "bilten_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "bilten_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.ws_connections = Gauge(
            "bilten_ws_connections", "Open WebSocket connections", registry=r
        )
        self.ws_connects = Counter(
            "bilten_ws_connects", "WebSocket connections accepted", registry=r
        )
        self.ws_disconnects = Counter(
            "bilten_ws_disconnects", "WebSocket connections closed", ["reason"], registry=r
        )
        self.ws_frames_in = Counter(
            "bilten_ws_frames_in", "Frames received from clients", registry=r
        )
        self.ws_messages_out = Counter(
            "bilten_ws_messages_out", "Messages written to clients", registry=r
        )
        self.publications = Counter(
            "bilten_publications", "Publications received from NATS for local channels", registry=r
        )
        self.channel_subscriptions = Gauge(
            "bilten_channel_subscriptions",
            "Channels with a NATS subscription on this hub",
            registry=r,
        )
        self.worker_messages = Counter(
            "bilten_worker_messages",
            "Messages handled by workers",
            ["worker", "outcome"],
            registry=r,
        )
        self.worker_latency = Histogram(
            "bilten_worker_handle_seconds",
            "Worker handling time",
            ["worker"],
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
        )
        self.worker_queued = Gauge(
            "bilten_worker_queued",
            "Requests received and waiting for their turn (workers/runner.py, workers/batching.py)",
            ["worker"],
            registry=r,
        )
        self.worker_batch_size = Histogram(
            "bilten_worker_batch_size",
            "Requests decided in one transaction by a batched command",
            ["worker"],
            registry=r,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
        )
        # Counted by `bilten up`, which restarts a crashed child (BILTEN_RESTART_COUNT).
        self.process_restarts = Counter(
            "bilten_process_restarts", "Times this process was restarted after a crash", registry=r
        )

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)
