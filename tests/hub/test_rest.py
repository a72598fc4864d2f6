"""The REST API: events CRUD, tokens, publish, OpenAPI, errors with stable codes."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

import pytest
from aiohttp import web

from bilten.hub.app import create_app
from bilten.hub.runtime import HUB
from bilten.infra.settings import Settings
from tests.hub.helpers import EVENT, connect
from tests.waiting import wait_for


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_events_crud(hub_server: Any, aiohttp_client: Any, make_token: Any) -> None:
    client = await aiohttp_client(hub_server)
    organizer = auth(make_token("organizer"))
    resp = await client.post("/api/v1/events", json=EVENT, headers=organizer)
    assert resp.status == 201, await resp.text()
    event = await resp.json()
    assert event["name"] == EVENT["name"] and event["org"] == "acme"
    assert event["currency"] == "BAM" and isinstance(event["id"], int)
    resp = await client.get(f"/api/v1/events/{event['id']}", headers=organizer)
    assert (await resp.json())["id"] == event["id"]
    resp = await client.patch(
        f"/api/v1/events/{event['id']}", json={"name": "Renamed"}, headers=organizer
    )
    assert resp.status == 200 and (await resp.json())["name"] == "Renamed"
    listing = await (await client.get("/api/v1/events", headers=organizer)).json()
    assert [e["id"] for e in listing["events"]] == [event["id"]]
    other_org = auth(make_token("organizer", org="rival"))
    resp = await client.get(f"/api/v1/events/{event['id']}", headers=other_org)
    assert resp.status == 403
    assert (await (await client.get("/api/v1/events", headers=other_org)).json())["events"] == []


async def test_bad_input_gets_stable_codes(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = auth(make_token("organizer"))
    cases = [
        ("POST", "/api/v1/events", {**EVENT, "currency": "euro"}, 400, "bad_request"),
        ("POST", "/api/v1/events", {**EVENT, "ends_at": EVENT["starts_at"]}, 400, "bad_request"),
        ("POST", "/api/v1/events", {**EVENT, "timezone": "Mars/Olympus"}, 400, "bad_request"),
        ("POST", "/api/v1/events", {"name": "only a name"}, 400, "bad_request"),
        ("GET", "/api/v1/events/999999999", None, 404, "not_found"),
        ("GET", "/api/v1/events/abc", None, 400, "bad_request"),
        ("GET", "/api/v1/nothing-here", None, 404, "not_found"),
    ]
    for method, path, body, status, code in cases:
        resp = await client.request(method, path, json=body, headers=organizer)
        assert resp.status == status, (path, body, await resp.text())
        assert (await resp.json())["error"]["code"] == code
    resp = await client.post("/api/v1/events", data=b"{oops", headers=organizer)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"
    resp = await client.get("/api/v1/events")
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
    attendee = auth(make_token("attendee", events=[1]))
    resp = await client.post("/api/v1/events", json=EVENT, headers=attendee)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden"


async def test_minted_token_works_on_the_websocket(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = auth(make_token("organizer"))
    event = await (await client.post("/api/v1/events", json=EVENT, headers=organizer)).json()
    # Half the minter's 600 s: a minted token may not outlive its minter, however slow the setup.
    resp = await client.post(
        "/api/v1/tokens",
        headers=organizer,
        json={"role": "attendee", "sub": "guest-17", "events": [event["id"]], "ttl_s": 300},
    )
    assert resp.status == 201, await resp.text()
    minted = await resp.json()
    raw = await connect(client, minted["token"])
    reply = await raw.subscribe(f"event.{event['id']}.announcements")
    assert reply["op"] == "subscribed"
    resp = await client.post(
        f"/api/v1/channels/event.{event['id']}.announcements/publish",
        headers=organizer,
        json={"data": {"text": "Doors open"}},
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["offset"] == 1
    pub = await raw.until("pub")
    assert pub["data"] == {"text": "Doors open"}
    resp = await client.post(
        "/api/v1/tokens",
        headers=organizer,
        json={"role": "organizer", "sub": "me-too", "events": "*"},
    )
    assert resp.status == 403


async def test_openapi_lists_every_command(hub_server: Any, aiohttp_client: Any) -> None:
    from bilten.protocol.commands import COMMANDS

    client = await aiohttp_client(hub_server)
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    operations = {
        op["operationId"]
        for path in doc["paths"].values()
        for op in path.values()
        if "operationId" in op
    }
    assert operations == set(COMMANDS)
    assert "post" in doc["paths"]["/api/v1/channels/{channel}/publish"]


async def test_oversize_body_is_too_large(
    workers: Any, aiohttp_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    from bilten.hub.app import create_app

    client = await aiohttp_client(
        await aiohttp_server(create_app(workers.replace(max_frame_bytes=2048)))
    )
    resp = await client.post(
        "/api/v1/events", json={**EVENT, "name": "x" * 4096}, headers=auth(make_token("organizer"))
    )
    assert resp.status == 413
    body = await resp.json()
    assert body["error"]["code"] == "too_large"
    assert body["error"]["details"]["limit"] == 2048


async def test_hostile_input_gets_4xx_never_500(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """The findings of fuzzing the live hub, each answered with a stable 4xx code."""
    client = await aiohttp_client(hub_server)
    organizer = auth(make_token("organizer"))
    event = await (await client.post("/api/v1/events", json=EVENT, headers=organizer)).json()
    eid = event["id"]
    deep = b'{"name":' + b"[" * 300 + b"]" * 300 + b"}"
    cases: list[tuple[str, str, Any, int, str, str | None]] = [
        ("GET", "/api/v1/events/%C2%B2", None, 400, "bad_request", "event_id"),
        ("GET", "/api/v1/tickets/%D9%A4%D9%A2", None, 400, "bad_request", "ticket_id"),
        ("GET", "/api/v1/tickets/0/qr.svg", None, 400, "bad_request", "ticket_id"),
        ("GET", "/api/v1/events?limit=%EF%BC%95", None, 400, "bad_request", "limit"),
        ("GET", "/api/v1/events/99999999999999999999", None, 400, "bad_request", "event_id"),
        (
            "GET",
            f"/api/v1/events/{eid}/checkins?conflicts=maybe",
            None,
            400,
            "bad_request",
            "conflicts",
        ),
        (
            "POST",
            "/api/v1/events",
            {**EVENT, "starts_at": "0001-01-01T00:30:00+14:00"},
            400,
            "bad_request",
            "starts_at",
        ),
        (
            "POST",
            "/api/v1/events",
            {**EVENT, "ends_at": "9999-12-31T23:00:00-14:00"},
            400,
            "bad_request",
            "ends_at",
        ),
        (
            "POST",
            f"/api/v1/events/{eid}/checkins",
            {"code": "T-1", "gate": "north", "scanned_at": "9999-12-31T23:00:00-14:00"},
            400,
            "bad_request",
            "scanned_at",
        ),
        (
            "POST",
            f"/api/v1/events/{eid}/tickets",
            {"ticket_type_id": 1, "holder": "Ana", "owner_sub": {"x": 1}},
            400,
            "bad_request",
            "owner_sub",
        ),
        ("POST", "/api/v1/events", {**EVENT, "colour": "red"}, 400, "bad_request", "colour"),
        (
            "PATCH",
            f"/api/v1/events/{eid}",
            {"event_id": eid + 1, "name": "Moved"},
            400,
            "bad_request",
            "event_id",
        ),
        ("GET", f"/api/v1/events/{eid}?event_id={eid + 1}", None, 400, "bad_request", "event_id"),
        (
            "POST",
            "/api/v1/tokens",
            {"role": "staff", "sub": "s", "events": [eid], "ttl_s": 31 * 86400},
            400,
            "bad_request",
            "ttl_s",
        ),
        (
            "POST",
            f"/api/v1/events/{eid}/checkins/sync",
            {
                "device": "d1",
                "scans": [
                    {
                        "code": "T",
                        "gate": "no such",
                        "nonce": "n-000001",
                        "scanned_at": "2027-06-01T19:00:00Z",
                        "verdict": "ok",
                    }
                ],
            },
            400,
            "bad_request",
            "scans[0].gate",
        ),
    ]
    for method, path, body, status, code, field in cases:
        resp = await client.request(method, path, json=body, headers=organizer)
        text = await resp.text()
        assert resp.status == status, (path, body, text)
        error = (await resp.json())["error"]
        assert error["code"] == code and error.get("details", {}).get("field") == field, text
    resp = await client.post("/api/v1/events", data=deep, headers=organizer)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"
    resp = await client.get(f"/api/v1/events/{eid}/checkins?conflicts=1&after=0", headers=organizer)
    assert resp.status == 200, await resp.text()
    resp = await client.patch(
        f"/api/v1/events/{eid}", json={"event_id": eid, "name": "Same"}, headers=organizer
    )
    assert resp.status == 200, await resp.text()  # the path's own value, repeated: fine


async def test_routing_errors_are_json(hub_server: Any, aiohttp_client: Any) -> None:
    client = await aiohttp_client(hub_server)
    for method, path, allowed in [
        ("DELETE", "/api/v1/events", "GET, POST"),
        ("PUT", "/api/v1/openapi.json", "GET"),
        ("POST", "/api/v1/events/1", "GET, PATCH"),
    ]:
        resp = await client.request(method, path)
        assert resp.status == 405, (method, path)
        assert set(resp.headers["Allow"].split(", ")) >= set(allowed.split(", "))
        assert (await resp.json())["error"]["code"] == "method_not_allowed"
    for path in ("/nothing-here", "/api/v2/events"):
        resp = await client.get(path)
        assert resp.status == 404 and resp.content_type == "application/json"
        assert (await resp.json())["error"]["code"] == "not_found"
    resp = await client.get("/")
    assert resp.status == 200
    links = (await resp.json())["links"]
    assert {"docs", "openapi", "ws", "health"} <= set(links)
    assert (await client.get(links["openapi"])).status == 200


async def test_openapi_says_what_the_server_accepts(hub_server: Any, aiohttp_client: Any) -> None:
    client = await aiohttp_client(hub_server)
    doc = await (await client.get("/api/v1/openapi.json")).json()
    for path, item in doc["paths"].items():
        for operation in item.values():
            assert {"400", "401", "403", "404", "500", "503", "504"} <= set(
                operation["responses"]
            ), path
            for parameter in operation["parameters"]:
                if parameter["name"].endswith("_id"):
                    assert parameter["schema"]["minimum"] == 1, (path, parameter)
    qr = doc["paths"]["/api/v1/tickets/{ticket_id}/qr.svg"]["get"]
    assert "image/svg+xml" in qr["responses"]["200"]["content"]
    body = doc["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["additionalProperties"] is False
    assert set(body["schema"]["required"]) == {
        "name",
        "starts_at",
        "ends_at",
        "timezone",
        "locale",
        "currency",
    }


async def test_undecodable_requests_are_4xx(
    hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    """The request boundary turns every decoding problem into a 4xx, never a 500."""
    client = await aiohttp_client(hub_server)
    organizer = auth(make_token("organizer"))
    json_type = {**organizer, "Content-Type": "application/json"}
    cases: list[tuple[str, str, bytes | None, dict[str, str]]] = [
        ("GET", "/api/v1/events?limit=%FF%FE", None, organizer),
        ("GET", "/api/v1/events/%FF", None, organizer),
        ("GET", "/api/v1/events?limit=1&limit=%00", None, organizer),
        ("POST", "/api/v1/events", b'{"name": "\\ud800"}', json_type),
        ("POST", "/api/v1/events", b"\xff\xfe{}", json_type),
        ("POST", "/api/v1/events", b"[]", json_type),
        ("POST", "/api/v1/events", b'{"name": 1e999}', json_type),
        ("PATCH", "/api/v1/events/1", b"null", json_type),
        # Last: aiohttp drops the connection after a body it could not decode.
        ("POST", "/api/v1/events", b"garbage", {**json_type, "Content-Encoding": "gzip"}),
    ]
    for method, path, body, headers in cases:
        resp = await client.request(method, path, data=body, headers=headers)
        assert 400 <= resp.status < 500, (method, path, body, await resp.text())
        assert (await resp.json())["error"]["code"] in ("bad_request", "not_found"), path


async def test_a_client_gone_mid_body_is_not_logged_as_a_failure(
    workers: Settings, make_token: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody is left to answer: no `request failed` traceback for an operator to chase,
    and no 500 in the metrics. Served as `bilten hub` serves (pytest-aiohttp's servers
    cancel a handler whose client left; aiohttp's default, and the hub's, do not)."""
    caplog.set_level(logging.INFO)
    app = create_app(workers)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {make_token('organizer')}\r\n".encode()
            + b'Content-Length: 100000\r\n\r\n{"name": '
        )
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()  # with a reset: the client is gone, not just done sending
        metrics = app[HUB].metrics.registry
        labels = {"method": "POST", "route": "/api/v1/events", "status": "499"}
        await wait_for(
            lambda: metrics.get_sample_value("bilten_http_requests_total", labels),
            what="the hub to count the request as the client's leaving",
        )
    finally:
        await runner.cleanup()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
