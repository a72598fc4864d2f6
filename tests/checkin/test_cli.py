"""`bilten scan` as door staff run it: a subprocess fed codes on stdin, against a hub that
goes away and comes back on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from bilten.infra.settings import Settings, settings_env
from tests.checkin.helpers import door_setup, scan
from tests.hub.helpers import Raw, connect
from tests.ready import free_port
from tests.waiting import WAIT_S, arrives, wait_for

CLI = (sys.executable, "-m", "bilten.deploy.cli")
CLOCK = r"\d\d:\d\d"
# The scanner's hub timeouts, far above any healthy answer: on a busy machine a slow reply
# must not send it offline (tests that want it offline stop the hub).
PATIENT = ("--timeout", str(WAIT_S), "--final-sync", str(WAIT_S))


@contextlib.asynccontextmanager
async def hub_process(settings: Settings, port: int, log: TextIO) -> AsyncIterator[None]:
    """`bilten hub` on `port` until the block ends; ready when /readyz says so."""
    env = {**os.environ, **settings_env(settings.replace(port=port))}
    proc = await asyncio.create_subprocess_exec(*CLI, "hub", env=env, stdout=log, stderr=log)
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                assert proc.returncode is None, "hub exited"
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        return resp.status == 200
                return False

            await wait_for(ready, what=f"the hub on port {port} to be ready")
        yield
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), WAIT_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()


class Door:
    """The scanner subprocess: write a code, read its verdict line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def scan(self, code: str) -> str:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(code.encode() + b"\n")
        await self.proc.stdin.drain()
        line = await arrives(self.proc.stdout.readline(), what=f"a verdict for {code[:16]}")
        return line.decode().rstrip("\n")


async def wait_for_scans(raw: Raw, event_id: int, count: int) -> list[dict[str, Any]]:
    """Until the hub lists `count` scans synced from offline; all of the event's scans."""

    async def synced() -> list[dict[str, Any]]:
        scans = list((await raw.call("checkin.list", {"event_id": event_id}))["result"]["scans"])
        return scans if len([s for s in scans if s["offline"]]) >= count else []

    return await wait_for(synced, what=f"{count} offline scans synced")


async def wait_for_note(path: Path, text: str) -> None:
    """Until the scanner has told its operator `text` (on stderr, written to `path`)."""

    async def noted() -> bool:
        return text in await asyncio.to_thread(path.read_text)

    await wait_for(noted, what=f"the scanner to note {text!r}")


