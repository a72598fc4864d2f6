"""A three-node NATS cluster under load loses one node, then has it back (issue 15).

`bilten up` runs the hub and the workers on a cluster whose streams are all
replicated on three nodes with `sync_interval: always`. Scans, holds and
publishes go through the hub's REST API without pause (tests/faults/traffic.py),
each failed request sent again with its nonce or idempotency key until it is
answered. Meanwhile one node goes away:

- SIGKILL of the node leading the events stream, which `bilten up` restarts;
- a network partition: the node runs in a network namespace of its own, reached
  over a veth pair, and the link goes down for 10 s. It leads the events stream
  when it is cut off, and it is the node the hub and the workers are connected
  to: their requests stall (`timeout`), the other two nodes elect leaders
  without it and take publications from the test itself, and once the link is
  back the stalled publishes reach the cluster while their retries come in.

Either way: every failure was `unavailable` or `timeout`, never a 500; every
acknowledged scan and hold is in PostgreSQL once, no ticket was let in twice,
every acknowledged publication is in the channel's history at its offset with no
gap and no duplicate; no hub or worker restarted; the node that was away is
healthy again with every stream at the same last sequence as the other two
(their /jsz); and every node reports `sync_always` and three replicas of every
stream. In the partition, publications through the two nodes left are stored
while the third is cut off, and it has them once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import shutil
import signal
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import nats
import orjson
import pytest

from bilten.deploy import embedded_nats_cluster as cluster
from bilten.deploy.embedded import nats_healthy
from bilten.deploy.supervisor import terminate
from bilten.deploy.up_state import read_state
from bilten.infra.deps import open_deps
from bilten.infra.settings import Settings, load_settings
from bilten.protocol.errors import Timeout, Unavailable
from tests.conftest import ServerURLs
from tests.deploy.test_up import Up, _alive, _external, _http, data_dir
from tests.deploy.test_up_scale import _status
from tests.faults.traffic import (
    RETRY_PAUSE_S,
    Traffic,
    assert_failures_retryable,
    check_nothing_lost_or_doubled,
    setup_traffic,
)
from tests.waiting import WAIT_S, wait_for

__all__ = ["data_dir"]  # the fixture, used by name

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

PARTITION_S = 10.0  # the fault itself lasts this long: issue 15's scenario, not a deadline
MAJORITY_WRITES = 20
MAJORITY_CHANNEL = "event.1000000.announcements"  # no such event: the log needs none


@dataclass(frozen=True, slots=True)
class Node:
    """A cluster node as the test sees it: its server name and monitoring URL."""

    server: str
    monitor_url: str

    def healthy(self) -> bool:
        host, port = self.monitor_url.removeprefix("http://").rsplit(":", 1)
        return nats_healthy(int(port), host)


def _jsz(node: Node) -> dict[str, Any]:
    """The node's JetStream report: its settings, and each stream it holds a replica of."""
    status, body = _http("GET", f"{node.monitor_url}/jsz?accounts=true&streams=true&config=true")
    assert status == 200, (node, status)
    report: dict[str, Any] = orjson.loads(body)
    return report


def _streams(node: Node) -> dict[str, tuple[int, str, int]]:
    """Every stream this node holds a replica of: its last sequence, leader and replicas."""
    return {
        stream["name"]: (
            stream["state"]["last_seq"],
            stream["cluster"].get("leader", ""),
            stream["config"]["num_replicas"],
        )
        for account in _jsz(node).get("account_details", [])
        for stream in account.get("stream_detail", [])
    }


def _caught_up(nodes: list[Node]) -> bool:
    """Every node holds every stream, each to the same last sequence, under one leader."""
    seen = {node.server: _streams(node) for node in nodes}
    first = seen[nodes[0].server]
    assert first and all(view == first for view in seen.values()), seen
    return True


def _durable(nodes: list[Node]) -> None:
    """Every stream on every node, each node writing to disk before it acknowledges."""
    for node in nodes:
        assert _jsz(node)["config"]["sync_always"] is True, node
        assert {replicas for _, _, replicas in _streams(node).values()} == {len(nodes)}, node


def _leader(nodes: list[Node], stream: str) -> str:
    """The server name of `stream`'s leader, as a node that knows one tells it."""
    for node in nodes:
        with contextlib.suppress(AssertionError):
            leader = _streams(node).get(stream, (0, "", 0))[1]
            if leader:
                return leader
    raise AssertionError(f"no node names a leader of {stream}")


def _env(external: dict[str, str], secret: str) -> dict[str, str]:
    """`bilten up`'s environment: tokens the test signs, history long enough to read it all."""
    return {
        **{k: v for k, v in external.items() if k != "BILTEN_NATS_URL"},
        "BILTEN_SECRET": secret,
        "BILTEN_HISTORY_SIZE": "1000000",
        "BILTEN_REQUEST_TIMEOUT": "3",
    }


