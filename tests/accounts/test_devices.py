"""Door devices: pairing by one-time code, the device token's reach, usage, revocation."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest

from bilten.clients import scan, scan_pair
from bilten.clients.scan_io import default_store
from bilten.deploy.cli import build_parser
from bilten.infra.settings import Settings
from bilten.protocol.errors import NotFound
from tests.accounts.helpers import Browser
from tests.hub.helpers import EVENT, connect
from tests.waiting import wait_for


async def _org_with_event(aiohttp_client: Any, hub_server: Any, email: str) -> dict[str, Any]:
    """An owner's browser, organization, organizer token, an event with gates and a ticket."""
    owner = Browser(await aiohttp_client(hub_server))
    org = (await owner.signup(email, organization=f"Org of {email}"))["memberships"][0]["org"]
    bearer = {"bearer": await owner.token(org), "origin": None}
    event = await owner.call("events.create", **bearer, **EVENT)
    as_organizer = {**bearer, "event_id": event["id"]}
    await owner.call("gates.set", gates=["north", "south"], **as_organizer)
    kind = await owner.call("tickettypes.create", name="General", price_minor=0, **as_organizer)
    issued = await owner.call(
        "tickets.issue", ticket_type_id=kind["id"], holder="Amra", count=2, **as_organizer
    )
    codes = [t["code"] for t in issued["tickets"]]
    return {"owner": owner, "org": org, "event": event["id"], "codes": codes, **bearer}


