"""What webhooks refuse (issue 13): plain HTTP and non-public addresses unless allowed, when
registered and again on every attempt (DNS rebinding); bad input with stable codes; and
other organizations' and events' webhooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bilten.infra.settings import Settings
from tests.hub.helpers import EVENT
from tests.waiting import wait_for
from tests.webhooks.helpers import Api, hub, receiving, running, self_signed


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """The receiver's certificate (the workers trust it through BILTEN_WEBHOOK_CA_FILE)."""
    return self_signed(tmp_path)


async def test_plain_http_and_non_public_addresses_are_refused(
    migrated: Settings, certificate: tuple[Path, Path], aiohttp_client: Any, make_token: Any
) -> None:
    cert, key = certificate
    settings = migrated.replace(webhook_ca_file=cert)  # the production defaults otherwise
    async with (
        receiving(cert, key) as receiver,
        running(settings, ["events", "webhooks"]),
        hub(settings, aiohttp_client, make_token("organizer")) as api,
    ):
        kinds = ["events.updated"]
        for url, reason in [
            (f"http://hooks.invalid:{receiver.port}/", "not_https"),
            (receiver.url(), "private_address"),
            (receiver.url(host="localhost"), "private_address"),  # a name resolving to it
            ("https://169.254.169.254/latest/meta-data", "private_address"),
            ("https://[::1]/hook", "private_address"),
            ("https://user:secret@hooks.invalid/", "credentials"),
            ("hooks.invalid/hook", "malformed"),
        ]:
            error = await api.error("webhooks.create", url=url, kinds=kinds)
            assert (error["code"], error["details"]["reason"]) == ("bad_webhook_url", reason), url
            assert error["details"]["field"] == "url"

        hook = await api("webhooks.create", url="https://hooks.invalid/bilten", kinds=kinds)
        error = await api.error("webhooks.update", webhook_id=hook["id"], url=receiver.url())
        assert (error["code"], error["details"]["reason"]) == ("bad_webhook_url", "private_address")
        for params, field in [
            ({"kinds": ["tickets.teleported"]}, "kinds"),
            ({"kinds": ["mail.requested"]}, "kinds"),
            ({"kinds": []}, "kinds"),
            ({"kinds": ["*", "events.updated"]}, "kinds"),
            ({"kinds": kinds, "description": "x" * 201}, "description"),
            ({"kinds": kinds, "colour": "red"}, None),
            ({}, None),
        ]:
            error = await api.error("webhooks.create", url="https://hooks.invalid/", **params)
            assert error["code"] == "bad_request", params
            if field:
                assert error["details"]["field"] == field, error
        error = await api.error("webhooks.get", webhook_id=999_999)
        assert error["code"] == "not_found"

        # Registered while its name resolved elsewhere, it now resolves to this machine:
        # the attempt checks the address it connects to, and reaches nothing.
        event = (await api("events.create", **EVENT))["id"]
        assert settings.database_url
        db = await asyncpg.connect(settings.database_url)
        try:
            await db.execute(
                "UPDATE webhooks SET url = $2 WHERE id = $1",
                hook["id"],
                receiver.url(host="localhost"),
            )
        finally:
            await db.close()
        await api("events.update", event_id=event, name="Renamed")

        async def attempted() -> list[dict[str, Any]]:
            page = await api("webhooks.deliveries", webhook_id=hook["id"])
            attempts: list[dict[str, Any]] = page["attempts"]
            return attempts

        [attempt] = await wait_for(attempted, what="the attempt logged")
        assert attempt["outcome"] == "failed" and attempt["response_code"] is None
        assert "non-public address" in attempt["error"], attempt
        assert attempt["delivery_status"] == "pending" and attempt["next_attempt_at"]
        assert receiver.received == []


async def test_webhooks_are_seen_only_within_the_callers_organization_and_events(
    workers: Settings, hub_server: Any, aiohttp_client: Any, make_token: Any
) -> None:
    api = Api(await aiohttp_client(hub_server), make_token("organizer"))
    one = (await api("events.create", **EVENT))["id"]
    two = (await api("events.create", **EVENT))["id"]
    kinds = ["*"]
    whole = await api("webhooks.create", url="https://hooks.invalid/all", kinds=kinds)
    first = await api("webhooks.create", url="https://hooks.invalid/one", kinds=kinds, event_id=one)
    second = await api(
        "webhooks.create", url="https://hooks.invalid/two", kinds=kinds, event_id=two
    )

    limited = make_token("organizer", sub="lead-1", events=[one])
    error = await api.error("webhooks.create", limited, url="https://h.invalid/", kinds=kinds)
    assert error["code"] == "forbidden"
    mine = await api(
        "webhooks.create", limited, url="https://h.invalid/", kinds=kinds, event_id=one
    )
    listed = await api("webhooks.list", limited)
    assert {w["id"] for w in listed["webhooks"]} == {first["id"], mine["id"]}
    for hidden in (whole, second):
        error = await api.error("webhooks.get", limited, webhook_id=hidden["id"])
        assert error["code"] == "not_found"
        error = await api.error("webhooks.resume", limited, webhook_id=hidden["id"])
        assert error["code"] == "not_found"
    error = await api.error("webhooks.list", limited, event_id=two)
    assert error["code"] == "forbidden"

    everything = await api("webhooks.list", limit=2)
    assert [w["id"] for w in everything["webhooks"]] == [whole["id"], first["id"]]
    rest = await api("webhooks.list", after=everything["next"])
    assert [w["id"] for w in rest["webhooks"]] == [second["id"], mine["id"]]
    by_event = await api("webhooks.list", event_id=two)
    assert [w["id"] for w in by_event["webhooks"]] == [second["id"]]

    stranger = make_token("organizer", org="elsewhere", sub="o-9")
    assert (await api("webhooks.list", stranger))["webhooks"] == []
    for method in ("webhooks.get", "webhooks.test", "webhooks.deliveries", "webhooks.delete"):
        error = await api.error(method, stranger, webhook_id=whole["id"])
        assert error["code"] == "not_found", method
    error = await api.error(
        "webhooks.create", stranger, url="https://h.invalid/", kinds=kinds, event_id=one
    )
    assert error["code"] == "forbidden"
    error = await api.error(
        "webhooks.get", make_token("staff", events=[one]), webhook_id=first["id"]
    )
    assert error["code"] == "forbidden"

    # Deleted: gone for everyone, its deliveries with it.
    assert await api("webhooks.delete", webhook_id=whole["id"]) == {
        "webhook_id": whole["id"],
        "deleted": True,
    }
    assert (await api.error("webhooks.get", webhook_id=whole["id"]))["code"] == "not_found"
