"""`bilten up`: ready from nothing, clean Ctrl-C, data kept across restarts, external URLs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerURLs


def _children(pid: int) -> set[int]:
    """Every live descendant of `pid`, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}").exists() else ""
    return bool(stat) and stat.rsplit(")", 1)[1].split()[0] != "Z"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Up:
    """`bilten up --demo` as a child process, read until `ready`."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.log = open(data_dir / "up.log", "w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bilten.deploy.cli", "up", "--demo", "--port", str(self.port)],
            env={**env, "BILTEN_DATA_DIR": str(data_dir), "PATH": os.environ["PATH"]},
            stdout=subprocess.PIPE, stderr=self.log, text=True,
        )
        self.lines: list[str] = []

    def wait_ready(self, timeout: float = 60.0) -> list[str]:
        assert self.process.stdout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                self.log.seek(0)
                raise AssertionError(f"bilten up exited: {self.log.read()[-3000:]}")
            self.lines.append(line.rstrip("\n"))
            if line.strip() == "ready":
                return self.lines
        raise AssertionError("not ready in time")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self.log.close()

    def interrupt(self, timeout: float = 10.0) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout)


@pytest.fixture
def data_dir() -> Any:
    with tempfile.TemporaryDirectory(prefix="bilten-up-") as tmp:
        os.chmod(tmp, 0o755)
        yield Path(tmp)


def test_up_embedded_ctrl_c_leaves_nothing_and_restart_keeps_data(data_dir: Path) -> None:
    up = Up(data_dir, {})
    try:
        lines = up.wait_ready()
        assert any("(embedded)" in line and line.startswith("postgres") for line in lines)
        demo = next(line for line in lines if line.startswith("demo event"))
        family = _children(up.process.pid)
        assert len(family) >= 5  # nats, postgres (+ its workers), redis, hub, workers
        started = time.monotonic()
        assert up.interrupt() == 0
        assert time.monotonic() - started < 10
        time.sleep(0.5)
        assert [pid for pid in family if _alive(pid)] == []
    finally:
        up.close()
    again = Up(data_dir, {})
    try:
        lines = again.wait_ready()
        assert next(line for line in lines if line.startswith("demo event")) == demo
        assert again.interrupt() == 0
    finally:
        again.close()


def test_up_with_external_servers_starts_none(data_dir: Path, servers: ServerURLs) -> None:
    import asyncio
    import secrets

    import asyncpg

    schema = "up" + secrets.token_hex(4)

    async def schema_op(sql: str) -> None:
        conn = await asyncpg.connect(servers.database)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(schema_op(f"CREATE SCHEMA {schema}"))
    from tests.conftest import with_search_path

    env = {"BILTEN_NATS_URL": servers.nats, "BILTEN_REDIS_URL": servers.redis,
           "BILTEN_DATABASE_URL": with_search_path(servers.database, schema),
           "BILTEN_NAMESPACE": schema}
    up = Up(data_dir, env)
    try:
        lines = up.wait_ready()
        assert not any("(embedded)" in line for line in lines)
        names = {Path(f"/proc/{pid}/comm").read_text().strip()
                 for pid in _children(up.process.pid) if _alive(pid)}
        assert not names & {"nats-server", "postgres", "redis-server"}, names
        assert up.interrupt() == 0
    finally:
        up.close()
        asyncio.run(schema_op(f"DROP SCHEMA {schema} CASCADE"))


def test_second_ctrl_c_forces_an_immediate_stop(data_dir: Path) -> None:
    up = Up(data_dir, {})
    try:
        up.wait_ready()
        family = _children(up.process.pid)
        up.process.send_signal(signal.SIGINT)
        time.sleep(0.05)
        up.process.send_signal(signal.SIGINT)
        assert up.process.wait(10) == 130  # forced, not the orderly path
        time.sleep(1.0)
        assert [pid for pid in family if _alive(pid)] == []
    finally:
        up.close()
