"""channels.publish with an idempotency key: a retry is stored once and answers the same offset."""

from __future__ import annotations

from typing import Any

from tests.hub.helpers import connect, create_event


async def test_a_retried_publish_is_stored_once(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer", sub="org-a"))
    other = await connect(client, make_token("organizer", sub="org-b"))
    event_id = await create_event(organizer)
    channel = f"event.{event_id}.announcements"
    listener = await connect(client, make_token("attendee", events=[event_id]))
    assert (await listener.subscribe(channel))["op"] == "subscribed"

    async def publish(raw: Any, n: int, **extra: Any) -> dict[str, Any]:
        reply = await raw.call("channels.publish", {"channel": channel, "data": {"n": n}, **extra})
        assert reply["op"] == "result", reply
        return dict(reply["result"])

    first = await publish(organizer, 1, idempotency_key="doors-open")
    assert first["offset"] == 1 and first["idempotency_key"] == "doors-open"
    unkeyed = await publish(organizer, 2)
    assert unkeyed["offset"] == 2 and len(unkeyed["idempotency_key"]) == 32  # the hub's own
    # The retry answers what the first one got, even after another publication.
    assert await publish(organizer, 1, idempotency_key="doors-open") == first
    again = await publish(organizer, 2, idempotency_key=unkeyed["idempotency_key"])
    assert again["offset"] == 2
    # Another caller's equal key is another publication.
    assert (await publish(other, 3, idempotency_key="doors-open"))["offset"] == 3
    delivered = [await listener.until("pub") for _ in range(3)]
    assert [(m["offset"], m["data"]["n"]) for m in delivered] == [(1, 1), (2, 2), (3, 3)]
    assert (await publish(organizer, 4))["offset"] == 4  # nothing else was stored
    assert (await listener.until("pub"))["offset"] == 4


async def test_a_bad_idempotency_key_is_refused(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    token = make_token("organizer")
    organizer = await connect(client, token)
    event_id = await create_event(organizer)
    for key in ("", "has space", "x" * 129, 42):
        response = await client.post(
            f"/api/v1/channels/event.{event_id}.announcements/publish",
            json={"data": {}, "idempotency_key": key},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status == 400, key
        body = await response.json()
        assert body["error"]["code"] == "bad_request"
        assert body["error"]["details"] == {"field": "idempotency_key"}
