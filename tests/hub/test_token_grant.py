"""tokens.create through the real hub: a minted token never exceeds its minter's grant.

Issue 8: an organizer token limited to event A minted a staff token for "*",
which then read event B's offline bundle and admitted B's tickets.
"""

from __future__ import annotations

import time
from typing import Any

from bilten.protocol.tokens import decode_token
from tests.checkin.helpers import door_setup
from tests.hub.helpers import connect


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_limited_organizer_cannot_mint_beyond_its_events(
    hub_server: Any, aiohttp_client: Any, make_token: Any, secret: str
) -> None:
    client = await aiohttp_client(hub_server)
    owner = await connect(client, make_token("organizer", sub="owner"))
    a, b = await door_setup(owner, count=1), await door_setup(owner, count=1)
    limited_token = make_token("organizer", events=[a.event_id])
    limited = await connect(client, limited_token)

    reply = await limited.call(
        "tokens.create", {"role": "staff", "sub": "door", "events": "*", "ttl_s": 60}
    )
    assert reply["error"]["code"] == "forbidden", reply
    assert reply["error"]["details"] == {"field": "events"}
    resp = await client.post(
        "/api/v1/tokens",
        headers=auth(limited_token),
        json={"role": "staff", "sub": "door", "events": "*", "ttl_s": 60},
    )
    assert resp.status == 403, await resp.text()
    assert (await resp.json())["error"]["details"] == {"field": "events"}

    # What it may mint reaches event A only: B's bundle and tickets stay out of reach.
    reply = await limited.call(
        "tokens.create", {"role": "staff", "sub": "door", "events": [a.event_id], "ttl_s": 60}
    )
    assert reply["op"] == "result", reply
    door = auth(reply["result"]["token"])
    resp = await client.get(f"/api/v1/events/{a.event_id}/checkin-bundle", headers=door)
    assert resp.status == 200, await resp.text()
    resp = await client.get(f"/api/v1/events/{b.event_id}/checkin-bundle", headers=door)
    assert resp.status == 403, await resp.text()
    resp = await client.post(
        f"/api/v1/events/{b.event_id}/checkins",
        headers=door,
        json={"code": b.tickets[0]["code"], "gate": "north"},
    )
    assert resp.status == 403, await resp.text()


async def test_each_claim_stays_within_the_grant(
    hub_server: Any, aiohttp_client: Any, make_token: Any, secret: str
) -> None:
    client = await aiohttp_client(hub_server)
    owner = await connect(client, make_token("organizer", sub="owner"))
    a = (await door_setup(owner, count=1)).event_id
    b = (await door_setup(owner, count=1)).event_id
    limited_token = make_token("organizer", events=[a], ttl_s=600)
    limited = await connect(client, limited_token)
    staff = {"role": "staff", "sub": "door", "events": [a], "ttl_s": 60}
    refused = [
        ({**staff, "role": "organizer"}, "forbidden", "role"),
        ({**staff, "role": "service"}, "forbidden", "role"),
        ({**staff, "org": "rival"}, "forbidden", "org"),
        ({**staff, "events": [a, b]}, "forbidden", "events"),
        ({**staff, "ttl_s": 3600}, "forbidden", "exp"),
        ({**staff, "events": []}, "bad_request", "events"),
        ({**staff, "role": "attendee", "gates": ["north"]}, "bad_request", "gates"),
        ({**staff, "events": ["1"]}, "bad_request", "events"),
        ({**staff, "ttl_s": 31 * 86400}, "bad_request", "ttl_s"),
        ({**staff, "sub": None}, "bad_request", "sub"),
    ]
    for params, code, field in refused:
        reply = await limited.call("tokens.create", params)
        assert reply["op"] == "error", (params, reply)
        assert (reply["error"]["code"], reply["error"]["details"].get("field")) == (code, field), (
            params,
            reply,
        )

    # Without ttl_s, the new token lives an hour or as long as its minter, if less.
    parent_exp = decode_token(limited_token, secret, now=time.time()).exp
    reply = await limited.call("tokens.create", {"role": "attendee", "sub": "guest", "events": [a]})
    assert reply["op"] == "result", reply
    assert reply["result"]["expires_at"] <= parent_exp


async def test_service_mints_for_any_organization_only_its_events(
    hub_server: Any, aiohttp_client: Any, make_token: Any, secret: str
) -> None:
    client = await aiohttp_client(hub_server)
    rival = await connect(client, make_token("organizer", org="rival"))
    event = (await door_setup(rival, count=1)).event_id
    service = await connect(client, make_token("service", org="bilten", ttl_s=60))
    reply = await service.call(
        "tokens.create",
        {"role": "organizer", "sub": "boss", "org": "rival", "events": [event], "ttl_s": 7200},
    )
    assert reply["op"] == "result", reply
    claims = decode_token(reply["result"]["token"], secret, now=time.time())
    assert (claims.org, claims.role, claims.events) == ("rival", "organizer", (event,))
    # An event of another organization would leave the token reaching nothing.
    reply = await service.call(
        "tokens.create", {"role": "staff", "sub": "door", "org": "acme", "events": [event]}
    )
    assert reply["error"]["code"] == "bad_request", reply
    assert reply["error"]["details"] == {"field": "events"}