Step = Callable[[], Awaitable[None]]


async def _through(
    base: str,
    settings: Settings,
    nodes: list[Node],
    make_token: Callable[..., str],
    fault: Step,
    heal: Step,
) -> Traffic:
    """Traffic before, during and after the fault, then every check of the module docstring."""
    loaders: list[asyncio.Task[None]] = []
    async with aiohttp.ClientSession(base_url=base) as client:
        try:
            traffic = await setup_traffic(client, make_token, retry=True)
            loaders = traffic.start()
            await traffic.until(traffic.flows("before"), "traffic flows")
            traffic.phase = "fault"
            await fault()
            await heal()
            await wait_for(
                lambda: all(node.healthy() for node in nodes), what="every node healthy again"
            )
            traffic.phase = "after"
            await traffic.until(traffic.flows("after"), "traffic flows after the fault")
            traffic.running = False
            await asyncio.gather(*loaders)
        finally:
            for task in loaders:
                task.cancel()
            await asyncio.gather(*loaders, return_exceptions=True)
    assert any(a.phase == "fault" for a in traffic.answers), "no request during the fault"
    assert_failures_retryable(traffic)
    await check_nothing_lost_or_doubled(settings, traffic)
    await wait_for(lambda: _caught_up(nodes), what="every node at every stream's last sequence")
    _durable(nodes)
    return traffic


def _apps_never_restarted(data_dir: Path) -> None:
    code, rows = _status(data_dir)
    assert code == 0, rows
    for name in ("hub", "workers"):
        assert rows[name][3] == "ready" and rows[name][5] == "0", rows[name]


def test_sigkill_of_the_events_leader_loses_nothing(
    data_dir: Path, servers: ServerURLs, secret: str, make_token: Callable[..., str]
) -> None:
    with _external(servers) as external:
        env = _env(external, secret)
        up = Up(data_dir, env, ("--nats-cluster", "3"))
        try:
            up.wait_ready(2 * WAIT_S)
            state = read_state(data_dir)
            assert state is not None
            members = {p.name: p for p in state.processes if p.role == "nats"}
            nodes = [Node(f"bilten-{name}", p.url) for name, p in sorted(members.items())]
            settings = load_settings({**env, "BILTEN_NATS_URL": state.nats_url})
            killed: list[str] = []

            async def fault() -> None:
                leader = _leader(nodes, f"{state.namespace.upper()}_EVENTS")
                name = leader.removeprefix("bilten-")
                killed.append(name)
                os.kill(members[name].pid, signal.SIGKILL)
                await wait_for(lambda: not _alive(members[name].pid), what="the node gone")

            async def restarted() -> None:
                def new_pid() -> bool:
                    now = read_state(data_dir)
                    return now is not None and any(
                        p.name == killed[0] and p.pid != members[killed[0]].pid
                        for p in now.processes
                    )

                await wait_for(new_pid, what=f"{killed} restarted by bilten up")

            asyncio.run(
                _through(
                    f"http://127.0.0.1:{up.port}", settings, nodes, make_token, fault, restarted
                )
            )
            _apps_never_restarted(data_dir)
            assert _status(data_dir)[1][killed[0]][5] == "1"  # restarts
            assert up.interrupt() == 0
        finally:
            up.close()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=WAIT_S)


@dataclass(frozen=True, slots=True)
class Veth:
    """A network namespace reached from this one over a veth pair, each end with an address."""

    namespace: str
    host_side: str
    host_address: str
    namespace_address: str

    def link(self, state: str) -> None:
        _ip("link", "set", self.host_side, state)


@contextlib.contextmanager
def _veth_namespace() -> Iterator[Veth]:
    """A namespace of this test run's own, names and /30 unique, removed at the end."""
    if shutil.which("ip") is None:
        pytest.skip("the partition needs iproute2's `ip`")
    if os.geteuid() != 0:
        pytest.skip("the partition needs root, to make a network namespace")
    tag = secrets.token_hex(3)
    taken = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    subnet = next(
        prefix
        for prefix in (f"10.213.{random.randrange(256)}." for _ in range(64))
        if f" {prefix}" not in taken
    )
    veth = Veth(f"bilten-{tag}", f"bh{tag}", f"{subnet}1", f"{subnet}2")
    _ip("netns", "add", veth.namespace)
    try:
        _ip("link", "add", veth.host_side, "type", "veth", "peer", "name", f"bn{tag}")
        _ip("link", "set", f"bn{tag}", "netns", veth.namespace)
        _ip("addr", "add", f"{veth.host_address}/30", "dev", veth.host_side)
        _ip("-n", veth.namespace, "addr", "add", f"{veth.namespace_address}/30", "dev", f"bn{tag}")
        _ip("-n", veth.namespace, "link", "set", "lo", "up")
        _ip("-n", veth.namespace, "link", "set", f"bn{tag}", "up")
        veth.link("up")
        yield veth
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", veth.host_side)  # takes its peer with it
        _ip("netns", "del", veth.namespace)


