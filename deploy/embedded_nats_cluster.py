"""`bilten up --nats-cluster N`: N embedded nats-server processes clustered on loopback.

Each node has its own client, monitoring and route ports and its own
JetStream store (`data_dir/nats-cluster/<name>`, `sync_interval: always` like
the single embedded server), and routes to every node. The nodes are children
of `bilten up` (deploy/supervisor.py), so one that dies is started again with
the same configuration and store, and rejoins. Clients get every node's URL,
comma-separated (infra/deps.py).

A node binds its ports on loopback unless `plan` is given other hosts: the
partition test (tests/faults/test_nats_cluster.py) runs one node in a network
namespace of its own, reachable over a veth pair, under `ip netns exec`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
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
    """One node: its name, the address its ports are bound to, its ports and files."""

    name: str
    port: int
    monitor_port: int
    route_port: int
    store: Path
    log: Path
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        """The client URL."""
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        """The monitoring endpoint (/healthz, /varz)."""
        return f"http://{self.host}:{self.monitor_port}"


def plan(data_dir: Path, size: int, hub_port: int, hosts: Sequence[str] = ()) -> list[NatsNode]:
    """The nodes of a cluster of `size`, on free ports, with their directories made.

    Node i binds to `hosts[i]` (loopback when none are given). Ports are picked
    free on loopback; a namespace of its own has none taken, and no other
    process of this machine binds the addresses a test gives its nodes.
    """
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
        host = hosts[i - 1] if hosts else "127.0.0.1"
        nodes.append(NatsNode(f"nats-{i}", port(), port(), port(), store, log, host))
    return nodes


def config(node: NatsNode, nodes: list[NatsNode]) -> str:
    """The node's configuration file: JetStream syncing every write, routes to every node."""
    routes = ", ".join(json.dumps(f"nats-route://{n.host}:{n.route_port}") for n in nodes)
    return "\n".join(
        [
            "# Written by bilten.deploy.embedded_nats_cluster at every start; edits are lost.",
            f'server_name: "bilten-{node.name}"',
            f'listen: "{node.host}:{node.port}"',
            f'http: "{node.host}:{node.monitor_port}"',
            "jetstream {",
            f"  store_dir: {json.dumps(str(node.store))}",
            "  sync_interval: always",
            "}",
            "cluster {",
            f'  name: "{CLUSTER_NAME}"',
            f'  listen: "{node.host}:{node.route_port}"',
            f"  routes: [{routes}]",
            "}",
            "",
        ]
    )


def start(
    nodes: list[NatsNode], settings: Settings, launchers: Mapping[str, Sequence[str]] | None = None
) -> list[Child]:
    """Start every node as a supervised child (configuration written first).

    A node named in `launchers` runs under that command (`ip netns exec NS`).
    """
    binary = str(nats_binary())
    children = []
    for node in nodes:
        path = node.store / "nats-server.conf"
        path.write_text(config(node, nodes), encoding="utf-8")
        launcher = list((launchers or {}).get(node.name, ()))
        program = [*launcher, binary, "-c", str(path)]
        children.append(Child(node.name, [], settings, program, node.log))
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
        waiting = [(n, c) for n, c in waiting if not nats_healthy(n.monitor_port, n.host)]
        if not waiting:
            return
        if time.monotonic() > deadline:
            node = waiting[0][0]
            raise EmbeddedServerError(
                node.name, f"not healthy after {READY_TIMEOUT_S:.0f}s", log_tail(node.log)
            )
        time.sleep(0.1)
