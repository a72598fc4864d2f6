"""Logging set-up for entry points: text for people, JSON lines for machines.

Only entry points call `configure_logging`. Modules log with
`logging.getLogger(__name__)` and put context (conn id, event id, message id)
in `extra={"ctx": {...}}`; both formats render it.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "ctx"}


def _context(record: logging.LogRecord) -> dict[str, Any]:
    ctx: dict[str, Any] = dict(getattr(record, "ctx", None) or {})
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            ctx[key] = value
    return ctx


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, context fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_context(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """`HH:MM:SS level logger: message key=value …` for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        ctx = " ".join(f"{k}={v}" for k, v in _context(record).items())
        line = f"{stamp} {record.levelname.lower():7} {record.name}: {record.getMessage()}"
        if ctx:
            line = f"{line} {ctx}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def configure_logging(fmt: str, level: str = "INFO") -> None:
    """Install one stderr handler on the root logger with the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log is per request; our metrics cover it.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
