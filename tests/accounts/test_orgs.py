"""Organizations: invitations by e-mail link, roles, removal and revocation, audit, isolation."""

from __future__ import annotations

from typing import Any

from bilten.infra.settings import Settings
from tests.accounts.helpers import PASSWORD, Browser, link_token, mail_to, mails_to
from tests.hub.helpers import EVENT, connect
from tests.waiting import wait_for


async def _owner(aiohttp_client: Any, hub_server: Any, email: str) -> tuple[Browser, str]:
    browser = Browser(await aiohttp_client(hub_server))
    me = await browser.signup(email, organization=f"Org of {email}")
    return browser, me["memberships"][0]["org"]


async def _join(
    settings: Settings,
    owner: Browser,
    org: str,
    member: Browser,
    email: str,
    role: str,
    **limits: Any,
) -> int:
    """Invite `email` with `role`, follow the mailed link as `member`; the new account id."""
    invitation = await owner.call(
        "orgs.invitations.create", org=org, email=email, role=role, locale="tr", **limits
    )
    assert invitation["role"] == role
    mail = await mail_to(settings, email, "invitation")
    assert mail["locale"] == "tr" and mail["vars"]["organization"].startswith("Org of ")
    me = await member.call("auth.invitation.accept", token=link_token(mail), password=PASSWORD)
    assert {m["org"]: m["role"] for m in me["memberships"]}[org] == role
    return int(me["account"]["id"])


