"""`bilten scan`: the door scanner, online when the hub answers and offline when it does not.

docs/checkin.md §Door CLI. Codes come one per line from standard input (a
USB barcode scanner types like a keyboard) or a file. Each is sent to the hub
(`checkin.scan`, REST, a short timeout); when the hub cannot be reached the
scanner decides alone from the cached bundle, with `protocol.checkin.decide`
and the ticket states in its SQLite store, and queues the scan with its nonce
and verdict. A background task syncs the queue (`checkin.sync`) as soon as
the hub answers again, and refreshes the bundle while online; at the end of
input the scanner makes a last, bounded attempt to sync, then exits.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TextIO

import aiohttp
import orjson

from bilten.clients.scan_io import LineReader, ScanOptions, Screen, verdict_line
from bilten.clients.scan_store import LocalTicket, ScanStore
from bilten.protocol.checkin import TicketState, decide
from bilten.protocol.errors import (
    BadRequest,
    BiltenError,
    Conflict,
    Forbidden,
    NotFound,
    error_from_wire,
)
from bilten.protocol.offline import SyncedScan, encode_sync, parse_bundle
from bilten.protocol.tickets import InvalidCode, public_key_from_text, verify_code

# Exit statuses (docs/checkin.md §Door CLI): a door tool that could not decide
# a code must not look like one that did.
EXIT_OK = 0  # every code decided, nothing left queued
EXIT_CANNOT_START = 2  # bad store, token, event or gate
EXIT_QUEUED = 3  # every code decided, some offline scans not synced yet
EXIT_UNDECIDED = 4  # some code got no verdict (an ERROR line)

SYNC_BATCH = 100  # ~22 KB of JSON: well under the hub's default 64 KiB body limit
MAX_CODE = 512


class HubUnreachable(Exception):
    """The hub did not answer (refused, timed out, or a gateway said it is down)."""


class NoTicketList(BiltenError):
    """Offline before the first bundle: there is nothing to decide with."""

    code = "no_ticket_list"


# Answers about the scan itself; any other error says the hub cannot decide it now.
_SCAN_ERRORS = (BadRequest, Conflict, Forbidden, NotFound)


class Scanner:
    """One door: decides each code online or offline, and keeps the queue moving."""

    def __init__(
        self, opts: ScanOptions, store: ScanStore, http: aiohttp.ClientSession, screen: Screen
    ) -> None:
        self.opts, self.store, self.http, self.screen = opts, store, http, screen
        self.online = True
        self.refreshed: float | None = None  # monotonic time of the last bundle fetch
        self.undecided = 0  # codes shown as ERROR instead of a verdict
        self.wake = asyncio.Event()
        self._api = f"{opts.url}/api/v1/events/{opts.event_id}"

    async def _call(self, method: str, url: str, timeout_s: float, body: Any = None) -> Any:
        try:
            async with self.http.request(
                method, url, json=body, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as resp:
                if resp.status in (502, 503, 504):
                    raise HubUnreachable(f"hub answered {resp.status}")
                data = orjson.loads(await resp.read())
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as error:
            raise HubUnreachable(str(error) or type(error).__name__) from None
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            raise error_from_wire(data["error"])
        return data

    def mark_offline(self, why: str) -> None:
        """The hub did not answer: decide offline until it does again."""
        if self.online:
            self.screen.note(f"hub unreachable ({why}): deciding offline")
            self.wake.set()  # start retrying; later failures wait for the retry interval
        self.online = False

    async def refresh(self) -> None:
        """Fetch the bundle and replace the local ticket list (raises HubUnreachable)."""
        bundle = parse_bundle(await self._call("GET", f"{self._api}/checkin-bundle", 30.0))
        self.store.save_bundle(bundle)
        self.refreshed = time.monotonic()
        if bundle.gates and self.opts.gate not in bundle.gates:
            raise BadRequest(
                f"no gate {self.opts.gate!r} at this event (gates: {', '.join(bundle.gates)})",
                field="gate",
            )

    async def sync(self) -> bool:
        """Upload the queue; True when it is empty and the hub answered."""
        answered = False
        try:
            while batch := self.store.pending(SYNC_BATCH):
                try:
                    await self._sync_batch(batch)
                except (BadRequest, Conflict):
                    for scan in batch:  # find the scans the hub refuses, keep the others
                        try:
                            await self._sync_batch([scan])
                        except (BadRequest, Conflict) as error:
                            self.store.mark([(scan.nonce, error.to_wire())], "refused")
                            self.screen.note(f"hub refused {scan.nonce}: {error.message}")
                answered = True
            if not self.online and not answered:
                await self._call("GET", f"{self.opts.url}/readyz", self.opts.timeout_s)
        except HubUnreachable as error:
            self.mark_offline(str(error))
            return False
        except BiltenError as error:  # e.g. an expired token: the queue stays for later
            self.screen.note(f"sync failed: {error.code}: {error.message}")
            return False
        if not self.online:
            self.online = True
            self.screen.note("hub reachable again: deciding online")
            self.refreshed = None  # others scanned meanwhile: fetch the bundle again
        return True

    async def _sync_batch(self, batch: list[SyncedScan]) -> None:
        body = encode_sync(self.store.device, batch)
        reply = await self._call(
            "POST", f"{self._api}/checkins/sync", self.opts.sync_timeout_s, body
        )
        results = reply["results"]
        self.store.mark((scan.nonce, verdict) for scan, verdict in zip(batch, results, strict=True))
        conflicts = [v for v in results if v["status"] == "conflict"]
        self.screen.note(f"synced {len(batch)} scans ({len(conflicts)} in conflict)")
        for v in conflicts:
            self.screen.note(
                f"{verdict_line(v, offline=True)}: ticket {v['ticket']['id']}"
                f" ({v['ticket']['holder']}), nonce {v['nonce']}"
            )

    async def keep_in_sync(self) -> None:
        """Background: sync while anything is queued or the hub is away; refresh the bundle."""
        while True:
            interval = (
                self.opts.retry_interval_s
                if not self.online or self.store.pending_count()
                else self.opts.refresh_interval_s
            )
            try:
                # Not wait_for: in Python 3.11 it can swallow a cancellation that
                # arrives as the event is set.
                async with asyncio.timeout(interval):
                    await self.wake.wait()
            except TimeoutError:
                pass
            self.wake.clear()
            if (not self.online or self.store.pending_count()) and not await self.sync():
                continue
            if (
                self.refreshed is None
                or time.monotonic() - self.refreshed >= self.opts.refresh_interval_s
            ):
                try:
                    await self.refresh()
                except HubUnreachable as error:
                    self.mark_offline(str(error))
                except BiltenError as error:
                    self.screen.note(f"bundle refresh failed: {error.message}")

    async def handle(self, code: str) -> None:
        """Decide one scanned code and show the verdict."""
        if len(code) > MAX_CODE:
            self.screen.show({"status": "rejected", "reason": "invalid"}, offline=not self.online)
            return
        nonce = self.store.next_nonce()
        now = datetime.now(UTC)
        if self.online:
            params = {
                "code": code,
                "gate": self.opts.gate,
                "direction": self.opts.direction,
                "nonce": nonce,
                "scanned_at": now.isoformat(),
            }
            try:
                verdict = await self._call(
                    "POST", f"{self._api}/checkins", self.opts.timeout_s, params
                )
            except HubUnreachable as error:
                self.mark_offline(str(error))
            except _SCAN_ERRORS as error:
                self.undecided += 1
                self.screen.error(error)
                return
            except BiltenError as error:
                self.screen.note(
                    f"hub cannot decide ({error.code}: {error.message}): deciding offline"
                )
            else:
                self.store.learn(verdict)
                self.screen.show(verdict, offline=False)
                return
        self._decide_offline(code, nonce, now)

    def _decide_offline(self, code: str, nonce: str, now: datetime) -> None:
        info = self.store.bundle_info()
        if info is None:
            self.undecided += 1
            self.screen.error(NoTicketList("offline and no ticket list yet: cannot decide"))
            return
        verdict: dict[str, Any] = {"status": "rejected", "reason": "invalid", "ticket": None}
        ticket: LocalTicket | None = None
        try:
            ref = verify_code(code, public_key_from_text(info.public_key))
        except InvalidCode:
            ref = None
        if ref is not None and ref.event_id != self.opts.event_id:
            verdict["reason"] = "wrong_event"
        elif ref is not None:
            ticket = self.store.ticket(ref.ticket_id)
            if ticket is None and ref.ticket_id > info.max_ticket_id:
                # Signed by the event key, so issued: only after the bundle was made.
                ticket = LocalTicket(ref.ticket_id, "?", "?", TicketState(valid=True))
            verdict["reason"] = "unknown"
        if ticket is not None:
            decision = decide(
                ticket.state,
                self.opts.direction,
                self.opts.gate,
                now,
                allowed_gates=info.allowed_gates,
                allow_reentry=info.allow_reentry,
            )
            verdict.update(
                status=decision.status,
                reason=decision.reason,
                ticket={"holder": ticket.holder, "type": ticket.type},
                previous=decision.previous.to_wire()
                if decision.previous
                else (
                    {"gate": ticket.state.last_gate, "at": None} if ticket.state.last_gate else None
                ),
            )
            if decision.status == "ok":
                self.store.put_ticket(replace(ticket, state=decision.state))
        verdict.update(direction=self.opts.direction, inside=self.store.inside_count())
        self.store.enqueue(
            SyncedScan(
                code,
                self.opts.gate,
                self.opts.direction,
                now,
                nonce,
                "ok" if verdict["status"] == "ok" else "rejected",
            ),
            ticket.id if ticket else None,
        )
        self.screen.show(verdict, offline=True)

    async def final_sync(self) -> None:
        """At the end of input: try to empty the queue, for at most `final_sync_s`."""
        try:
            async with asyncio.timeout(self.opts.final_sync_s):
                while self.store.pending_count():
                    if await self.sync():
                        break
                    await asyncio.sleep(min(0.5, self.opts.retry_interval_s))
        except TimeoutError:
            pass


async def run(
    opts: ScanOptions,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
) -> int:
    """Scan until the input ends (or SIGINT/SIGTERM); returns one of the EXIT_* statuses."""
    screen = Screen(stdout, stderr)
    try:
        store = ScanStore(opts.store, opts.event_id)
    except BiltenError as error:
        screen.note(error.message)
        return EXIT_CANNOT_START
    headers = {"Authorization": f"Bearer {opts.token}"}
    try:
        async with aiohttp.ClientSession(headers=headers) as http:
            scanner = Scanner(opts, store, http, screen)
            try:
                await scanner.sync()
                if scanner.online:
                    await scanner.refresh()
            except HubUnreachable as error:
                scanner.mark_offline(str(error))
            except BiltenError as error:
                screen.note(f"cannot start: {error.message}")
                return EXIT_CANNOT_START
            if scanner.store.bundle_info() is None:
                screen.note("no ticket list yet: offline scans cannot be decided")
            reader = LineReader(opts.file or stdin, asyncio.get_running_loop())
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, reader.stop)
            background = loop.create_task(scanner.keep_in_sync())
            try:
                while (line := await reader.next()) is not None:
                    if line.strip():
                        await scanner.handle(line.strip())
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
                background.cancel()
                await asyncio.wait([background])
                if not background.cancelled() and background.exception() is not None:
                    screen.note(f"background sync failed: {background.exception()!r}")
            await scanner.final_sync()
        left = store.pending_count()
        if left:
            screen.note(f"{left} scans still queued in {opts.store}: run again to sync them")
        if scanner.undecided:
            screen.note(f"{scanner.undecided} codes got no verdict (ERROR)")
            return EXIT_UNDECIDED
        return EXIT_QUEUED if left else EXIT_OK
    finally:
        store.close()
