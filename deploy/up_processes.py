"""The processes `bilten up` supervises, by role: hubs, workers and NATS cluster nodes.

`Scale` says how many of each (`--hubs`, `--workers`, `--nats-cluster`); a
`Member` is one started child with its role and the URL that process alone
answers on (/healthz and /metrics, or NATS's monitoring port), which
`bilten status` asks.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from bilten.deploy import embedded_nats_cluster as cluster
from bilten.deploy.supervisor import Child
from bilten.infra.settings import Settings, SettingsError


@dataclass(frozen=True, slots=True)
class Scale:
    """How many processes of each kind; `nats_cluster` 0 is one embedded server (or none)."""

    hubs: int = 1
    workers: int = 1
    nats_cluster: int = 0


@dataclass(frozen=True, slots=True)
class Member:
    """A supervised child, its role and the URL of its own port."""

    child: Child
    role: str
    url: str


def free_port(host: str, taken: set[int]) -> int:
    """A port free on `host` now and not in `taken`, which it joins.

    `taken` starts with the hub's port: before the hubs bind it, the kernel
    may well offer it as free.
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def check_hub_port(settings: Settings) -> None:
    """Refuse a hub port something already listens on, before anything starts.

    Hubs sharing the port with SO_REUSEPORT would otherwise join any listener
    of the same user on it, another stack's hubs included, and share its
    connections.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no listener
        try:
            sock.bind((settings.host, settings.port))
        except OSError as error:
            raise SettingsError(
                "BILTEN_PORT", f"cannot listen on {settings.host}:{settings.port}: {error.strerror}"
            ) from None


def start_apps(settings: Settings, scale: Scale) -> list[Member]:
    """Start the workers, then the hubs.

    Every worker process runs every worker (`worker all`) with a metrics port
    of its own. One hub has the stack's port to itself; several share it
    (SO_REUSEPORT) and each also serves a port of its own.
    """
    members: list[Member] = []
    taken = {settings.port}
    for i in range(1, scale.workers + 1):
        port = free_port(settings.host, taken)
        name = "workers" if scale.workers == 1 else f"workers-{i}"
        child = Child(name, ["worker", "all", "--metrics-port", str(port)], settings)
        members.append(Member(child, "workers", f"http://{settings.host}:{port}"))
    for i in range(1, scale.hubs + 1):
        if scale.hubs == 1:
            child = Child("hub", ["hub"], settings)
            members.append(Member(child, "hub", f"http://{settings.host}:{settings.port}"))
            continue
        port = free_port(settings.host, taken)
        child = Child(f"hub-{i}", ["hub", "--reuse-port", "--own-port", str(port)], settings)
        members.append(Member(child, "hub", f"http://{settings.host}:{port}"))
    return members


async def start_nats_cluster(settings: Settings, size: int, members: list[Member]) -> Settings:
    """Start the cluster's nodes into `members` and wait until each is healthy.

    Returns the settings every process gets: every node's URL, and every
    stream replicated on all of them. The nodes join `members` before the
    wait, so they are stopped with the rest when it fails.
    """
    nodes = cluster.plan(settings.data_dir, size, settings.port)
    children = cluster.start(nodes, settings)
    for node, child in zip(nodes, children, strict=True):
        members.append(Member(child, "nats", node.monitor_url))
    await asyncio.to_thread(cluster.wait_healthy, nodes, children)
    urls = ",".join(node.url for node in nodes)
    return settings.replace(nats_url=urls, stream_replicas=size)