async def _lead(urls: str, leaders: dict[str, Node], nodes: list[Node]) -> None:
    """Make each node the leader of its stream (a step-down naming it the preferred one)."""
    nc = await nats.connect(urls.split(","))
    try:
        for stream, node in leaders.items():
            stepdown = f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}"
            request = orjson.dumps({"placement": {"preferred": node.server}})
            if _leader(nodes, stream) != node.server:
                reply = orjson.loads((await nc.request(stepdown, request, timeout=WAIT_S)).data)
                assert reply.get("success"), reply
                await wait_for(
                    lambda s=stream, n=node: _leader(nodes, s) == n.server,
                    what=f"{node.server} to lead {stream}",
                )
    finally:
        await nc.close()


async def _write_to(majority: Settings, channel: str) -> None:
    """Publications through the two nodes left: the cut-off one has to catch up on them."""
    async with open_deps(majority, "majority-writer") as deps:
        for n in range(1, MAJORITY_WRITES + 1):
            async with asyncio.timeout(WAIT_S):  # the two elect leaders first
                while True:
                    try:
                        data = orjson.dumps({"n": n})
                        position = await deps.channels.publish(channel, data, msg_id=f"m{n}")
                        break
                    except (Unavailable, Timeout):
                        await asyncio.sleep(RETRY_PAUSE_S)
            assert position.offset == n, position


async def _check_written(settings: Settings, channel: str) -> None:
    async with open_deps(settings, "majority-reader") as deps:
        top = await deps.channels.position(channel)
        assert top is not None and top.offset == MAJORITY_WRITES, top
        history = await deps.channels.read_after(channel, "", 0, top)
    assert history is not None
    assert [orjson.loads(item.data)["n"] for item in history] == list(range(1, top.offset + 1))


def test_a_partitioned_node_loses_nothing(
    data_dir: Path, servers: ServerURLs, secret: str, make_token: Callable[..., str]
) -> None:
    with _veth_namespace() as veth, _external(servers) as external:
        planned = cluster.plan(
            data_dir / "partitioned",
            3,
            0,
            (veth.host_address, veth.host_address, veth.namespace_address),
        )
        children = cluster.start(
            planned, load_settings({}), {"nats-3": ["ip", "netns", "exec", veth.namespace]}
        )
        up: Up | None = None
        try:
            cluster.wait_healthy(planned, children)
            urls = ",".join(node.url for node in planned)
            env = {**_env(external, secret), "BILTEN_STREAM_REPLICAS": "3"}
            # The hub and the workers connect to the node that will be cut off (they learn
            # the others from it): every request of theirs crosses the partition.
            up = Up(data_dir, {**env, "BILTEN_NATS_URL": planned[2].url})
            up.wait_ready(2 * WAIT_S)
            nodes = [Node(f"bilten-{n.name}", n.monitor_url) for n in planned]
            settings = load_settings({**env, "BILTEN_NATS_URL": urls})
            # The cut-off node leads the events stream; publications go on through it to the
            # leaders of the keys and history streams on the other side, so a publish that
            # stalls there can be stored once the link is back, after the hub gave up on it.
            prefix = external["BILTEN_NAMESPACE"].upper()
            leaders = {f"{prefix}_EVENTS": nodes[2]}
            leaders |= {f"{prefix}_{name}": nodes[0] for name in ("KEYS", "HISTORY")}
            asyncio.run(_lead(urls, leaders, nodes))
            majority = settings.replace(nats_url=",".join(n.url for n in planned[:2]))
            cut_at: list[float] = []

            async def cut() -> None:
                veth.link("down")
                cut_at.append(asyncio.get_running_loop().time())

            async def heal() -> None:
                await _write_to(majority, MAJORITY_CHANNEL)
                elapsed = asyncio.get_running_loop().time() - cut_at[0]
                await asyncio.sleep(max(0.0, PARTITION_S - elapsed))
                veth.link("up")

            traffic = asyncio.run(
                _through(f"http://127.0.0.1:{up.port}", settings, nodes, make_token, cut, heal)
            )
            assert any(a.status == 504 for a in traffic.answers), "the partition never showed"
            asyncio.run(_check_written(settings, MAJORITY_CHANNEL))
            _apps_never_restarted(data_dir)
            assert all(child.exited() is None for child in children), "a node exited"
            assert up.interrupt() == 0
        finally:
            if up is not None:
                up.close()
            terminate(children, WAIT_S)