async def _pair(setup: dict[str, Any], **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    owner: Browser = setup["owner"]
    pairing = await owner.call(
        "orgs.devices.pair", org=setup["org"], event_id=setup["event"], name="North door", **params
    )
    device = await owner.call("devices.redeem", code=pairing["code"])
    return pairing, device


async def test_a_paired_device_scans_at_its_gate_and_is_counted(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    setup = await _org_with_event(aiohttp_client, hub_server, "owner@example.org")
    owner: Browser = setup["owner"]
    pairing, device = await _pair(setup, gates=["north"])
    assert pairing["url"].endswith(f"/pair#code={pairing['code']}")
    assert pairing["qr_svg"].startswith("<?xml") and "<svg" in pairing["qr_svg"]
    assert (device["org"], device["event_id"], device["gates"]) == (
        setup["org"],
        setup["event"],
        ["north"],
    )
    # Single use: the code is spent.
    status, error = await owner.error("devices.redeem", code=pairing["code"])
    assert (status, error["code"]) == (404, "not_found")

    scan = {"bearer": device["token"], "origin": None, "event_id": setup["event"]}
    for code in setup["codes"]:
        status, verdict, _ = await owner.raw("checkin.scan", code=code, gate="north", **scan)
        assert (status, verdict["status"]) == (200, "ok"), verdict
    status, verdict, _ = await owner.raw(
        "checkin.scan", code=setup["codes"][0], gate="south", **scan
    )
    assert verdict["reason"] == "gate_not_allowed", verdict
    # A device token reaches its event only: no organizer command, no other event.
    status, _, _ = await owner.raw("events.update", name="Renamed", **scan)
    assert status == 403
    other = await owner.call("events.create", bearer=setup["bearer"], origin=None, **EVENT)
    status, _, _ = await owner.raw(
        "gates.list", bearer=device["token"], origin=None, event_id=other["id"]
    )
    assert status == 403

    async def counted() -> dict[str, Any]:
        [listed] = (await owner.call("orgs.devices.list", org=setup["org"]))["devices"]
        assert listed["scans"] == 3, listed
        return dict(listed)

    listed = await wait_for(counted, what="the device's scans to be counted")
    assert listed["id"] == device["device_id"] and listed["name"] == "North door"
    assert listed["last_seen_at"] is not None and listed["revoked_at"] is None


async def test_a_revoked_device_is_refused_and_its_socket_closed(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    setup = await _org_with_event(aiohttp_client, hub_server, "owner@example.org")
    owner: Browser = setup["owner"]
    _, device = await _pair(setup)
    socket = await connect(owner.client, device["token"])
    revoked = await owner.call(
        "orgs.devices.revoke", org=setup["org"], device_id=device["device_id"]
    )
    assert revoked["revoked_at"] is not None
    # Refused on its very next request: the revocation reached the hub before the answer.
    status, body, _ = await owner.raw(
        "gates.list", bearer=device["token"], origin=None, event_id=setup["event"]
    )
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert (await socket.until("disconnect"))["code"] == "unauthorized"
    # The owner's own tokens are untouched.
    status, _, _ = await owner.raw(
        "gates.list", bearer=setup["bearer"], origin=None, event_id=setup["event"]
    )
    assert status == 200


async def test_organizations_cannot_reach_each_others_devices(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    ours = await _org_with_event(aiohttp_client, hub_server, "ours@example.org")
    theirs = await _org_with_event(aiohttp_client, hub_server, "theirs@example.org")
    _, device = await _pair(ours)
    them: Browser = theirs["owner"]
    # Their session: no pairing for our event, no list or revocation of our devices.
    status, error = await them.error(
        "orgs.devices.pair", org=theirs["org"], event_id=ours["event"], name="Sneaky"
    )
    assert (status, error["code"]) == (404, "not_found")
    for org in (ours["org"],):
        status, error = await them.error("orgs.devices.list", org=org)
        assert (status, error["code"]) == (403, "forbidden")
        status, error = await them.error(
            "orgs.devices.revoke", org=org, device_id=device["device_id"]
        )
        assert (status, error["code"]) == (403, "forbidden")
    status, error = await them.error(
        "orgs.devices.revoke", org=theirs["org"], device_id=device["device_id"]
    )
    assert (status, error["code"]) == (404, "not_found")
    # Our device's token: nothing of theirs.
    status, _, _ = await them.raw(
        "checkin.scan",
        bearer=device["token"],
        origin=None,
        event_id=theirs["event"],
        code=theirs["codes"][0],
        gate="north",
    )
    assert status == 403


async def test_pairing_codes_are_rate_limited_and_never_logged(
    workers: Settings, hub_server: Any, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    setup = await _org_with_event(aiohttp_client, hub_server, "owner@example.org")
    owner: Browser = setup["owner"]
    pairing, device = await _pair(setup)
    guesser = Browser(await aiohttp_client(hub_server))

    async def limited() -> bool:
        _, error = await guesser.error("devices.redeem", code="ABCDEFGHJKMN")
        assert error["code"] in ("not_found", "rate_limited"), error
        return error["code"] == "rate_limited" and error["details"]["retry_after"] >= 1

    await wait_for(limited, what="guessing to be rate limited")
    # A malformed code is refused before it reaches the worker.
    status, error = await owner.error("devices.redeem", code="ABCDEFGHJKMN!")
    assert (status, error["code"]) == (400, "bad_request")

    secrets = [pairing["code"], device["token"]]
    logged = [(r.getMessage(), repr(r.args), repr(getattr(r, "ctx", None))) for r in caplog.records]
    for secret in secrets:
        leaks = [line for line in logged if any(secret in part for part in line)]
        assert not leaks, (secret[:4], leaks)


async def _scan(argv: list[str], env: dict[str, str]) -> list[str]:
    """The verdict lines of one `bilten scan` run, which must decide every code."""
    out, err = io.StringIO(), io.StringIO()
    opts = await scan_pair.scan_options(build_parser().parse_args(argv), env)
    assert await scan.run(opts, stdout=out, stderr=err) == scan.EXIT_OK, err.getvalue()
    return out.getvalue().splitlines()


async def test_the_door_cli_pairs_keeps_its_token_and_scans(
    workers: Settings,
    hub_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
) -> None:
    setup = await _org_with_event(aiohttp_client, hub_server, "owner@example.org")
    owner: Browser = setup["owner"]
    pairing = await owner.call(
        "orgs.devices.pair", org=setup["org"], event_id=setup["event"], name="CLI", gates=["north"]
    )
    codes = tmp_path / "codes.txt"
    codes.write_text(f"{setup['codes'][0]}\n")
    env = {"XDG_DATA_HOME": str(tmp_path)}
    common = ["scan", "--url", owner.origin, "--gate", "north", "--file", str(codes)]
    typed = f"{pairing['code'][:4].lower()}-{pairing['code'][4:]}"  # as a person types it
    assert await _scan([*common, "--pair", typed], env) == ["OK  Amra (General) inside=1"]
    saved = scan_pair.token_path(default_store(env, setup["event"]))
    assert saved.stat().st_mode & 0o077 == 0
    # Later runs use the kept token: the same code again is already inside.
    codes.write_text(f"{setup['codes'][0]}\n")
    [line] = await _scan([*common, "--event", str(setup["event"])], env)
    assert line.startswith("REJECTED already_inside north"), line
    [device] = (await owner.call("orgs.devices.list", org=setup["org"]))["devices"]
    assert device["name"] == "CLI"
    # The code was single use.
    with pytest.raises(NotFound):
        await scan_pair.main(build_parser().parse_args([*common, "--pair", pairing["code"]]), env)
