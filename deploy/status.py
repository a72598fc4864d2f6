"""`bilten status`: every process of the running `bilten up`, and JetStream's view of it.

Reads `up.json` in the data directory (deploy/up_state.py), then asks each
process on its own port: a hub's or worker's /readyz for its health and a
hub's /metrics for its open WebSocket connections; a NATS cluster node's
/healthz and /varz (clients). Restarts are as `bilten up` counted them. From
NATS it shows each stream's leader and replicas, and each durable consumer's
lag: messages not yet delivered (pending) and delivered but not acknowledged
(ack pending). The exit status is 0 when every process is ready, 1 otherwise.
"""

from __future__ import annotations

import asyncio

import aiohttp
import nats
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError
from prometheus_client.parser import text_string_to_metric_families

from bilten.deploy.up_state import ProcessState, StackState, read_state
from bilten.infra.settings import Settings
from bilten.infra.streams import StreamLimits, stream_configs
from bilten.protocol.subjects import Subjects

TIMEOUT_S = 2.0
NATS_DEADLINE_S = 5.0


async def _quiet(_error: Exception) -> None:
    """Connection errors are the answer (`unreachable`), not log lines."""


def _sample(metrics: str, name: str) -> str:
    """The value of a metric without labels, as text ("-" when absent)."""
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return f"{sample.value:g}"
    return "-"


async def _health(http: aiohttp.ClientSession, process: ProcessState) -> tuple[str, str]:
    """(health, connections): a NATS node's /healthz and client count, else /readyz and,
    on a hub, its open WebSocket connections."""
    nats_node = process.role == "nats"
    async with http.get(f"{process.url}/{'healthz' if nats_node else 'readyz'}") as resp:
        health = "ready" if resp.status == 200 else "not-ready"
    if nats_node:
        async with http.get(f"{process.url}/varz") as resp:
            return health, str((await resp.json())["connections"])
    if process.role != "hub":
        return health, "-"
    async with http.get(f"{process.url}/metrics") as resp:
        return health, _sample(await resp.text(), "bilten_ws_connections")


async def _process_row(http: aiohttp.ClientSession, process: ProcessState) -> list[str]:
    try:
        health, connections = await _health(http, process)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        health, connections = "down", "-"
    return [
        *(process.name, process.role, str(process.pid)),
        *(health, connections, str(process.restarts)),
    ]


async def _jetstream_rows(state: StackState) -> tuple[list[list[str]], list[list[str]]]:
    """(streams, consumers) rows; a stream not declared yet is left out."""
    nc = await asyncio.wait_for(
        nats.connect(
            state.nats_url.split(","),
            name="bilten-status",
            connect_timeout=TIMEOUT_S,
            allow_reconnect=False,
            error_cb=_quiet,
        ),
        # nats-py goes on trying the servers of a first connection: the deadline is ours.
        NATS_DEADLINE_S,
    )
    streams: list[list[str]] = []
    consumers: list[list[str]] = []
    try:
        js = nc.jsm()
        for config in stream_configs(Subjects(state.namespace), StreamLimits()):
            assert config.name
            try:
                info = await js.stream_info(config.name)
            except NotFoundError:
                continue
            leader = info.cluster.leader if info.cluster and info.cluster.leader else "-"
            streams.append(
                [config.name, leader, str(info.config.num_replicas), str(info.state.messages)]
            )
            for consumer in await js.consumers_info(config.name):
                consumers.append(
                    [
                        consumer.name,
                        config.name,
                        str(consumer.num_pending),
                        str(consumer.num_ack_pending),
                    ]
                )
    finally:
        await nc.close()
    return streams, consumers


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


async def main(settings: Settings) -> int:
    """Print the stack's status; the exit status says whether every process is ready."""
    state = read_state(settings.data_dir)
    if state is None:
        print(f"no `bilten up` is running on {settings.data_dir.absolute()}")
        return 1
    timeout = aiohttp.ClientTimeout(TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as http:
        rows = await asyncio.gather(*(_process_row(http, p) for p in state.processes))
    lines = [f"stack {state.hub} (bilten up, pid {state.pid})", ""]
    lines += _table(["process", "role", "pid", "health", "connections", "restarts"], rows)
    try:
        streams, consumers = await _jetstream_rows(state)
    except (NatsError, OSError, TimeoutError) as error:
        reason = str(error) or type(error).__name__
        lines += ["", f"nats {state.nats_url}: unreachable ({reason})"]
    else:
        lines += ["", *_table(["stream", "leader", "replicas", "messages"], streams)]
        lines += ["", *_table(["consumer", "stream", "pending", "ack_pending"], consumers)]
    print("\n".join(lines))
    return 0 if all(row[3] == "ready" for row in rows) else 1
