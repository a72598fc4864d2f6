"""`bilten scan --pair CODE`: redeem a door device's pairing code, keep its token, scan with it.

docs/accounts.md §Door devices. The code an organizer's pairing shows is
redeemed once (`devices.redeem`) for a long-lived staff token limited to the
pairing's event and gates; the scanner writes the token next to its store,
readable by its user only, and later runs without `--token` use it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bilten.clients import scan, scan_io
from bilten.protocol.devices import normalize_pairing_code
from bilten.protocol.errors import BadRequest, Unavailable, error_from_wire

REDEEM_TIMEOUT_S = 30.0


async def redeem(url: str, code: str) -> dict[str, Any]:
    """The device token and its reach for a pairing code (raises the hub's error)."""
    timeout = aiohttp.ClientTimeout(total=REDEEM_TIMEOUT_S)
    # Public commands want a same-origin request: this client is the hub's own.
    headers = {"Origin": url}
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.post(
                f"{url}/api/v1/devices/redeem",
                json={"code": normalize_pairing_code(code)},
                headers=headers,
            ) as resp,
        ):
            body: dict[str, Any] = orjson.loads(await resp.read())
    except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as error:
        raise Unavailable(f"cannot pair with the hub at {url}: {error!r}") from None
    if resp.status >= 400:
        raise error_from_wire(body.get("error"))
    return body


def token_path(store: Path) -> Path:
    """Where a paired scanner keeps its token: beside its store."""
    return store.with_suffix(".token")


def save_token(path: Path, token: str) -> None:
    """Write the token, readable and writable by the user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(token)


async def scan_options(args: argparse.Namespace, env: Mapping[str, str]) -> scan_io.ScanOptions:
    """The scanner's options with its token: given, redeemed (`--pair`) or saved by a pairing."""
    url = args.url.rstrip("/")
    if args.pair:
        paired = await redeem(url, args.pair)
        if args.event is not None and args.event != paired["event_id"]:
            raise BadRequest(
                f"the pairing is for event {paired['event_id']}, not --event {args.event}",
                field="event",
            )
        args = argparse.Namespace(**{**vars(args), "event": paired["event_id"]})
        args.token = paired["token"]
        opts = scan_io.options(args, env)
        save_token(token_path(opts.store), paired["token"])
        return opts
    if args.event is None:
        raise BadRequest("--event is required (or --pair CODE)", field="event")
    if args.token is None:
        saved = token_path(scan_io.options(args, env).store)
        if not saved.is_file():
            raise BadRequest("give --token, or --pair CODE to pair this scanner", field="token")
        args = argparse.Namespace(**{**vars(args), "token": saved.read_text("ascii").strip()})
    return scan_io.options(args, env)


async def main(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Run `bilten scan` with its token resolved; returns one of scan.EXIT_* statuses."""
    return await scan.run(await scan_options(args, env))