async def test_scanner_goes_on_offline_and_syncs(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any, tmp_path: Path
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer, count=4)
    codes = [t["code"] for t in door.tickets]
    other_door = await connect(client, make_token("staff", events=[door.event_id], sub="s2"))
    port, store = free_port(), tmp_path / "door.sqlite3"
    args = [
        "scan",
        "--url",
        f"http://127.0.0.1:{port}",
        "--event",
        str(door.event_id),
        "--token",
        make_token("staff", events=[door.event_id]),
        "--gate",
        "north",
        "--store",
        str(store),
        "--retry-interval",
        "0.2",
        *PATIENT,
    ]
    log = (tmp_path / "hub.log").open("w")
    errors = (tmp_path / "scan.err").open("w")
    proc: asyncio.subprocess.Process | None = None
    try:
        async with hub_process(workers, port, log):
            proc = await asyncio.create_subprocess_exec(
                *CLI,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
            scanner = Door(proc)
            assert await scanner.scan(codes[0]) == "OK  Amra H. (General) inside=1"
            assert re.fullmatch(
                f"REJECTED already_inside north {CLOCK}", await scanner.scan(codes[0])
            )
        # The hub is gone: the scanner decides alone, from the bundle and what it saw.
        assert await scanner.scan(codes[1]) == "OK  A.H. (General) inside=2 offline"
        assert re.fullmatch(
            f"REJECTED already_inside north {CLOCK} offline", await scanner.scan(codes[1])
        )
        assert re.fullmatch(
            f"REJECTED already_inside north {CLOCK} offline", await scanner.scan(codes[0])
        )
        assert await scanner.scan("not a ticket") == "REJECTED invalid offline"
        # Another door, still online, admitted ticket 2 before; ticket 3 after this one.
        await scan(other_door, door.event_id, codes[2], "south")
        assert await scanner.scan(codes[2]) == "OK  A.H. (General) inside=3 offline"
        assert await scanner.scan(codes[3]) == "OK  A.H. (General) inside=4 offline"
        late = await scan(other_door, door.event_id, codes[3], "south")
        assert late["status"] == "ok"
        with contextlib.closing(sqlite3.connect(store)) as db:
            assert db.execute("SELECT count(*) FROM queue WHERE state = 'pending'").fetchone() == (
                6,
            )

        async with hub_process(workers, port, log):
            scans = await wait_for_scans(organizer, door.event_id, 6)
            mine = [s for s in scans if s["offline"]]
            ticket = {t["id"]: n for n, t in enumerate(door.tickets)}
            assert [
                (ticket.get((s["ticket"] or {}).get("id")), s["status"], s["reason"]) for s in mine
            ] == [
                (1, "ok", None),
                (1, "rejected", "already_inside"),
                (0, "rejected", "already_inside"),
                (None, "rejected", "invalid"),
                (2, "conflict", "already_inside"),
                (3, "ok", None),
            ]
            conflicts = (
                await organizer.call("checkin.list", {"event_id": door.event_id, "conflicts": 1})
            )["result"]
            assert sorted(
                (ticket[s["ticket"]["id"]], s["offline"]) for s in conflicts["scans"]
            ) == [(2, True), (3, False)]
            assert conflicts["inside"] == 4
            # Back online: verdicts come from the hub again.
            await wait_for_note(tmp_path / "scan.err", "hub reachable again")
            assert re.fullmatch(
                f"REJECTED already_inside north {CLOCK}", await scanner.scan(codes[1])
            )
            assert proc.stdin
            proc.stdin.close()
            assert await arrives(proc.wait(), what="the scanner to exit") == 0
        with contextlib.closing(sqlite3.connect(store)) as db:
            assert db.execute("SELECT state, count(*) FROM queue GROUP BY state").fetchall() == [
                ("synced", 6)
            ]
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()
        errors.close()
        print((tmp_path / "scan.err").read_text(), (tmp_path / "hub.log").read_text()[-3000:])


async def test_scanner_refuses_a_gate_the_event_lacks(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any, tmp_path: Path
) -> None:
    client = await aiohttp_client(hub_server)
    door = await door_setup(await connect(client, make_token("organizer")), count=1)
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "scan",
        "--url",
        str(client.make_url("")).rstrip("/"),
        "--event",
        str(door.event_id),
        "--token",
        make_token("staff", events=[door.event_id]),
        "--gate",
        "west",
        "--store",
        str(tmp_path / "s.sqlite3"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _out, err = await arrives(proc.communicate(b""), what="the scanner to exit")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 2 and b"no gate 'west'" in err, err


async def run_scanner(*args: str, codes: list[str], tmp_path: Path) -> tuple[int, str, str]:
    """One run of the scanner over a file of codes: (exit status, stdout, stderr)."""
    source = tmp_path / "codes.txt"
    source.write_text("".join(f"{code}\n" for code in codes))
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "scan",
        *args,
        "--file",
        str(source),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await arrives(proc.communicate(), what="the scanner to exit")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_scanner_starts_offline_from_its_store(
    hub_server: Any, aiohttp_client: Any, make_token: Any, tmp_path: Path
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    door = await door_setup(organizer, count=2)
    codes = [t["code"] for t in door.tickets]
    common = [
        "--event",
        str(door.event_id),
        "--gate",
        "south",
        "--store",
        str(tmp_path / "s.sqlite3"),
        "--token",
        make_token("staff", events=[door.event_id]),
        *PATIENT,
    ]
    live = str(client.make_url("")).rstrip("/")
    assert await run_scanner("--url", live, *common, codes=codes[:1], tmp_path=tmp_path) == (
        0,
        "OK  Amra H. (General) inside=1\n",
        "",
    )

    dead = f"http://127.0.0.1:{free_port()}"
    # Nothing can sync to a dead hub: a short final sync fails the same as a long one.
    status, out, err = await run_scanner(
        "--url", dead, *common, "--final-sync", "0.5", codes=codes, tmp_path=tmp_path
    )
    assert status == 3 and "2 scans still queued" in err, err
    first, second = out.splitlines()
    assert re.fullmatch(f"REJECTED already_inside south {CLOCK} offline", first)
    assert second == "OK  A.H. (General) inside=2 offline"

    status, out, err = await run_scanner("--url", live, *common, codes=[], tmp_path=tmp_path)
    assert (status, out) == (0, ""), err
    listing = (await organizer.call("checkin.list", {"event_id": door.event_id}))["result"]
    assert [(s["offline"], s["status"]) for s in listing["scans"]] == [
        (False, "ok"),
        (True, "rejected"),
        (True, "ok"),
    ]
    assert listing["inside"] == 2


async def test_scanner_that_cannot_decide_exits_non_zero(tmp_path: Path) -> None:
    """Offline before any ticket list: `ERROR no_ticket_list`, and the exit status says so."""
    dead = f"http://127.0.0.1:{free_port()}"
    status, out, err = await run_scanner(
        "--url",
        dead,
        "--event",
        "1",
        "--gate",
        "north",
        "--token",
        "t",
        "--store",
        str(tmp_path / "s.sqlite3"),
        "--final-sync",
        "0.5",
        codes=["some-code"],
        tmp_path=tmp_path,
    )
    assert out.startswith("ERROR no_ticket_list"), out
    assert status == 4, err
    assert "1 codes got no verdict" in err
