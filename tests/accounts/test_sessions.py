"""Sign-up, sign-in, sessions and connection tokens through a real hub and workers."""

from __future__ import annotations

from typing import Any

from bilten.hub.sessions import COOKIE
from bilten.protocol.accounts import CONNECTION_TOKEN_TTL_S
from tests.accounts.helpers import PASSWORD, Browser
from tests.hub.helpers import EVENT


async def test_signup_signs_in_with_a_strict_http_only_cookie(
    hub_server: Any, aiohttp_client: Any
) -> None:
    browser = Browser(await aiohttp_client(hub_server))
    status, me, resp = await browser.raw(
        "auth.signup", email=" Amra@Example.org ", password=PASSWORD, organization="Jazz Club"
    )
    assert status == 201, me
    assert "session" not in me  # the secret travels in the cookie only
    assert me["account"]["email"] == "amra@example.org"
    [membership] = me["memberships"]
    assert membership["role"] == "owner" and membership["name"] == "Jazz Club"
    cookie = resp.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert not cookie["secure"]  # plain HTTP here; over TLS it is Secure (request.secure)
    assert (await browser.call("auth.me"))["account"] == me["account"]


async def test_sign_in_and_out(hub_server: Any, aiohttp_client: Any) -> None:
    first = Browser(await aiohttp_client(hub_server))
    await first.signup("lejla@example.org")
    second = Browser(await aiohttp_client(hub_server))
    me = await second.call("auth.signin", email="lejla@example.org", password=PASSWORD)
    assert me["memberships"][0]["role"] == "owner"
    assert first.cookie != second.cookie

    assert await second.call("auth.signout") == {"signed_out": 1}
    assert second.cookie is None
    assert (await first.call("auth.me"))["account"]["email"] == "lejla@example.org"

    assert (await first.call("auth.signout.all"))["signed_out"] == 1
    status, error = await first.error("auth.me")
    assert (status, error["code"]) == (401, "unauthorized")


async def test_a_signed_out_cookie_is_refused_even_if_kept(
    hub_server: Any, aiohttp_client: Any
) -> None:
    browser = Browser(await aiohttp_client(hub_server))
    await browser.signup("kept@example.org")
    kept = browser.cookie
    await browser.call("auth.signout")
    browser.client.session.cookie_jar.update_cookies({COOKIE: kept})
    status, error = await browser.error("auth.me")
    assert (status, error["code"]) == (401, "unauthorized")


async def test_refusals_have_stable_codes(hub_server: Any, aiohttp_client: Any) -> None:
    browser = Browser(await aiohttp_client(hub_server))
    await browser.signup("edin@example.org")
    other = Browser(await aiohttp_client(hub_server))

    cases = [
        ({"email": "edin@example.org"}, 409, "email_taken"),
        ({"email": "new@example.org", "password": "short"}, 400, "weak_password"),
        ({"email": "new@example.org", "password": "1234567890"}, 400, "weak_password"),
        ({"email": "new@example.org", "password": "New@Example.org"}, 400, "weak_password"),
        ({"email": "not an address"}, 400, "bad_request"),
    ]
    for change, status, code in cases:
        params = {"email": "x@example.org", "password": PASSWORD, "organization": "X", **change}
        refused, error = await other.error("auth.signup", **params)
        assert (refused, error["code"]) == (status, code), change
    _, weak = await other.error(
        "auth.signup", email="n@example.org", password="1234567890", organization="X"
    )
    assert weak["details"] == {"reason": "common"}


async def test_wrong_password_and_unknown_address_answer_alike(
    hub_server: Any, aiohttp_client: Any
) -> None:
    browser = Browser(await aiohttp_client(hub_server))
    await browser.signup("amra@example.org")
    wrong = await browser.error(
        "auth.signin", email="amra@example.org", password="not the password"
    )
    unknown = await browser.error("auth.signin", email="nobody@example.org", password=PASSWORD)
    assert wrong == unknown == (401, {"code": "bad_credentials", "message": wrong[1]["message"]})


