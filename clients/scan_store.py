"""The door scanner's local memory: the ticket list, ticket states and the offline queue.

One SQLite file per event (docs/checkin.md §Door CLI). It holds the last
bundle (so a scanner that starts without a network still decides), each
ticket's state as this device knows it, and every scan decided offline
until the hub has stored it. The file also keeps the device id and the nonce
sequence, so nonces stay unique across restarts. Every write commits at once
(`synchronous=FULL`): a scan shown at the door is on disk.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from bilten.protocol.checkin import TicketState
from bilten.protocol.errors import BiltenError
from bilten.protocol.offline import Bundle, SyncedScan, initials

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tickets (
    id        INTEGER PRIMARY KEY,
    type      TEXT    NOT NULL,
    holder    TEXT    NOT NULL,
    valid     INTEGER NOT NULL,
    inside    INTEGER NOT NULL,
    entries   INTEGER NOT NULL,
    last_gate TEXT,
    last_at   TEXT
);
CREATE TABLE IF NOT EXISTS queue (
    seq        INTEGER PRIMARY KEY,
    nonce      TEXT NOT NULL UNIQUE,
    ticket_id  INTEGER,
    code       TEXT NOT NULL,
    gate       TEXT NOT NULL,
    direction  TEXT NOT NULL,
    scanned_at TEXT NOT NULL,
    verdict    TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'synced', 'refused')),
    result     TEXT
);
"""


class StoreError(BiltenError):
    """The store file cannot serve this scanner (another event, unreadable)."""

    code = "bad_store"


@dataclass(frozen=True, slots=True)
class BundleInfo:
    """The bundle's event-wide part, as last fetched."""

    public_key: str
    gates: tuple[str, ...]
    allowed_gates: tuple[str, ...] | None
    allow_reentry: bool
    generated_at: datetime
    max_ticket_id: int  # a valid code for a higher id was issued after the bundle


@dataclass(frozen=True, slots=True)
class LocalTicket:
    """A ticket as this device knows it."""

    id: int
    type: str
    holder: str  # initials from the bundle, or the full name from an online verdict
    state: TicketState


