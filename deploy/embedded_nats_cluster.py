"""`bilten up --nats-cluster N`: N embedded nats-server processes clustered on loopback.

Each node has its own client, monitoring and route ports and its own
JetStream store (`data_dir/nats-cluster/<name>`, `sync_interval: always` like
the single embedded server), and routes to every node. The nodes are children
of `bilten up` (deploy/supervisor.py), so one that dies is started again with
the same configuration and store, and rejoins. Clients get every node's URL,
comma-separated (infra/deps.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from bilten.deploy.embedded import EmbeddedServerError, free_port, nats_binary, nats_healthy
from bilten.deploy.embedded_common import log_tail
from bilten.deploy.supervisor import Child
from bilten.infra.settings import Settings

CLUSTER_NAME = "bilten"
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class NatsNode:
    """One node: its name, ports and files."""

    name: str
    port: int
    monitor_port: int
    route_port: int
    store: Path
    log: Path

    @property
    def url(self) -> str:
        """The client URL."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        """The monitoring endpoint (/healthz, /varz)."""
        return f"http://127.0.0.1:{self.monitor_port}"


def plan(data_dir: Path, size: int, hub_port: int) -> list[NatsNode]:
    """The nodes of a cluster of `size`, on free ports, with their directories made."""
    base = data_dir.absolute()
    (base / "logs").mkdir(parents=True, exist_ok=True)
    taken = {hub_port}  # free now, but the hubs' once they start

    def port() -> int:
        while (found := free_port()) in taken:
            pass
        taken.add(found)
        return found

    nodes = []
    for i in range(1, size + 1):
        store = base / "nats-cluster" / f"nats-{i}"
        store.mkdir(parents=True, exist_ok=True)
        log = base / "logs" / f"nats-{i}.log"
        nodes.append(NatsNode(f"nats-{i}", port(), port(), port(), store, log))
    return nodes


def config(node: NatsNode, nodes: list[NatsNode]) -> str:
    """The node's configuration file: JetStream syncing every write, routes to every node."""
    routes = ", ".join(json.dumps(f"nats-route://127.0.0.1:{n.route_port}") for n in nodes)
    return "\n".join(
        [
            "# Written by bilten.deploy.embedded_nats_cluster at every start; edits are lost.",
            f'server_name: "bilten-{node.name}"',
            f'listen: "127.0.0.1:{node.port}"',
            f'http: "127.0.0.1:{node.monitor_port}"',
            "jetstream {",
            f"  store_dir: {json.dumps(str(node.store))}",
            "  sync_interval: always",
            "}",
            "cluster {",
            f'  name: "{CLUSTER_NAME}"',
            f'  listen: "127.0.0.1:{node.route_port}"',
            f"  routes: [{routes}]",
            "}",
            "",
        ]
    )


def start(nodes: list[NatsNode], settings: Settings) -> list[Child]:
    """Start every node as a supervised child (configuration written first)."""
    binary = str(nats_binary())
    children = []
    for node in nodes:
        path = node.store / "nats-server.conf"
        path.write_text(config(node, nodes), encoding="utf-8")
        children.append(Child(node.name, [], settings, [binary, "-c", str(path)], node.log))
    return children


def wait_healthy(nodes: list[NatsNode], children: list[Child]) -> None:
    """Block until every node's /healthz (JetStream current in the cluster) answers 200."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    waiting = list(zip(nodes, children, strict=True))
    while True:
        for node, child in waiting:
            if child.exited() is not None:
                raise EmbeddedServerError(
                    node.name, f"exited with status {child.process.returncode}", log_tail(node.log)
                )
        waiting = [(n, c) for n, c in waiting if not nats_healthy(n.monitor_port)]
        if not waiting:
            return
        if time.monotonic() > deadline:
            node = waiting[0][0]
            raise EmbeddedServerError(
                node.name, f"not healthy after {READY_TIMEOUT_S:.0f}s", log_tail(node.log)
            )
        time.sleep(0.1)