async def test_a_session_mints_short_connection_tokens_for_its_org(
    hub_server: Any, aiohttp_client: Any
) -> None:
    browser = Browser(await aiohttp_client(hub_server))
    org = (await browser.signup("owner@example.org"))["memberships"][0]["org"]
    answer = await browser.call("auth.token", org=org)
    assert answer["role"] == "organizer"
    assert answer["sub"].startswith("account-")
    token = answer["token"]

    # The token works for REST (and /ws) like any other, within the organization.
    status, event, _ = await browser.raw("events.create", bearer=token, origin=None, **EVENT)
    assert status == 201 and event["org"] == org, event
    one = await browser.call("auth.token", org=org, events=[event["id"]])
    assert one["expires_at"] - CONNECTION_TOKEN_TTL_S <= answer["expires_at"]
    status, error = await browser.error("auth.token", org=org, events=[10**12])
    assert (status, error["code"]) == (404, "not_found")


async def test_state_changes_need_a_same_origin_request(
    hub_server: Any, aiohttp_client: Any
) -> None:
    browser = Browser(await aiohttp_client(hub_server))
    org = (await browser.signup("csrf@example.org"))["memberships"][0]["org"]
    for origin in (None, "https://evil.example", "null"):
        for method, params in (
            ("auth.signout.all", {}),
            ("auth.token", {"org": org}),
            ("orgs.invitations.create", {"org": org, "email": "x@example.org", "role": "viewer"}),
            ("auth.signin", {"email": "csrf@example.org", "password": PASSWORD}),
        ):
            status, error = await browser.error(method, origin=origin, **params)
            assert (status, error["code"]) == (403, "forbidden"), (method, origin)
            assert error["details"] == {"reason": "origin"}
    # Reading needs no Origin (browsers send none on same-origin GETs), and the session lives on.
    _, me, _ = await browser.raw("auth.me", origin=None)
    assert me["account"]["email"] == "csrf@example.org"


async def test_a_password_change_ends_the_other_sessions(
    hub_server: Any, aiohttp_client: Any
) -> None:
    laptop = Browser(await aiohttp_client(hub_server))
    await laptop.signup("amra@example.org")
    phone = Browser(await aiohttp_client(hub_server))
    await phone.call("auth.signin", email="amra@example.org", password=PASSWORD)

    status, error = await laptop.error(
        "auth.password", password="wrong password", new_password="a brand new passphrase"
    )
    assert (status, error["code"]) == (401, "bad_credentials")
    changed = await laptop.call(
        "auth.password", password=PASSWORD, new_password="a brand new passphrase"
    )
    assert changed == {"signed_out": 1}
    assert (await laptop.call("auth.me"))["account"]["email"] == "amra@example.org"
    assert (await phone.error("auth.me"))[1]["code"] == "unauthorized"
    assert (await phone.error("auth.signin", email="amra@example.org", password=PASSWORD))[1][
        "code"
    ] == "bad_credentials"
    await phone.call("auth.signin", email="amra@example.org", password="a brand new passphrase")


async def test_failed_sign_ins_are_delayed_more_and_more(
    hub_server: Any, aiohttp_client: Any
) -> None:
    browser = Browser(await aiohttp_client(hub_server))
    await browser.signup("target@example.org")
    for _ in range(4):  # three are free; the fourth starts the delay
        status, error = await browser.error(
            "auth.signin", email="target@example.org", password="guess guess"
        )
        assert error["code"] == "bad_credentials"
    status, error = await browser.error(
        "auth.signin", email="target@example.org", password=PASSWORD
    )
    assert (status, error["code"]) == (429, "rate_limited")  # even the right password waits
    assert error["details"]["retry_after"] > 0
    # Another account from the same address is not yet held back.
    await browser.signup("other@example.org")
    await browser.call("auth.signin", email="other@example.org", password=PASSWORD)


async def test_one_address_trying_many_accounts_is_held_back(
    hub_server: Any, aiohttp_client: Any
) -> None:
    browser = Browser(await aiohttp_client(hub_server))
    await browser.signup("real@example.org")
    for n in range(11):  # ten are free for an address; the eleventh starts the delay
        _, error = await browser.error(
            "auth.signin", email=f"guess{n}@example.org", password="guess guess"
        )
        assert error["code"] == "bad_credentials"
    status, error = await browser.error("auth.signin", email="real@example.org", password=PASSWORD)
    assert (status, error["code"]) == (429, "rate_limited")
