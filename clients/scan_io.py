"""The door scanner's command line and terminal: options, codes in, one verdict per code out.

On a terminal each verdict is a large coloured block (green OK, red
REJECTED, yellow CONFLICT, magenta ERROR) and a rejection rings the bell;
otherwise it is one plain line per code that scripts and tests can parse
(docs/checkin.md §Door CLI):

    OK  Amra H. (General) inside=12
    REJECTED already_inside north 19:02
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from bilten.protocol.checkin import Direction
from bilten.protocol.errors import BadRequest, BiltenError

_COLOURS = {"OK": "42", "REJECTED": "41", "CONFLICT": "43", "ERROR": "45"}
_WIDTH = 48


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """What `bilten scan` was asked to do."""

    url: str
    token: str
    event_id: int
    gate: str
    direction: Direction
    store: Path
    file: Path | None = None
    timeout_s: float = 2.0
    sync_timeout_s: float = 10.0
    retry_interval_s: float = 5.0
    refresh_interval_s: float = 300.0
    final_sync_s: float = 10.0


def options(args: argparse.Namespace, env: Mapping[str, str]) -> ScanOptions:
    """ScanOptions from the parsed command line (the store defaults to the user's data dir)."""
    if args.file and not Path(args.file).is_file():
        raise BadRequest(f"--file {args.file}: no such file", field="file")
    return ScanOptions(
        args.url.rstrip("/"),
        args.token,
        args.event,
        args.gate,
        args.direction,
        Path(args.store) if args.store else default_store(env, args.event),
        Path(args.file) if args.file else None,
        args.timeout,
        retry_interval_s=args.retry_interval,
        refresh_interval_s=args.refresh_interval,
        final_sync_s=args.final_sync,
    )


def default_store(env: Mapping[str, str], event_id: int) -> Path:
    """The store file under the user's data directory (XDG on Linux)."""
    if sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "bilten" / f"scan-event-{event_id}.sqlite3"


def _clock(at: str) -> str:
    """A verdict time as the door's wall clock shows it."""
    return datetime.fromisoformat(at).astimezone().strftime("%H:%M")


def verdict_line(verdict: Mapping[str, Any], *, offline: bool) -> str:
    """The plain, one-line form of a verdict."""
    ticket = verdict.get("ticket") or {}
    if verdict["status"] == "ok":
        parts = ["OK ", f"{ticket.get('holder', '?')} ({ticket.get('type', '?')})"]
        if verdict.get("direction") == "out":
            parts.append("out")
        parts.append(f"inside={verdict.get('inside')}")
    else:
        parts = [str(verdict["status"]).upper(), str(verdict.get("reason") or "unknown")]
        previous = verdict.get("previous") or {}
        if previous.get("gate"):
            parts.append(previous["gate"])
        if previous.get("at"):
            parts.append(_clock(previous["at"]))
    if offline:
        parts.append("offline")
    return " ".join(parts)


class Screen:
    """Where verdicts (stdout) and notes for the operator (stderr) go."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err
        self.tty = out.isatty()

    def _write(self, line: str) -> None:
        if not self.tty:
            print(line, file=self.out, flush=True)
            return
        word, _, rest = line.partition(" ")
        colour = _COLOURS.get(word, "45")
        width = max(_WIDTH, len(line) + 8)
        blank = f"\x1b[{colour}m{' ' * width}\x1b[0m"
        text = f"   {word}   {rest.strip()}".ljust(width)
        bell = "" if word == "OK" else "\a"
        self.out.write(f"{blank}\n\x1b[1;97;{colour}m{text}\x1b[0m\n{blank}{bell}\n")
        self.out.flush()

    def show(self, verdict: Mapping[str, Any], *, offline: bool) -> None:
        """Show one verdict."""
        self._write(verdict_line(verdict, offline=offline))

    def error(self, error: BiltenError) -> None:
        """Show a scan that got no verdict."""
        self._write(f"ERROR {error.code} {error.message}")

    def note(self, text: str) -> None:
        """Tell the operator something about the scanner itself."""
        print(f"bilten scan: {text}", file=self.err, flush=True)


class LineReader:
    """Lines from a blocking text stream (a terminal, a pipe) or a file, read by a thread.

    The thread hands lines over through a bounded queue, so a long file is
    read no faster than codes are decided. `stop` ends the input early.
    """

    def __init__(
        self, source: TextIO | Path, loop: asyncio.AbstractEventLoop, size: int = 64
    ) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(size)
        self._stopped = asyncio.Event()
        self._loop = loop
        # A daemon: a thread blocked reading a terminal must not keep the process alive.
        threading.Thread(target=self._pump, args=(source,), name="scan-input", daemon=True).start()

    def _pump(self, source: TextIO | Path) -> None:
        try:
            if isinstance(source, Path):
                with open(source, encoding="utf-8", errors="replace") as stream:
                    self._feed(stream)
            else:
                self._feed(source)
        except (OSError, ValueError, RuntimeError) as error:
            # The stream or the loop closed under us: the input is over either way.
            print(f"bilten scan: input ended: {error}", file=sys.stderr)
        try:
            asyncio.run_coroutine_threadsafe(self._queue.put(None), self._loop)
        except RuntimeError:
            pass

    def _feed(self, stream: TextIO) -> None:
        for line in stream:
            asyncio.run_coroutine_threadsafe(self._queue.put(line), self._loop).result()

    def stop(self) -> None:
        """End the input now (SIGINT, SIGTERM)."""
        self._stopped.set()

    async def next(self) -> str | None:
        """The next line, or None at the end of the input."""
        if self._stopped.is_set():
            return None
        getter = asyncio.ensure_future(self._queue.get())
        stopper = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait((getter, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not getter.done():
                getter.cancel()
        return getter.result() if getter.done() and not getter.cancelled() else None
