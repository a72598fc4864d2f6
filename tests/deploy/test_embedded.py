"""The embedded servers: real processes, real clients, real data on disk."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import nats
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from bilten.deploy import embedded_pg
from bilten.deploy.embedded import EmbeddedServerError, EmbeddedStack
from bilten.deploy.embedded_common import package_dir
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

SERVERS = ("nats", "postgres", "redis")

# Starts a stack from a short-lived thread (as `bilten up` does with
# asyncio.to_thread), prints the server pids, then waits to be killed.
_PARENT = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from bilten.deploy.embedded import EmbeddedStack

stack = EmbeddedStack(Path(sys.argv[1]))
with ThreadPoolExecutor(1) as pool:
    for start in (stack.start_nats, stack.start_postgres, stack.start_redis):
        pool.submit(start).result()
print(json.dumps([server.pid for server in stack.servers()]), flush=True)
sys.stdin.read()
"""

# Starts PostgreSQL with pgserver found first in argv[1] (a directory others
# cannot enter), prints its URL and the binary it runs, then waits.
_HIDDEN_INSTALL = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from bilten.deploy.embedded import EmbeddedStack

with EmbeddedStack(Path(sys.argv[2])) as stack:
    url = stack.start_postgres()
    exe = os.readlink(f"/proc/{stack.servers()[0].pid}/exe")
    print(json.dumps({"url": url, "exe": exe}), flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data directory (0700: the stack must open it up for PostgreSQL itself)."""
    with tempfile.TemporaryDirectory(prefix="bilten-embedded-") as tmp:
        yield Path(tmp)


def _accepts(url: str) -> bool:
    port = urlsplit(url).port
    assert port is not None
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _session_members(sessions: set[int]) -> list[int]:
    """Live (non-zombie) processes in the given sessions: a server and its helpers."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) in sessions and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _start_all(stack: EmbeddedStack) -> tuple[str, str, str]:
    return stack.start_nats(), stack.start_postgres(), stack.start_redis()


async def test_data_survives_a_restart_on_the_same_directory(data_dir: Path) -> None:
    with EmbeddedStack(data_dir) as stack:
        nats_url, pg_url, redis_url = await asyncio.to_thread(_start_all, stack)
        pg = await asyncpg.connect(pg_url)
        try:
            await pg.execute("CREATE TABLE kept (value text)")
            await pg.execute("INSERT INTO kept VALUES ('row')")
        finally:
            await pg.close()
        rd = aioredis.from_url(redis_url)
        try:
            await rd.set("kept", "key")
        finally:
            await rd.aclose()
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await js.add_stream(name="KEPT", subjects=["kept.>"])
            ack = await js.publish("kept.one", b"message")
        finally:
            await nc.close()
    assert stack.servers() == []

    with EmbeddedStack(data_dir) as stack:
        nats_url, pg_url, redis_url = await asyncio.to_thread(_start_all, stack)
        pg = await asyncpg.connect(pg_url)
        try:
            assert await pg.fetchval("SELECT value FROM kept") == "row"
        finally:
            await pg.close()
        rd = aioredis.from_url(redis_url)
        try:
            assert await rd.get("kept") == b"key"
        finally:
            await rd.aclose()
        nc = await nats.connect(nats_url)
        try:
            msg = await nc.jetstream().get_msg("KEPT", ack.seq)
            assert msg.data == b"message"
        finally:
            await nc.close()


async def test_stop_one_and_start_one_keep_the_port(data_dir: Path) -> None:
    with EmbeddedStack(data_dir) as stack:
        urls = dict(zip(SERVERS, await asyncio.to_thread(_start_all, stack), strict=True))
        # from_url clients do not retry unless told to.
        rd = aioredis.from_url(
            urls["redis"], retry=Retry(NoBackoff(), 3), retry_on_error=[RedisConnectionError]
        )
        try:
            await rd.set("before", "1")
            for name in SERVERS:
                await asyncio.to_thread(stack.stop_one, name)
                assert name not in [server.name for server in stack.servers()]
                assert not _accepts(urls[name])
                assert await asyncio.to_thread(stack.start_one, name) == urls[name]
            # The same client reconnects to the restarted server, data intact.
            assert await rd.get("before") == b"1"
        finally:
            await rd.aclose()
        assert [server.name for server in stack.servers()] == list(SERVERS)
        assert stack.start_postgres() == urls["postgres"]  # already running: same URL
        stack.stop()
        stack.stop()  # idempotent
        assert stack.servers() == []
        assert not any(_accepts(url) for url in urls.values())


def test_failed_start_reports_the_log_tail(data_dir: Path) -> None:
    with EmbeddedStack(data_dir) as first, EmbeddedStack(data_dir) as second:
        first.start_postgres()
        # The second postmaster on the same cluster is refused by its lock file.
        with pytest.raises(EmbeddedServerError) as caught:
            second.start_postgres()
        assert caught.value.code == "unavailable"
        assert "postmaster.pid" in str(caught.value)
        assert second.servers() == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another user")
def test_untraversable_parent_outside_data_dir_is_reported(data_dir: Path) -> None:
    data_dir.chmod(0o700)
    with EmbeddedStack(data_dir / "inner") as stack, pytest.raises(EmbeddedServerError) as caught:
        stack.start_postgres()
    assert "BILTEN_DATA_DIR" in str(caught.value)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem
        shutil.copy2(source, target)


async def _select_one(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another user")
def test_postgres_runs_when_the_install_is_in_a_private_directory(data_dir: Path) -> None:
    """A clone made by root with mode 0700 hides the venv from `bilten-pg` (issue 9)."""
    with tempfile.TemporaryDirectory(prefix="bilten-private-") as private:
        assert Path(private).stat().st_mode & 0o777 == 0o700
        package = package_dir("pgserver", "postgres")
        for name in ("pgserver", "pgserver.libs"):  # as pip lays them out
            shutil.copytree(
                package.parent / name, Path(private) / name, copy_function=_link_or_copy
            )
        child = subprocess.Popen(
            [sys.executable, "-c", _HIDDEN_INSTALL, private, str(data_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdin is not None and child.stdout is not None and child.stderr is not None
        try:
            line = child.stdout.readline()
            assert line, child.stderr.read().decode()
            started = json.loads(line)
            assert Path(started["exe"]).is_relative_to(embedded_pg.INSTALL_CACHE)
            assert asyncio.run(_select_one(started["url"])) == 1
            child.stdin.close()
            assert child.wait(30) == 0
        finally:
            child.kill()
            child.wait()
            for stream in (child.stdin, child.stdout, child.stderr):
                stream.close()
        assert Path(private).stat().st_mode & 0o777 == 0o700  # not opened up


async def test_servers_die_with_a_sigkilled_parent(data_dir: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert parent.stdout is not None and parent.stderr is not None and parent.stdin is not None
    pids: set[int] = set()
    try:
        line = await asyncio.to_thread(parent.stdout.readline)
        assert line, parent.stderr.read().decode()
        pids = set(json.loads(line))
        assert len(pids) == 3
        # The thread that started them has exited; they must still be running. (A grace
        # for a wrong death to show: this checks that nothing happens, so there is no
        # condition to wait on.)
        await asyncio.sleep(0.3)
        assert set(_session_members(pids)) >= pids
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        await wait_for(
            lambda: not _session_members(pids), what="the servers to die with their parent"
        )
    finally:
        parent.kill()
        parent.wait()
        for stream in (parent.stdin, parent.stdout, parent.stderr):
            stream.close()
        for pid in _session_members(pids):  # never leave strays behind, even on failure
            os.kill(pid, signal.SIGKILL)
