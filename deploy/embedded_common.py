"""What the embedded servers share: their error, log tails, package lookup, parent-death signal.

Its own module so that `embedded` (the stack) and `embedded_pg` (PostgreSQL's
cluster) both build on it without importing each other.
"""

from __future__ import annotations

import ctypes
import importlib.util
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from bilten.protocol.errors import BiltenError

_PR_SET_PDEATHSIG = 1
_TAIL_LINES = 40


class EmbeddedServerError(BiltenError):
    """An embedded server could not be prepared or started; the message ends with its log."""

    code = "unavailable"

    def __init__(self, server: str, problem: str, log_tail: str = "") -> None:
        message = f"embedded {server}: {problem}"
        if log_tail:
            message = f"{message}\n--- last lines of the {server} log ---\n{log_tail}"
        super().__init__(message, server=server)
        self.server = server
        self.problem = problem
        self.log_tail = log_tail


def log_tail(path: Path, offset: int = 0) -> str:
    """The last lines of a log file written after `offset` (empty if unreadable)."""
    try:
        with path.open("rb") as file:
            file.seek(max(offset, file.seek(0, 2) - 64 * 1024))
            data = file.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-_TAIL_LINES:])


def package_dir(package: str, server: str) -> Path:
    """Where an installed package lives, found without importing it.

    Importing pgserver has side effects (platformdirs warnings, which the test
    configuration turns into errors); only its binaries are needed.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(server, f"package {package} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


# Resolved once, in the parent: a forked child must not load libraries.
_PRCTL: Callable[..., int] | None = (
    ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
)


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """`preexec_fn` for a child that must not outlive us: `sig` when its parent dies.

    Linux only (a no-op elsewhere). CPython runs `preexec_fn` after switching to
    `user=`/`group=`, and the kernel clears the setting only on credential
    changes and set-user-ID exec, so it also holds for children run as
    another user. It fires when the forking thread exits, not only the process.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
