"""One permission table, checked end to end: roles × namespaces × methods, real sockets."""

from __future__ import annotations

from typing import Any

import pytest

from bilten.protocol.channels import EVENT_TOPICS
from bilten.protocol.commands import COMMANDS
from bilten.protocol.permissions import SUBSCRIBE_TOPICS
from tests.hub.helpers import connect, create_event

ROLES = ("attendee", "staff", "viewer", "organizer", "service")
EXPECTED_TOPICS = {
    "attendee": {"announcements", "seats", "polls", "qa", "reactions"},
    "staff": {"announcements", "seats", "polls", "qa", "reactions", "checkins"},
    "viewer": {"announcements", "seats", "polls", "qa", "reactions", "dashboard"},
    "organizer": set(EVENT_TOPICS),
    "service": set(EVENT_TOPICS),
}


def test_the_table_is_the_documented_one() -> None:
    assert {role: set(SUBSCRIBE_TOPICS[role]) for role in ROLES} == EXPECTED_TOPICS


@pytest.fixture
async def world(hub_server: Any, aiohttp_client: Any, make_token: Any) -> dict[str, Any]:
    """Two events of org acme and one of org rival, and a client on the hub."""
    client = await aiohttp_client(hub_server)
    acme = await connect(client, make_token("organizer", org="acme"))
    rival = await connect(client, make_token("organizer", org="rival", sub="rival-1"))
    return {
        "client": client,
        "mine": await create_event(acme),
        "other": await create_event(acme),
        "foreign": await create_event(rival),
    }


async def test_subscribe_matrix(world: dict[str, Any], make_token: Any) -> None:
    mine, other, foreign = world["mine"], world["other"], world["foreign"]
    for role in ROLES:
        token = make_token(
            role,
            org="acme",
            sub=f"{role}-9",
            events="*" if role in ("organizer", "service") else [mine],
        )
        raw = await connect(world["client"], token)
        for topic in sorted(EVENT_TOPICS):
            if topic in ("seats", "dashboard", "polls", "qa"):
                continue  # stateful: need a snapshot owner (tests/hub/test_snapshot.py)
            reply = await raw.subscribe(f"event.{mine}.{topic}")
            allowed = topic in EXPECTED_TOPICS[role]
            assert (reply["op"] == "subscribed") == allowed, (role, topic, reply)
            if not allowed:
                assert reply["error"]["code"] == "forbidden"
            # A token never reaches another event or another organization's event...
            reply = await raw.subscribe(f"event.{foreign}.{topic}")
            if role == "service":
                assert reply["op"] == "subscribed" or reply["error"]["code"] == "forbidden"
            else:
                assert reply["error"]["code"] == "forbidden", (role, topic, reply)
            if role in ("attendee", "staff", "viewer") and allowed:
                reply = await raw.subscribe(f"event.{other}.{topic}")
                assert reply["error"]["code"] == "forbidden", (role, topic, reply)
        own = await raw.subscribe(f"user.{role}-9")
        assert own["op"] == "subscribed", (role, own)
        someone = await raw.subscribe("user.somebody-else")
        assert (someone["op"] == "subscribed") == (role == "service"), (role, someone)
        await raw.ws.close()


async def test_unknown_event_is_not_found(world: dict[str, Any], make_token: Any) -> None:
    raw = await connect(world["client"], make_token("organizer", org="acme"))
    reply = await raw.subscribe("event.987654321.announcements")
    assert reply["error"]["code"] in ("not_found", "forbidden")


async def test_method_matrix(world: dict[str, Any], make_token: Any) -> None:
    mine = world["mine"]
    for role in ROLES:
        raw = await connect(world["client"], make_token(role, org="acme", events=[mine]))
        for method, command in COMMANDS.items():
            reply = await raw.call(method, {})
            if role not in command.roles:
                assert reply["error"]["code"] == "forbidden", (role, method, reply)
            else:
                # Allowed roles get past the permission check: success or a params error.
                assert reply["op"] == "result" or reply["error"]["code"] in (
                    "bad_request",
                    "not_found",
                ), (role, method, reply)
        await raw.ws.close()


async def test_organizer_cannot_touch_another_orgs_event(
    world: dict[str, Any], make_token: Any
) -> None:
    raw = await connect(world["client"], make_token("organizer", org="acme"))
    foreign = world["foreign"]
    for method, params in (
        ("events.get", {"event_id": foreign}),
        ("events.update", {"event_id": foreign, "name": "mine now"}),
        ("presence.get", {"event_id": foreign}),
        ("channels.publish", {"channel": f"event.{foreign}.announcements", "data": {"hi": 1}}),
        ("tokens.create", {"role": "attendee", "sub": "x", "events": [foreign]}),
    ):
        reply = await raw.call(method, params)
        assert reply["error"]["code"] == "forbidden", (method, reply)
