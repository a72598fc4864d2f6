"""Every command's declared result (protocol/results.py) against what the workers answer.

The pure tests check that each command declares a result, that the declarations
are valid JSON Schema, and that the OpenAPI document carries them. The live
test drives every command through a real hub and workers, over REST, with a
small event (gates, ticket types, seats, tickets, scans, holds, orders,
waiting list, …), and validates each answer against the success schema of
its route in the document the hub serves (one WebSocket rpc answer too).
Objects are closed for the check, although the contract leaves them open: a
field a worker sends that the declaration does not list fails here, as does a
declared field it does not send or a type that differs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema_rs
import pytest

from bilten.hub.openapi import openapi_document
from bilten.infra.settings import Settings
from bilten.protocol.commands import COMMANDS, path_params
from bilten.protocol.errors import HTTP_STATUS
from bilten.protocol.results import NAMED
from tests.hub.helpers import EVENT, connect

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _expand(schema: Any, components: dict[str, Any]) -> Any:
    """`schema` with every `$ref` to a component replaced by the component itself."""
    if isinstance(schema, dict):
        if set(schema) == {"$ref"}:
            return _expand(components[schema["$ref"].rsplit("/", 1)[1]], components)
        return {key: _expand(value, components) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_expand(value, components) for value in schema]
    return schema


def _closed(schema: Any) -> Any:
    """`schema` with every object that lists its properties refusing any other field."""
    if isinstance(schema, dict):
        out = {key: _closed(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(value) for value in schema]
    return schema


def _success(doc: dict[str, Any], method: str) -> tuple[int, dict[str, Any]]:
    """The documented success status of a command's route, and its body schema."""
    command = COMMANDS[method]
    responses = doc["paths"][command.path][command.http.lower()]["responses"]
    status = next(s for s in responses if s.startswith("2"))
    return int(status), responses[status]["content"]["application/json"]["schema"]


@pytest.mark.parametrize("method", sorted(COMMANDS))
def test_every_command_declares_its_result(method: str) -> None:
    result = COMMANDS[method].result
    assert result.get("type") == "object" or "oneOf" in result, method
    jsonschema_rs.meta.validate({"$schema": DRAFT, **result})


def test_the_document_carries_each_declared_result() -> None:
    doc = openapi_document()
    components = doc["components"]["schemas"]
    for name, piece in NAMED.items():
        assert _expand(components[name], components) == piece, name
    for method, command in COMMANDS.items():
        status, schema = _success(doc, method)
        assert status == (201 if command.created else 200), method
        assert _expand(schema, components) == command.result, method