async def test_an_invited_door_member_gets_a_narrow_staff_token(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    owner, org = await _owner(aiohttp_client, hub_server, "owner@example.org")
    organizer = await owner.token(org)
    event = await owner.call("events.create", bearer=organizer, origin=None, **EVENT)
    gates = {"gates": ["north", "south"], "event_id": event["id"]}
    await owner.call("gates.set", bearer=organizer, origin=None, **gates)
    door = Browser(await aiohttp_client(hub_server))
    door_id = await _join(
        workers, owner, org, door, "door@example.org", "door", events=[event["id"]], gates=["north"]
    )
    grant = await door.call("auth.token", org=org)
    assert grant["role"] == "staff"
    other = await owner.call("events.create", bearer=organizer, origin=None, **EVENT)
    outside = await door.error("auth.token", org=org, events=[other["id"]])
    assert (outside[0], outside[1]["code"]) == (403, "forbidden")
    # The staff token scans at its gate of its event only.
    as_organizer = {"bearer": organizer, "origin": None, "event_id": event["id"]}
    kind = await owner.call("tickettypes.create", name="General", price_minor=0, **as_organizer)
    [ticket] = (
        await owner.call("tickets.issue", ticket_type_id=kind["id"], holder="Amra", **as_organizer)
    )["tickets"]
    verdicts = {}
    for gate in ("south", "north"):
        status, verdicts[gate], _ = await door.raw(
            "checkin.scan",
            bearer=grant["token"],
            origin=None,
            event_id=event["id"],
            code=ticket["code"],
            gate=gate,
        )
        assert status == 200, verdicts
    assert verdicts["south"]["reason"] == "gate_not_allowed", verdicts
    assert verdicts["north"]["status"] == "ok", verdicts
    members = (await owner.call("orgs.members.list", org=org))["members"]
    assert {(m["account_id"], m["role"]) for m in members} >= {(door_id, "door")}
    [member] = [m for m in members if m["account_id"] == door_id]
    assert member["events"] == [event["id"]] and member["gates"] == ["north"]
    # The door member runs nothing: no member list, no invitations, no audit.
    assert (await door.error("orgs.members.list", org=org))[1]["code"] == "forbidden"
    assert (await door.error("orgs.audit", org=org))[1]["code"] == "forbidden"

    # The link is single use.
    mail = await mail_to(workers, "door@example.org", "invitation")
    again = await Browser(await aiohttp_client(hub_server)).error(
        "auth.invitation.accept", token=link_token(mail), password=PASSWORD
    )
    assert again[1]["code"] == "not_found"

    entries = (await owner.call("orgs.audit", org=org))["entries"]
    actions = [e["action"] for e in entries]
    for action in ("signup", "invitation.created", "invitation.accepted"):
        assert action in actions, actions


async def test_role_changes_and_removal_are_audited_and_revoke_access(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    owner, org = await _owner(aiohttp_client, hub_server, "boss@example.org")
    manager = Browser(await aiohttp_client(hub_server))
    manager_id = await _join(workers, owner, org, manager, "mgr@example.org", "manager")
    token = await manager.token(org)
    socket = await connect(manager.client, token)

    viewer = await owner.call("orgs.members.update", org=org, account_id=manager_id, role="viewer")
    assert viewer["role"] == "viewer"
    # The old organizer token is revoked: the open socket closes, REST refuses it.
    assert (await socket.until("disconnect"))["code"] == "unauthorized"

    async def refused() -> bool:
        status, _, _ = await manager.raw("events.list", bearer=token, origin=None)
        return status == 401

    await wait_for(refused, what="the revoked token to be refused")
    assert (await manager.call("auth.token", org=org))["role"] == "viewer"

    removed = await owner.call("orgs.members.remove", org=org, account_id=manager_id)
    assert removed == {"account_id": manager_id, "removed": True}
    assert (await manager.error("auth.me"))[1]["code"] == "unauthorized"  # at once

    owner_id = (await owner.call("auth.me"))["account"]["id"]
    last = await owner.error("orgs.members.remove", org=org, account_id=owner_id)
    assert last == (409, last[1]) and last[1]["code"] == "conflict"

    entries = (await owner.call("orgs.audit", org=org, limit=50))["entries"]
    by_action = {e["action"]: e for e in entries}
    # Newest first, paged by `before`.
    first = await owner.call("orgs.audit", org=org, limit=1)
    assert first["entries"] == entries[:1] and first["next"] == entries[0]["id"]
    second = await owner.call("orgs.audit", org=org, limit=1, before=first["next"])
    assert second["entries"] == entries[1:2]
    assert by_action["member.role_changed"]["detail"]["previous"] == "manager"
    assert by_action["member.removed"]["account_id"] == manager_id
    assert by_action["member.removed"]["actor_id"] == owner_id


async def test_no_reach_into_another_organization(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    a, org_a = await _owner(aiohttp_client, hub_server, "a@example.org")
    b, org_b = await _owner(aiohttp_client, hub_server, "b@example.org")
    event_b = await b.call("events.create", bearer=await b.token(org_b), origin=None, **EVENT)
    b_id = (await b.call("auth.me"))["account"]["id"]

    refused = [
        await a.error("orgs.members.list", org=org_b),
        await a.error("orgs.audit", org=org_b),
        await a.error("orgs.invitations.create", org=org_b, email="x@example.org", role="owner"),
        await a.error("orgs.members.update", org=org_b, account_id=b_id, role="viewer"),
        await a.error("orgs.members.remove", org=org_b, account_id=b_id),
        await a.error("auth.token", org=org_b),
        await a.error("auth.token", org=org_a, events=[event_b["id"]]),
    ]
    assert [(status, error["code"]) for status, error in refused] == [(403, "forbidden")] * 7
    # A's own token reaches none of B's events either.
    token_a = await a.token(org_a)
    status, _, _ = await a.raw("events.get", bearer=token_a, origin=None, event_id=event_b["id"])
    assert status in (403, 404)
    assert (await b.call("orgs.members.list", org=org_b))["members"][0]["account_id"] == b_id


async def test_password_reset_by_mailed_link(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    laptop, _ = await _owner(aiohttp_client, hub_server, "forgot@example.org")
    stranger = Browser(await aiohttp_client(hub_server))
    done = {"done": True}
    assert await stranger.call("auth.reset.request", email="forgot@example.org") == done
    assert await stranger.call("auth.reset.request", email="nobody@example.org") == done

    mail = await mail_to(workers, "forgot@example.org", "password_reset")
    assert mail["locale"] == "en"
    # Asking again at once sends nothing more (one a minute), and still says nothing.
    assert await stranger.call("auth.reset.request", email="forgot@example.org") == done
    assert len(await mails_to(workers, "forgot@example.org", "password_reset")) == 1
    weak = await stranger.error("auth.reset.confirm", token=link_token(mail), password="short")
    assert weak[1]["code"] == "weak_password"
    new = "the new and longer passphrase"
    assert await stranger.call("auth.reset.confirm", token=link_token(mail), password=new) == done
    assert (await laptop.error("auth.me"))[1]["code"] == "unauthorized"  # every session ended
    again = await stranger.error("auth.reset.confirm", token=link_token(mail), password=new)
    assert again[1]["code"] == "not_found"
    await stranger.call("auth.signin", email="forgot@example.org", password=new)


async def test_an_invited_viewer_watches_the_dashboard_and_runs_no_organizer_command(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    owner, org = await _owner(aiohttp_client, hub_server, "chief@example.org")
    organizer = await owner.token(org)
    event = await owner.call("events.create", bearer=organizer, origin=None, **EVENT)
    viewer = Browser(await aiohttp_client(hub_server))
    await _join(workers, owner, org, viewer, "screen@example.org", "viewer")
    grant = await viewer.call("auth.token", org=org)
    assert grant["role"] == "viewer"
    # The dashboard on a socket of its own: its publications would come between replies.
    watcher = await connect(viewer.client, grant["token"])
    reply = await watcher.subscribe(f"event.{event['id']}.dashboard")
    assert reply["op"] == "subscribed", reply
    assert reply["snapshot"]["event_id"] == event["id"]
    socket = await connect(viewer.client, grant["token"])
    assert (await socket.subscribe(f"event.{event['id']}.checkins"))["error"]["code"] == (
        "forbidden"
    )
    assert (await socket.call("events.get", {"event_id": event["id"]}))["op"] == "result"
    for method, params in (
        ("events.create", EVENT),
        ("events.update", {"event_id": event["id"], "name": "Renamed"}),
        ("tickettypes.create", {"event_id": event["id"], "name": "VIP", "price_minor": 1}),
        ("sessions.create", {"event_id": event["id"], "title": "Keynote"}),
        ("channels.publish", {"channel": f"event.{event['id']}.announcements", "data": {}}),
        ("exports.page", {"event_id": event["id"], "name": "orders"}),
        ("tokens.create", {"role": "attendee", "sub": "guest", "events": [event["id"]]}),
    ):
        reply = await socket.call(method, params)
        assert reply["op"] == "error" and reply["error"]["code"] == "forbidden", (method, reply)
    # REST says the same.
    status, refused = await viewer.error(
        "events.update", bearer=grant["token"], origin=None, event_id=event["id"], name="x"
    )
    assert (status, refused["code"]) == (403, "forbidden")


async def test_a_viewer_session_cannot_grow_its_own_rights(
    workers: Settings, hub_server: Any, aiohttp_client: Any
) -> None:
    """No way up from `viewer` through the session: no invitations (of an owner, say),
    API keys, door devices, role changes (its own included), member lists or audit."""
    owner, org = await _owner(aiohttp_client, hub_server, "boss@example.org")
    organizer = await owner.token(org)
    event = await owner.call("events.create", bearer=organizer, origin=None, **EVENT)
    viewer = Browser(await aiohttp_client(hub_server))
    me = await _join(workers, owner, org, viewer, "wall@example.org", "viewer")
    for method, params in (
        ("orgs.invitations.create", {"email": "friend@example.org", "role": "owner"}),
        ("orgs.members.update", {"account_id": me, "role": "owner"}),
        ("orgs.members.remove", {"account_id": me}),
        ("orgs.members.list", {}),
        ("orgs.audit", {}),
        ("orgs.apikeys.create", {"name": "mine", "role": "organizer"}),
        ("orgs.apikeys.list", {}),
        ("orgs.devices.pair", {"event_id": event["id"], "name": "Door"}),
        ("orgs.devices.list", {}),
    ):
        status, refused = await viewer.error(method, org=org, **params)
        assert (status, refused["code"]) == (403, "forbidden"), (method, refused)
    # Still a viewer, and a token asked for outside the organization is refused.
    assert (await viewer.call("auth.token", org=org))["role"] == "viewer"
    status, refused = await viewer.error("auth.token", org=org, events=[event["id"] + 1000])
    assert status in (403, 404) and refused["code"] in ("forbidden", "not_found"), refused
