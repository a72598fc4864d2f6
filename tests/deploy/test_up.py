"""`bilten up`: ready from nothing, clean Ctrl-C, data kept across restarts, external URLs,
one stack per data directory, crashed children restarted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bilten.deploy.embedded_mail import EmbeddedMail
from tests.conftest import ServerURLs, with_search_path
from tests.waiting import WAIT_S, allowance, wait_for


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


def _family_member(pid: int, argv_tail: tuple[str, ...]) -> int | None:
    """The live descendant of `pid` whose command line ends with `argv_tail`."""
    for child in _children(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().decode().split("\0")[:-1]
        except OSError:
            continue
        if tuple(argv[-len(argv_tail) :]) == argv_tail and _alive(child):
            return child
    return None


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http(
    method: str, url: str, token: str | None = None, body: dict[str, Any] | None = None
) -> tuple[int, str]:
    """(status, body) of one request; status 0 when nothing answers."""
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    try:
        with _NO_PROXY.open(request, timeout=WAIT_S) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()
    except OSError:
        return 0, ""


def _eventually(check: Any, what: str, timeout: float = WAIT_S) -> Any:
    """`tests.waiting.wait_for` from these synchronous tests."""
    return asyncio.run(wait_for(check, what=what, timeout=timeout))


def _all_gone(family: set[int]) -> None:
    """Wait until no process of `family` is left (reaping may lag the parent's exit)."""
    _eventually(lambda: not [pid for pid in family if _alive(pid)], "every child to exit")


EVENT = {
    "name": "Restarted",
    "starts_at": "2030-01-01T18:00:00+00:00",
    "ends_at": "2030-01-01T22:00:00+00:00",
    "timezone": "UTC",
    "locale": "en",
    "currency": "EUR",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Up:
    """`bilten up --demo` (and `args`) as a child process, read until `ready`."""

    def __init__(self, data_dir: Path, env: dict[str, str], args: tuple[str, ...] = ()) -> None:
        self.port = _free_port()
        self.log_path = data_dir / "up.log"
        self.log = open(data_dir / "up.log", "w+")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "bilten.deploy.cli", "up", "--demo"),
                *("--port", str(self.port), *args),
            ],
            env={**env, "BILTEN_DATA_DIR": str(data_dir), "PATH": os.environ["PATH"]},
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.lines: list[str] = []
        # A thread reads stdout, so waiting for a line honours its deadline even
        # when the child prints nothing at all.
        self.output: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout
        with contextlib.suppress(ValueError, OSError):  # closed under us by close()
            for line in self.process.stdout:
                self.output.put(line)
        self.output.put("")

    def wait_ready(self, timeout: float = WAIT_S) -> list[str]:
        self.read_until(lambda line: line.strip() == "ready", "ready", timeout)
        return self.lines

    def read_until(self, last: Callable[[str], bool], what: str, timeout: float) -> list[str]:
        """The lines printed from now up to the `last` one, included (also kept in `lines`)."""
        read: list[str] = []
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.output.get(timeout=remaining)
            except queue.Empty:
                break
            if not line:
                self.log.seek(0)
                raise AssertionError(f"bilten up exited: {self.log.read()[-3000:]}")
            read.append(line.rstrip("\n"))
            self.lines.append(read[-1])
            if last(line):
                return read
        raise AssertionError(f"not {what} in {timeout:.0f} s; printed: {self.lines}")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.reader.join(allowance(10))
        if self.process.stdout:
            self.process.stdout.close()
        self.log.close()

    def interrupt(self) -> int:
        """Ctrl-C: the exit status of the orderly stop (which stops a few children in turn)."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(allowance(10))


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
        # The door command runs as printed, from a shell without the venv on its PATH.
        door = next(line for line in lines if line.startswith("  door"))
        command = door.split(None, 1)[1]
        assert command.split("| ")[1].startswith(f"{Path(sys.executable).parent}/bilten scan")
        scanned = subprocess.run(
            ["/bin/sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "XDG_DATA_HOME": str(data_dir / "xdg")},
        )
        assert scanned.returncode == 0, scanned.stderr
        assert scanned.stdout.startswith("OK "), scanned.stdout
        # A second stack on the same data directory is refused before it starts anything.
        second = subprocess.run(
            [sys.executable, "-m", "bilten.deploy.cli", "up", "--port", str(_free_port())],
            env={"BILTEN_DATA_DIR": str(data_dir), "PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert "already running" in second.stderr, second.stderr
        assert f"http://127.0.0.1:{up.port}" in second.stderr
        assert "embedded" not in second.stderr
        assert _http("GET", f"http://127.0.0.1:{up.port}/readyz")[0] == 200
        family = _children(up.process.pid)
        assert len(family) >= 5  # nats, postgres (+ its workers), redis, hub, workers
        assert up.interrupt() == 0
        _all_gone(family)
    finally:
        up.close()
    again = Up(data_dir, {})
    try:
        lines = again.wait_ready()
        assert next(line for line in lines if line.startswith("demo event")) == demo
        assert again.interrupt() == 0
    finally:
        again.close()


@contextlib.contextmanager
def _external(servers: ServerURLs) -> Iterator[dict[str, str]]:
    """Environment for `bilten up` on the external servers, in a schema of its own."""
    schema = "up" + secrets.token_hex(4)

    async def schema_op(sql: str) -> None:
        conn = await asyncpg.connect(servers.database)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(schema_op(f"CREATE SCHEMA {schema}"))
    try:
        yield {
            "BILTEN_NATS_URL": servers.nats,
            "BILTEN_REDIS_URL": servers.redis,
            "BILTEN_DATABASE_URL": with_search_path(servers.database, schema),
            "BILTEN_NAMESPACE": schema,
        }
    finally:
        asyncio.run(schema_op(f"DROP SCHEMA {schema} CASCADE"))


def test_up_with_external_servers_starts_none(data_dir: Path, servers: ServerURLs) -> None:
    with _external(servers) as env, EmbeddedMail() as mail:
        up = Up(data_dir, {**env, "BILTEN_SMTP_URL": mail.smtp_url})
        try:
            lines = up.wait_ready()
            assert not any("(embedded)" in line for line in lines)
            names = {
                Path(f"/proc/{pid}/comm").read_text().strip()
                for pid in _children(up.process.pid)
                if _alive(pid)
            }
            assert not names & {"nats-server", "postgres", "redis-server"}, names
            assert up.interrupt() == 0
            # Connections closed on purpose are not reported as lost (issue 9).
            log = up.log_path.read_text()
            assert "nats connected client=bilten-hub" in log
            assert "disconnected" not in log, log
        finally:
            up.close()


def test_second_ctrl_c_forces_an_immediate_stop(data_dir: Path) -> None:
    up = Up(data_dir, {})
    try:
        up.wait_ready()
        family = _children(up.process.pid)
        # A child that cannot stop keeps the orderly stop waiting for it (up to its drain
        # timeout), so the second Ctrl-C surely finds it under way, however fast the rest is.
        os.kill(min(family), signal.SIGSTOP)
        up.process.send_signal(signal.SIGINT)
        _eventually(
            lambda: "shutting down (again to force)" in up.log_path.read_text(),
            "the first Ctrl-C to start the orderly stop",
        )
        up.process.send_signal(signal.SIGINT)
        assert up.process.wait(WAIT_S) == 130  # forced, not the orderly path
        _all_gone(family)
    finally:
        up.close()


def test_up_restarts_a_crashed_worker_and_hub(data_dir: Path, servers: ServerURLs) -> None:
    """SIGKILL each child: it comes back, serves again, and counts the restart (issue 8)."""
    with _external(servers) as env:
        up = Up(data_dir, env)
        try:
            lines = up.wait_ready()
            base = f"http://127.0.0.1:{up.port}"
            token = next(line for line in lines if line.startswith("  organizer")).split()[-1]
            worker_metrics = next(line for line in lines if line.startswith("workers")).split()[1]
            # Ready means every command has a worker: the first create after `ready` succeeds.
            assert _http("POST", f"{base}/api/v1/events", token, EVENT)[0] == 201

            worker_port = worker_metrics.rsplit(":", 1)[1].split("/")[0]
            children = (
                ("workers", ("worker", "all", "--metrics-port", worker_port), worker_metrics),
                ("hub", ("bilten.deploy.cli", "hub"), f"{base}/metrics"),
            )
            for name, tail, metrics in children:
                old = _family_member(up.process.pid, tail)
                assert old is not None, name
                os.kill(old, signal.SIGKILL)
                _eventually(
                    lambda t=tail, o=old: _family_member(up.process.pid, t) not in (None, o),
                    f"{name} restarted",
                )
                _eventually(lambda: _http("GET", f"{base}/readyz")[0] == 200, "ready again")
                _eventually(
                    lambda: _http("POST", f"{base}/api/v1/events", token, EVENT)[0] == 201,
                    "a command answered",
                )
                assert "bilten_process_restarts_total 1.0" in _http("GET", metrics)[1], name
            log = up.log_path.read_text()
            for name in ("workers", "hub"):
                assert re.search(
                    rf"{name} exited; restarting in 0\.5s .*child={name} "
                    rf"exit_code=None signal=SIGKILL attempt=1 delay_s=0\.5",
                    log,
                ), log
            assert up.interrupt() == 0
        finally:
            up.close()


def test_up_mailbox_shows_an_order_confirmation(data_dir: Path, servers: ServerURLs) -> None:
    """Without BILTEN_SMTP_URL the workers send to the embedded server; its page shows it all."""
    with _external(servers) as env:
        up = Up(data_dir, env)
        try:
            lines = up.wait_ready()
            mailbox = next(line for line in lines if line.startswith("mailbox")).split()[1]
            assert mailbox.startswith("http://127.0.0.1:")
            assert any(line.startswith("smtp") and "(embedded)" in line for line in lines)
            base = f"http://127.0.0.1:{up.port}/api/v1"
            token = next(line for line in lines if line.startswith("  organizer")).split()[-1]
            status, body = _http("POST", f"{base}/events", token, EVENT)
            assert status == 201, body
            event_id = json.loads(body)["id"]
            type_ = {"name": "General", "price_minor": 1000, "quota": 10}
            status, body = _http("POST", f"{base}/events/{event_id}/ticket-types", token, type_)
            assert status == 201, body
            place = {"ticket_type_id": json.loads(body)["id"], "quantity": 1}
            status, body = _http("POST", f"{base}/events/{event_id}/holds", token, place)
            assert status == 200, body
            confirm = f"{base}/holds/{json.loads(body)['hold_id']}/confirm"
            status, body = _http("POST", confirm, token, {"email": "amra@example.org"})
            assert status == 200, body
            code = json.loads(body)["tickets"][0]["code"]

            def arrived() -> bool:
                return "Your tickets for Restarted" in _http("GET", mailbox)[1]

            _eventually(arrived, "the confirmation in the mailbox")
            status, page = _http("GET", f"{mailbox}messages/1")
            assert status == 200 and code in page
            assert up.interrupt() == 0
        finally:
            up.close()