def test_each_error_status_names_the_codes_it_answers() -> None:
    doc = openapi_document()
    components = doc["components"]["schemas"]
    for item in doc["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    continue
                schema = response["content"]["application/json"]["schema"]
                codes = _expand(schema, components)["allOf"][1]["properties"]["error"][
                    "properties"
                ]["code"]["enum"]
                assert codes and all(HTTP_STATUS[code] == int(status) for code in codes)


class Caller:
    """REST calls by command name, each answer checked against the served document."""

    def __init__(self, client: Any, doc: dict[str, Any], token: str) -> None:
        self.client = client
        self.doc = doc
        self.token = token
        self.checked: set[str] = set()

    async def __call__(
        self, method: str, token: str | None = None, **params: Any
    ) -> dict[str, Any]:
        command = COMMANDS[method]
        path = command.path
        for name in path_params(command):
            path = path.replace(f"{{{name}}}", str(params.pop(name)))
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
        body = command.http != "GET"
        resp = await self.client.request(
            command.http,
            path,
            json=params if body else None,
            params=None if body else query,
            headers={"Authorization": f"Bearer {token or self.token}"},
        )
        answer = await resp.json()
        assert resp.status == _success(self.doc, method)[0], (method, resp.status, answer)
        self.check(method, answer)
        return dict(answer)

    def check(self, method: str, answer: Any) -> None:
        """Fail unless `answer` matches the command's success schema, objects closed."""
        schema = _success(self.doc, method)[1]
        validator = jsonschema_rs.Draft202012Validator(
            _closed({**schema, "components": self.doc["components"]})
        )
        problems = [
            f"{'/'.join(map(str, e.instance_path))}: {e.message}"
            for e in validator.iter_errors(answer)
        ]
        assert not problems, (method, problems, answer)
        self.checked.add(method)


@pytest.mark.timeout(300)
async def test_every_result_matches_its_declaration(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    client = await aiohttp_client(hub_server)
    doc = await (await client.get("/api/v1/openapi.json")).json()
    call = Caller(client, doc, make_token("organizer"))

    event_id = (await call("events.create", **EVENT))["id"]
    await call("events.update", event_id=event_id, name="Jazz Night, second set")
    await call("events.get", event_id=event_id)
    await call("events.list", limit=1)
    await call("tokens.create", role="staff", sub="door-1", events=[event_id], gates=["north"])
    await call(
        "channels.publish", channel=f"event.{event_id}.announcements", data={"text": "Doors open"}
    )
    await call("presence.get", event_id=event_id)
    await call("gates.set", event_id=event_id, gates=["north", "south"], allow_reentry=False)
    await call("gates.list", event_id=event_id)

    general = (
        await call(
            "tickettypes.create", event_id=event_id, name="General", price_minor=2500, quota=100
        )
    )["id"]
    seated = (await call("tickettypes.create", event_id=event_id, name="Parter", price_minor=4000))[
        "id"
    ]
    scarce = (
        await call(
            "tickettypes.create", event_id=event_id, name="Backstage", price_minor=9000, quota=1
        )
    )["id"]
    await call("tickettypes.update", event_id=event_id, ticket_type_id=general, price_minor=3000)
    await call(
        "seats.create",
        event_id=event_id,
        sections=[
            {
                "name": "Parter",
                "rows": [
                    {"name": "1", "ticket_type_id": seated, "seats": 4},
                    {"name": "2", "ticket_type_id": seated, "seats": ["2a", "2b"]},
                ],
            }
        ],
    )
    await call("seats.configure", event_id=event_id, hold_ttl_s=600, hold_limit=10)

    tickets = (
        await call(
            "tickets.issue",
            event_id=event_id,
            ticket_type_id=general,
            holder="Amra Hadžić",
            count=2,
        )
    )["tickets"]
    await call("tickets.issue", event_id=event_id, ticket_type_id=seated, holder="Edin D.")
    await call("tickets.get", ticket_id=tickets[0]["id"])
    await call("tickets.list", event_id=event_id, limit=2, q="amra")
    await call("tickets.revoke", ticket_id=tickets[1]["id"])
    await call("exports.page", event_id=event_id, name="tickets", limit=1)

    code = tickets[0]["code"]
    await call("checkin.scan", event_id=event_id, code=code, gate="north")
    again = await call("checkin.scan", event_id=event_id, code=code, gate="south")
    assert again["reason"] == "already_inside" and again["previous"], again
    await call("checkin.scan", event_id=event_id, code=tickets[1]["code"], gate="north")
    await call("checkin.scan", event_id=event_id, code="not-a-code", gate="north")
    # A door device let the same ticket in earlier, offline: the online entry is revised.
    earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    await call(
        "checkin.sync",
        event_id=event_id,
        device="door-7",
        scans=[
            {
                "code": code,
                "gate": "south",
                "scanned_at": earlier,
                "nonce": "door-7:00000001",
                "verdict": "ok",
            }
        ],
    )
    scans = await call("checkin.list", event_id=event_id)
    assert any("revised_at" in scan for scan in scans["scans"]), scans
    await call("checkin.list", event_id=event_id, conflicts=True)
    await call("checkin.inside", event_id=event_id, gate="south")
    await call("checkin.bundle", event_id=event_id)
    # Analytics (docs/insight.md §Analytics): answers whether or not they have caught up.
    await call("stats.event", event_id=event_id, metric="scans", step="5m")
    await call("stats.event", event_id=event_id, metric="inside", **{"from": earlier})
    await call("stats.org", org="acme", metric="revenue")
    await call("stats.rebuild", event_id=event_id)

    seat_map = await call("seats.map", event_id=event_id)
    free_seat = seat_map["sections"][0]["rows"][1]["ids"][0][0]  # row 1's first is sold
    hold = await call("seats.hold", event_id=event_id, seat_ids=[free_seat])
    order = await call("seats.confirm", hold_id=hold["hold_id"], holder="Lejla K.")
    assert order["status"] == "confirmed", order
    await call("orders.get", order_id=order["order_id"])
    await call("orders.list", event_id=event_id)
    taken = await call("seats.hold", event_id=event_id, seat_ids=[free_seat])
    assert taken["status"] == "rejected", taken

    backstage = await call("seats.hold", event_id=event_id, ticket_type_id=scarce, quantity=1)
    buyer = make_token("attendee", sub="fan-1", events=[event_id])
    await call("seats.waitlist.join", buyer, event_id=event_id, ticket_type_id=scarce, quantity=1)
    await call("seats.release", hold_id=backstage["hold_id"])
    late = await call("seats.confirm", hold_id=backstage["hold_id"])
    assert late["status"] == "rejected", late
    await call("holds.list", event_id=event_id, status="released")
    await call("tickettypes.list", event_id=event_id)

    # Engagement (docs/engagement.md): sessions, polls of every kind, votes, a quiz.
    session = await call("sessions.create", event_id=event_id, title="Keynote", room="Hall A")
    await call("sessions.update", session_id=session["id"], room=None)
    await call("sessions.list", event_id=event_id)
    await call("polls.blocklist.set", event_id=event_id, words=["darn"])
    await call("polls.blocklist", event_id=event_id)
    fan = make_token("attendee", sub="fan-1", events=[event_id])
    for kind, more, choice in [
        ("single", {"options": ["A", "B"], "results": "on_close"}, 0),
        ("multiple", {"options": ["A", "B"]}, [0, 1]),
        ("rating", {}, 4),
        ("words", {}, "Jazz"),
        ("ranking", {"options": ["A", "B"]}, [1, 0]),
        ("quiz", {"options": ["A", "B"], "correct": 1, "time_limit_s": 600}, 1),
    ]:
        poll = await call("polls.create", session_id=session["id"], question="?", kind=kind, **more)
        await call("polls.update", poll_id=poll["id"], question=f"A {kind} question?")
        await call("polls.open", poll_id=poll["id"])
        await call("polls.vote", fan, poll_id=poll["id"], choice=choice)
        await call("polls.results", poll_id=poll["id"])
        hidden = await call("polls.get", fan, poll_id=poll["id"])
        assert (hidden["tally"] is None) is (kind == "single"), hidden
        await call("polls.close", poll_id=poll["id"])
    await call("polls.reveal", poll_id=poll["id"])
    await call("polls.list", fan, event_id=event_id, session_id=session["id"])
    # Q&A and reactions (docs/engagement.md) in a session of the event.
    session_id = session["id"]
    await call("qa.settings", event_id=event_id)
    await call("qa.settings", event_id=event_id, require_approval=False)
    fan = make_token("attendee", sub="fan-2", events=[event_id])
    question = await call("qa.ask", fan, event_id=event_id, session_id=session_id, text="Encore?")
    await call("qa.upvote", fan, event_id=event_id, question_id=question["id"])
    await call("qa.moderate", event_id=event_id, question_id=question["id"], action="pin")
    await call("qa.list", fan, event_id=event_id, session_id=session_id)
    await call("reactions.send", fan, event_id=event_id, session_id=session_id, emoji="👏")
    await call("polls.reset", poll_id=poll["id"])
    await call("polls.delete", poll_id=poll["id"])
    await call("sessions.delete", session_id=session["id"])

    # Webhooks (docs/webhooks.md): `.invalid` never resolves, so the ping fails, logged.
    hook = await call(
        "webhooks.create",
        url="https://hooks.invalid/bilten",
        kinds=["events.updated"],
        event_id=event_id,
        description="CRM",
    )
    await call("webhooks.update", webhook_id=hook["id"], kinds=["*"], description=None)
    await call("webhooks.list", limit=10)
    await call("webhooks.get", webhook_id=hook["id"])
    ping = await call("webhooks.test", webhook_id=hook["id"])
    assert ping["outcome"] == "failed" and ping["error"], ping
    await call("webhooks.deliveries", webhook_id=hook["id"], limit=1)
    await call("webhooks.rotate_secret", webhook_id=hook["id"])
    await call("webhooks.resume", webhook_id=hook["id"])
    await call("webhooks.delete", webhook_id=hook["id"])

    empty = (await call("events.create", **EVENT))["id"]
    await call("events.delete", event_id=empty)

    # The WebSocket rpc answers the same result as REST.
    raw = await connect(client, call.token)
    reply = await raw.call("seats.map", {"event_id": event_id})
    call.check("seats.map", reply["result"])
    await raw.ws.close()

    # Account commands take a session, not a token: tests/accounts checks their results.
    assert call.checked == {m for m, c in COMMANDS.items() if c.auth == "token"}
