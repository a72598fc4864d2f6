"""An order confirmed with the buyer's e-mail: kept on the order, and its tickets arrive by mail."""

from __future__ import annotations

from typing import Any

from bilten.deploy.embedded_mail import EmbeddedMail
from tests.allocation.helpers import error, hold, make_venue, ok
from tests.hub.helpers import connect, create_event
from tests.waiting import wait_for


async def test_order_confirmation_arrives_with_its_ticket_codes(
    hub_server: Any, aiohttp_client: Any, make_token: Any, mail_server: EmbeddedMail
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    venue = await make_venue(organizer)
    buyer = await connect(client, make_token("attendee", sub="amra", events=[venue.event_id]))
    held = await hold(buyer, venue.event_id, ticket_type_id=venue.ga, quantity=2)
    bad = error(await buyer.call("seats.confirm", {"hold_id": held["hold_id"], "email": "amra@"}))
    assert (bad["code"], bad["details"]["field"]) == ("bad_request", "email")
    order = ok(
        await buyer.call(
            "seats.confirm",
            {"hold_id": held["hold_id"], "holder": "Amra H.", "email": "amra@example.org"},
        )
    )
    assert order["email"] == "amra@example.org"
    [received] = await wait_for(mail_server.mailbox.messages, what="the order confirmation")
    assert received.recipients == ("amra@example.org",)
    assert received.language == "en"  # the event's locale, bs-BA, has no translation yet
    assert received.subject == f"Your tickets for Sarajevo Jazz Night (order {order['order_id']})"
    assert "Total: 30.00 BAM." in received.text
    for ticket in order["tickets"]:
        assert f"- Amra H. · Stajanje · {ticket['code']}" in received.text
    # Shown where orders are read back; confirming again sends nothing more.
    assert ok(await buyer.call("orders.get", {"order_id": order["order_id"]}))["email"] == (
        "amra@example.org"
    )
    listed = ok(await organizer.call("orders.list", {"event_id": venue.event_id}))["orders"]
    assert [o["email"] for o in listed] == ["amra@example.org"]
    again = ok(
        await buyer.call("seats.confirm", {"hold_id": held["hold_id"], "email": "x@example.org"})
    )
    assert again["email"] == "amra@example.org"


async def test_turkish_event_and_orders_without_email(
    hub_server: Any, aiohttp_client: Any, make_token: Any, mail_server: EmbeddedMail
) -> None:
    client = await aiohttp_client(hub_server)
    organizer = await connect(client, make_token("organizer"))
    event_id = await create_event(
        organizer, name="İstanbul Caz Gecesi", locale="tr-TR", currency="TRY"
    )
    ga = ok(
        await organizer.call(
            "tickettypes.create",
            {"event_id": event_id, "name": "Ayakta", "price_minor": 25000, "quota": 5},
        )
    )["id"]
    buyer = await connect(client, make_token("attendee", sub="ali", events=[event_id]))
    silent = await hold(buyer, event_id, ticket_type_id=ga, quantity=1)
    assert ok(await buyer.call("seats.confirm", {"hold_id": silent["hold_id"]}))["email"] is None
    held = await hold(buyer, event_id, ticket_type_id=ga, quantity=1)
    ok(await buyer.call("seats.confirm", {"hold_id": held["hold_id"], "email": "ali@example.org"}))
    [received] = await wait_for(mail_server.mailbox.messages, what="the Turkish confirmation")
    assert received.language == "tr"
    assert received.subject.startswith("İstanbul Caz Gecesi biletleriniz")
    assert "Toplam: 250.00 TRY." in received.text
