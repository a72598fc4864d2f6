"""`bilten up --hubs 2 --workers 2`: both hubs take connections on the one port, a killed hub
is restarted while the other answers, and `bilten status` shows every process (issue 15)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bilten.deploy.up_state import STATE_FILE
from tests.conftest import ServerURLs
from tests.deploy.test_up import EVENT, Up, _alive, _eventually, _external, _http, data_dir
from tests.waiting import WAIT_S

__all__ = ["data_dir"]  # the fixture, used by name

CONNECTIONS = 24  # each new connection lands on either hub: all on one is a 2**-23 chance


def _healthz_served(metrics_url: str) -> float:
    """How many /healthz requests this one process has answered."""
    _, text = _http("GET", metrics_url)
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "bilten_http_requests_total" and sample.labels["route"] == "/healthz"
    )


def _state(data_dir: Path) -> dict[str, dict[str, object]]:
    raw = json.loads((data_dir / STATE_FILE).read_text())
    return {process["name"]: process for process in raw["processes"]}


def _status(data_dir: Path) -> tuple[int, dict[str, list[str]]]:
    """`bilten status`: its exit status, and its rows by first cell."""
    done = subprocess.run(
        [sys.executable, "-m", "bilten.deploy.cli", "status"],
        env={**os.environ, "BILTEN_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line.strip()}
    return done.returncode, rows


async def _status_while_connected(ws_url: str, data_dir: Path) -> tuple[int, dict[str, list[str]]]:
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url):
        return await asyncio.to_thread(_status, data_dir)


@pytest.mark.faults
def test_two_hubs_share_the_port_and_survive_a_killed_one(
    data_dir: Path, servers: ServerURLs
) -> None:
    with _external(servers) as env:
        up = Up(data_dir, env, ("--hubs", "2", "--workers", "2"))
        try:
            lines = up.wait_ready()
            base = f"http://127.0.0.1:{up.port}"
            token = next(line for line in lines if line.startswith("  organizer")).split()[-1]
            own = {
                line.split()[0]: line.split()[1] for line in lines if line[:4] in ("hub-", "work")
            }
            assert sorted(own) == ["hub-1", "hub-2", "workers-1", "workers-2"], lines

            for _ in range(CONNECTIONS):  # urllib opens a new connection for each
                assert _http("GET", f"{base}/healthz")[0] == 200
            served = {name: _healthz_served(own[name]) for name in ("hub-1", "hub-2")}
            assert all(served.values()) and sum(served.values()) == CONNECTIONS, served

            ws_url = own["hub-1"].replace("http", "ws", 1).removesuffix("/metrics")
            code, rows = asyncio.run(
                _status_while_connected(f"{ws_url}/ws?token={token}", data_dir)
            )
            assert code == 0, rows
            state = _state(data_dir)
            for name in own:
                assert rows[name][1:5] == [
                    "hub" if name.startswith("hub") else "workers",
                    str(state[name]["pid"]),
                    "ready",
                    "1" if name == "hub-1" else ("0" if name == "hub-2" else "-"),
                ], rows[name]
            persistence = rows[f"{env['BILTEN_NAMESPACE']}-persistence"]
            assert persistence[1].endswith("_EVENTS") and persistence[2].isdigit(), persistence

            killed = int(str(state["hub-1"]["pid"]))
            os.kill(killed, signal.SIGKILL)
            # Reaped, not only a zombie: its other threads may still hold the socket open.
            _eventually(lambda: not Path(f"/proc/{killed}").exists(), "the killed hub reaped")
            for _ in range(CONNECTIONS):  # hub-2 alone answers on the shared port
                assert _http("GET", f"{base}/healthz")[0] == 200
            _eventually(lambda: _state(data_dir)["hub-1"]["pid"] != killed, "hub-1 restarted")
            _eventually(lambda: _status(data_dir)[0] == 0, "every process ready again")
            code, rows = _status(data_dir)
            assert rows["hub-1"][2] == str(_state(data_dir)["hub-1"]["pid"])
            assert rows["hub-1"][5] == "1" and rows["hub-2"][5] == "0", rows  # restarts

            assert up.interrupt() == 0
            assert not (data_dir / STATE_FILE).exists()
            code, rows = _status(data_dir)
            assert code == 1 and "no" in rows, rows
        finally:
            up.close()


@pytest.mark.faults
def test_nats_cluster_keeps_serving_when_a_node_dies(data_dir: Path, servers: ServerURLs) -> None:
    """Three nodes, every stream on all three: SIGKILL the events stream's leader, and a
    command through the hub still succeeds while the node is restarted and rejoins."""
    with _external(servers) as external:
        env = {k: v for k, v in external.items() if k != "BILTEN_NATS_URL"}
        up = Up(data_dir, env, ("--nats-cluster", "3"))
        try:
            lines = up.wait_ready(2 * WAIT_S)
            base = f"http://127.0.0.1:{up.port}"
            token = next(line for line in lines if line.startswith("  organizer")).split()[-1]
            code, rows = _status(data_dir)
            assert code == 0, rows
            for name in ("nats-1", "nats-2", "nats-3"):
                assert rows[name][1] == "nats" and rows[name][3] == "ready", rows[name]
            events = rows[f"{env['BILTEN_NAMESPACE'].upper()}_EVENTS"]
            leader, replicas = events[1], events[2]
            assert replicas == "3" and leader.startswith("bilten-nats-"), events

            node = leader.removeprefix("bilten-")
            killed = int(str(_state(data_dir)[node]["pid"]))
            os.kill(killed, signal.SIGKILL)
            _eventually(lambda: not _alive(killed), "the killed node gone")
            _eventually(
                lambda: _http("POST", f"{base}/api/v1/events", token, EVENT)[0] == 201,
                "a command answered without the killed node",
                timeout=2 * WAIT_S,
            )
            _eventually(lambda: _state(data_dir)[node]["pid"] != killed, f"{node} restarted")
            _eventually(lambda: _status(data_dir)[0] == 0, "every process ready again", 2 * WAIT_S)
            assert _status(data_dir)[1][node][5] == "1"  # restarts
            assert up.interrupt() == 0
        finally:
            up.close()
