"""Child processes for benchmarks: pinned to a core, in their own group, killed on exit.

Every process a benchmark starts goes through `Children.spawn`, which puts it in
a new session (so a whole group can be signalled), asks the kernel to kill it
if the benchmark dies (`die_with_parent`), pins it to one core and raises its
open-file limit. `Children` is a context manager: leaving it stops everything,
however the benchmark ended. `ProcStats` reads CPU time and RSS from /proc;
`py_spy` samples a process's stacks.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from bilten.deploy.embedded import die_with_parent

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
STOP_TIMEOUT_S = 8.0


def raise_nofile_limit() -> None:
    """Raise this process's open-file soft limit to the hard limit (a thousand sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pin(cpu: int | None) -> None:
    """Pin this process to `cpu` if the machine has it (no-op for None or a missing core)."""
    if cpu is not None and cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})


def core_plan() -> tuple[int | None, int | None]:
    """(server core, load generator core): the first two usable cores, or no pinning."""
    cores = sorted(os.sched_getaffinity(0))
    return (cores[0], cores[1]) if len(cores) >= 2 else (None, None)


def _child_setup(cpu: int | None) -> None:
    # Runs between fork and exec: only already-imported, async-signal-tolerant calls.
    die_with_parent(signal.SIGKILL)
    pin(cpu)
    raise_nofile_limit()


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """A process's CPU time (seconds) at a wall-clock instant."""

    user: float
    system: float
    wall: float

    def since(self, earlier: CpuTimes) -> dict[str, float]:
        """CPU% (100 = one core) overall, user and system, between two samples."""
        wall = max(self.wall - earlier.wall, 1e-9)
        user, system = self.user - earlier.user, self.system - earlier.system
        return {
            "cpu_pct": 100 * (user + system) / wall,
            "user_pct": 100 * user / wall,
            "sys_pct": 100 * system / wall,
            "seconds": wall,
        }


class ProcStats:
    """CPU and memory of one process, read from /proc (Linux only)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu(self) -> CpuTimes:
        """User and system time so far (proc(5): stat fields 14 and 15)."""
        raw = Path(f"/proc/{self.pid}/stat").read_text()
        fields = raw[raw.rfind(")") + 2 :].split()  # the command name may hold spaces
        return CpuTimes(int(fields[11]) / _TICKS, int(fields[12]) / _TICKS, time.monotonic())

    def rss_kib(self) -> int:
        """Resident set size in KiB (proc(5): statm field 2, in pages)."""
        return int(Path(f"/proc/{self.pid}/statm").read_text().split()[1]) * _PAGE_KIB


@dataclass(slots=True)
class Child:
    """A started process and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None


class Children:
    """Owns every process a benchmark starts; stops them all on exit, newest first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._children: list[Child] = []

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for child in reversed(self._children):
            self.stop(child)

    def spawn(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        cpu: int | None,
        *,
        stdin: int | IO[bytes] | None = subprocess.DEVNULL,
        stdout: int | IO[bytes] | None = None,
    ) -> Child:
        """Start `argv` pinned to `cpu`; output goes to `<log_dir>/<name>.log` unless given."""
        log_path: Path | None = None
        log_file: IO[bytes] | None = None
        if stdout is None:
            log_path = self.log_dir / f"{name}.log"
            log_file = log_path.open("ab")
        try:
            process = subprocess.Popen(
                argv,
                env=env,
                stdin=stdin,
                stdout=stdout if stdout is not None else log_file,
                stderr=log_file if log_file is not None else None,
                start_new_session=True,
                preexec_fn=lambda: _child_setup(cpu),
            )
        finally:
            if log_file is not None:
                log_file.close()
        child = Child(name, process, log_path)
        self._children.append(child)
        return child

    def stop(self, child: Child, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM the child's group, SIGKILL it after `timeout`; idempotent."""
        process = child.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything it left in its group
        if child in self._children:
            self._children.remove(child)


@contextlib.contextmanager
def py_spy(children: Children, pid: int, out: Path | None) -> Iterator[None]:
    """Sample process `pid` with py-spy while inside, into `out` as collapsed stacks.

    `--native` adds uvloop's and libc's frames, which is where a server's time
    goes; it pauses the process for each sample, so what is measured meanwhile
    runs slower. py-spy writes its file on Ctrl-C (SIGINT), not on SIGTERM.
    Does nothing when `out` is None.
    """
    if out is None:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    exe = str(Path(sys.executable).with_name("py-spy"))
    argv = [exe, "record", "--pid", str(pid), "--native", "--rate", "250"]
    child = children.spawn("py-spy", [*argv, "--format", "raw", "--output", str(out)], {}, None)
    try:
        yield
    finally:
        child.process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(STOP_TIMEOUT_S)
        children.stop(child)


def tail(child: Child, lines: int = 30) -> str:
    """The last lines of a child's log, for error messages."""
    if child.log_path is None or not child.log_path.exists():
        return ""
    text = child.log_path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxies


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """One HTTP request to a local server: (status, body); HTTP errors are answers too."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def wait_http_ok(url: str, child: Child, timeout: float) -> None:
    """Poll `url` until it answers 200; raise if the child exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(
                f"{child.name} exited with {child.process.returncode}\n{tail(child)}"
            )
        try:
            if http("GET", url, timeout=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} not ready at {url} after {timeout:.0f}s\n{tail(child)}")
