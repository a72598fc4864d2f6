"""API keys: shown once, scoped to an organization, role and events, revocable, last use kept."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from tests.accounts.helpers import PASSWORD, Browser, link_token, mail_to
from tests.hub.helpers import EVENT


async def _owner(aiohttp_client: Any, hub_server: Any, email: str) -> tuple[Browser, str, int]:
    """An owner's browser, organization and one event of it."""
    owner = Browser(await aiohttp_client(hub_server))
    org = (await owner.signup(email, organization=f"Org of {email}"))["memberships"][0]["org"]
    event = await owner.call("events.create", bearer=await owner.token(org), origin=None, **EVENT)
    return owner, org, event["id"]


async def test_a_key_is_shown_once_works_on_rest_and_records_its_use(
    workers: Settings, hub_server: Any, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    owner, org, event_id = await _owner(aiohttp_client, hub_server, "owner@example.org")
    created = await owner.call("orgs.apikeys.create", org=org, name="Box office", role="organizer")
    key = created["key"]
    assert key.startswith(f"bk_{created['id']}_") and created["last_used_at"] is None
    [listed] = (await owner.call("orgs.apikeys.list", org=org))["api_keys"]
    assert "key" not in listed and listed["id"] == created["id"]

    integration = {"bearer": key, "origin": None}
    made = await owner.call("events.create", **integration, **EVENT)
    events = (await owner.call("events.list", **integration))["events"]
    assert {e["id"] for e in events} == {event_id, made["id"]}
    [listed] = (await owner.call("orgs.apikeys.list", org=org))["api_keys"]
    assert listed["last_used_at"] is not None

    # A wrong secret, or no key at all: unauthorized.
    for wrong in (key[:-4] + "AAAA", "bk_1_short", f"bk_{created['id'] + 1000}_{key[-43:]}"):
        status, body, _ = await owner.raw("events.list", bearer=wrong, origin=None)
        assert (status, body["error"]["code"]) == (401, "unauthorized"), wrong
    logged = [(r.getMessage(), repr(r.args), repr(getattr(r, "ctx", None))) for r in caplog.records]
    secret = key.split("_", 2)[2]  # the secret itself may hold "_" (base64url)
    assert not [line for line in logged if any(secret in part for part in line)]


async def test_a_key_stays_within_its_role_events_and_organization(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    owner, org, event_id = await _owner(aiohttp_client, hub_server, "ours@example.org")
    other_event = await owner.call(
        "events.create", bearer=await owner.token(org), origin=None, **EVENT
    )
    them, their_org, their_event = await _owner(aiohttp_client, hub_server, "theirs@example.org")
    staff = await owner.call(
        "orgs.apikeys.create", org=org, name="Gate app", role="staff", events=[event_id]
    )
    as_key = {"bearer": staff["key"], "origin": None}
    assert (await owner.call("gates.list", event_id=event_id, **as_key))["event_id"] == event_id
    for elsewhere in (other_event["id"], their_event):
        status, _, _ = await owner.raw("gates.list", event_id=elsewhere, **as_key)
        assert status == 403, elsewhere
    status, _, _ = await owner.raw("events.create", **as_key, **EVENT)  # staff: no organizing
    assert status == 403
    # Keys name only their organization's events, and other owners reach none of ours.
    status, error = await owner.error(
        "orgs.apikeys.create", org=org, name="x", role="staff", events=[their_event]
    )
    assert (status, error["code"]) == (404, "not_found")
    for method, extra in (
        ("orgs.apikeys.list", {}),
        ("orgs.apikeys.revoke", {"key_id": staff["id"]}),
    ):
        status, error = await them.error(method, org=org, **extra)
        assert (status, error["code"]) == (403, "forbidden"), method
    status, error = await them.error("orgs.apikeys.revoke", org=their_org, key_id=staff["id"])
    assert (status, error["code"]) == (404, "not_found")


async def test_a_revoked_key_is_refused_at_once_on_every_hub(
    workers: Settings, hub_server: Any, aiohttp_server: Any, aiohttp_client: Any
) -> None:
    owner, org, _ = await _owner(aiohttp_client, hub_server, "owner@example.org")
    other_hub = Browser(await aiohttp_client(await aiohttp_server(create_app(workers))))
    old = await owner.call("orgs.apikeys.create", org=org, name="Old", role="attendee")
    kept = await owner.call("orgs.apikeys.create", org=org, name="Kept", role="attendee")
    # Both hubs have resolved both keys: each keeps the grants API_KEY_CACHE_S.
    for hub in (owner, other_hub):
        for key in (old, kept):
            status, _, _ = await hub.raw("events.list", bearer=key["key"], origin=None)
            assert status == 200
    revoked = await owner.call("orgs.apikeys.revoke", org=org, key_id=old["id"])
    assert revoked["revoked_at"] is not None
    # The very next request, on either hub, is refused: no waiting for the cache to end.
    for hub in (owner, other_hub):
        status, body, _ = await hub.raw("events.list", bearer=old["key"], origin=None)
        assert (status, body["error"]["code"]) == (401, "unauthorized")
        status, _, _ = await hub.raw("events.list", bearer=kept["key"], origin=None)
        assert status == 200


async def test_managers_pair_devices_but_only_owners_hold_keys(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    owner, org, event_id = await _owner(aiohttp_client, hub_server, "owner@example.org")
    members = {}
    for role in ("manager", "door"):
        email = f"{role}@example.org"
        await owner.call("orgs.invitations.create", org=org, email=email, role=role)
        members[role] = Browser(await aiohttp_client(hub_server))
        token = link_token(await mail_to(workers, email, "invitation"))
        await members[role].call("auth.invitation.accept", token=token, password=PASSWORD)
    pair = {"org": org, "event_id": event_id, "name": "Side door"}
    assert (await members["manager"].call("orgs.devices.pair", **pair))["code"]
    key = {"org": org, "name": "CRM", "role": "organizer"}
    status, error = await members["manager"].error("orgs.apikeys.create", **key)
    assert (status, error["code"]) == (403, "forbidden")
    for method, params in (("orgs.devices.pair", pair), ("orgs.devices.list", {"org": org})):
        status, error = await members["door"].error(method, **params)
        assert (status, error["code"]) == (403, "forbidden"), method