class ScanStore:
    """The SQLite store of one scanner for one event."""

    def __init__(self, path: Path, event_id: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            stored = self._meta("event_id")
            if stored is not None and stored != str(event_id):
                raise StoreError(f"{path} belongs to event {stored}, not {event_id}")
            self._set("event_id", str(event_id))
            device = self._meta("device")
            if device is None:
                device = f"scan-{secrets.token_hex(4)}"
                self._set("device", device)
        except (sqlite3.Error, StoreError) as error:
            self._db.close()
            if isinstance(error, StoreError):
                raise
            raise StoreError(f"cannot use {path}: {error}") from None
        self.device = device

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key)"
            " DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def next_nonce(self) -> str:
        """A nonce never used by this device: its id and a persisted sequence number."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            seq = int(self._meta("seq") or 0) + 1
            self._set("seq", str(seq))
        return f"{self.device}:{seq:06d}"

    def bundle_info(self) -> BundleInfo | None:
        """The last bundle's event-wide part, or None before the first fetch."""
        raw = self._meta("bundle")
        if raw is None:
            return None
        data = orjson.loads(raw)
        allowed = data["allowed_gates"]
        return BundleInfo(
            data["public_key"],
            tuple(data["gates"]),
            None if allowed is None else tuple(allowed),
            data["allow_reentry"],
            datetime.fromisoformat(data["generated_at"]),
            data["max_ticket_id"],
        )

    def save_bundle(self, bundle: Bundle) -> None:
        """Replace the ticket list; tickets with scans still queued keep their local state."""
        keep = {
            row[0]
            for row in self._db.execute(
                "SELECT ticket_id FROM queue WHERE state = 'pending' AND ticket_id IS NOT NULL"
            )
        }
        info = {
            "public_key": bundle.public_key,
            "gates": list(bundle.gates),
            "allowed_gates": bundle.allowed_gates,
            "allow_reentry": bundle.allow_reentry,
            "generated_at": bundle.generated_at.isoformat(),
            "max_ticket_id": max((t.id for t in bundle.tickets), default=0),
        }
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "DELETE FROM tickets WHERE id NOT IN (SELECT value FROM json_each(?))",
                (orjson.dumps(sorted(keep)).decode(),),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO tickets VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    (
                        t.id,
                        t.type,
                        t.initials,
                        not t.revoked,
                        t.inside_gate is not None,
                        int(t.entered),
                        t.inside_gate,
                    )
                    for t in bundle.tickets
                ),
            )
            self._set("bundle", orjson.dumps(info).decode())

    def ticket(self, ticket_id: int) -> LocalTicket | None:
        """One ticket's local state."""
        row = self._db.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        if row is None:
            return None
        last_at = None if row[7] is None else datetime.fromisoformat(row[7])
        return LocalTicket(
            row[0], row[1], row[2], TicketState(bool(row[3]), bool(row[4]), row[5], row[6], last_at)
        )

    def put_ticket(self, ticket: LocalTicket) -> None:
        """Record a ticket's new local state."""
        s = ticket.state
        self._db.execute(
            "INSERT OR REPLACE INTO tickets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ticket.id,
                ticket.type,
                ticket.holder,
                s.valid,
                s.inside,
                s.entries,
                s.last_gate,
                None if s.last_at is None else s.last_at.isoformat(),
            ),
        )

    def learn(self, verdict: Mapping[str, Any]) -> None:
        """Bring the local state of the ticket in line with the hub's verdict."""
        info = verdict.get("ticket")
        if not info:
            return
        known = self.ticket(info["id"])
        state = known.state if known else TicketState(valid=True)
        previous = verdict.get("previous") or {}
        reason, entries = verdict.get("reason"), max(state.entries, 1)
        if verdict["status"] == "ok":
            at = datetime.fromisoformat(verdict["scanned_at"])
            inside = verdict["direction"] == "in"
            state = TicketState(True, inside, state.entries + inside, verdict["gate"], at)
        elif reason == "already_inside" and previous.get("at"):
            state = TicketState(
                True, True, entries, previous["gate"], datetime.fromisoformat(previous["at"])
            )
        elif reason in ("not_inside", "reentry_forbidden"):
            state = replace(
                state,
                inside=False,
                entries=entries if reason == "reentry_forbidden" else state.entries,
            )
        state = replace(state, valid=info["state"] == "valid")
        self.put_ticket(LocalTicket(info["id"], info["type"], initials(info["holder"]), state))

    def inside_count(self) -> int:
        """People inside as this device knows it (the bundle plus what it saw since)."""
        return int(self._db.execute("SELECT count(*) FROM tickets WHERE inside").fetchone()[0])

    def enqueue(self, scan: SyncedScan, ticket_id: int | None) -> None:
        """Queue a scan decided offline, until the hub stores it."""
        self._db.execute(
            "INSERT INTO queue (nonce, ticket_id, code, gate, direction, scanned_at, verdict)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                scan.nonce,
                ticket_id,
                scan.code,
                scan.gate,
                scan.direction,
                scan.scanned_at.isoformat(),
                scan.verdict,
            ),
        )

    def pending(self, limit: int) -> list[SyncedScan]:
        """The oldest queued scans not yet stored by the hub."""
        rows = self._db.execute(
            "SELECT code, gate, direction, scanned_at, nonce, verdict FROM queue"
            " WHERE state = 'pending' ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [
            SyncedScan(code, gate, direction, datetime.fromisoformat(at), nonce, verdict)
            for code, gate, direction, at, nonce, verdict in rows
        ]

    def pending_count(self) -> int:
        """How many scans wait for the hub."""
        return int(
            self._db.execute("SELECT count(*) FROM queue WHERE state = 'pending'").fetchone()[0]
        )

    def mark(self, results: Iterable[tuple[str, Any]], state: str = "synced") -> None:
        """Record the hub's answer for queued scans: (nonce, stored verdict or error)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "UPDATE queue SET state = ?, result = ? WHERE nonce = ?",
                ((state, orjson.dumps(result).decode(), nonce) for nonce, result in results),
            )
