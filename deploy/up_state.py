"""What `bilten up` tells `bilten status`: `<data_dir>/up.json`.

Rewritten whenever a child starts again (its pid changes) and removed when the
stack stops. It names the stack's own pid, its NATS URL and namespace, and
each supervised process (hubs, workers, NATS cluster nodes): name, role, pid,
restarts and the URL that process alone answers on (/healthz and /metrics, or
NATS's monitoring port).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "up.json"


@dataclass(frozen=True, slots=True)
class ProcessState:
    """One hub or worker process of the stack."""

    name: str
    role: str
    pid: int
    url: str
    restarts: int


@dataclass(frozen=True, slots=True)
class StackState:
    """The running stack, as `bilten status` reads it."""

    pid: int
    hub: str
    nats_url: str
    namespace: str
    processes: tuple[ProcessState, ...]


def write_state(data_dir: Path, state: StackState) -> None:
    """Replace the state file at once (a reader never sees half of it)."""
    path = data_dir / STATE_FILE
    staging = path.with_suffix(".tmp")
    staging.write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
    os.replace(staging, path)


def remove_state(data_dir: Path) -> None:
    """The stack has stopped: nothing to show."""
    (data_dir / STATE_FILE).unlink(missing_ok=True)


def read_state(data_dir: Path) -> StackState | None:
    """The state of the stack running on `data_dir`, or None when none runs."""
    try:
        raw: dict[str, Any] = json.loads((data_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    state = StackState(
        pid=raw["pid"],
        hub=raw["hub"],
        nats_url=raw["nats_url"],
        namespace=raw["namespace"],
        processes=tuple(ProcessState(**p) for p in raw["processes"]),
    )
    try:
        os.kill(state.pid, 0)
    except ProcessLookupError:  # a stack killed before it could remove the file
        return None
    except PermissionError:
        pass
    return state
