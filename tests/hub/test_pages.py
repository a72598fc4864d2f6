"""The web pages and static files over HTTP: security headers, caching, what is served.

docs/web.md. The browser's side (the policy holding with no violation, the
client module, the catalogue switch) is in tests/web/.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urljoin

import pytest

from bilten.hub.app import create_app
from bilten.hub.pages import (
    APP_MODULES,
    ASSETS,
    IMMUTABLE,
    REVALIDATE,
    STATIC_DIR,
    content_security_policy,
    load_assets,
)
from bilten.infra.settings import Settings
from bilten.protocol.errors import HTTP_STATUS

PAGES = ("/organizer", "/door", "/e/42", "/signin")


def policy(header: str) -> dict[str, str]:
    return {d.split(" ", 1)[0]: d.partition(" ")[2] for d in header.split("; ")}


@pytest.fixture
async def client(settings: Settings, aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(settings))


@pytest.mark.parametrize("path", PAGES)
async def test_pages_carry_a_strict_policy_and_are_revalidated(client: Any, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 200 and resp.content_type == "text/html"
    assert resp.headers["Cache-Control"] == REVALIDATE
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    rules = policy(resp.headers["Content-Security-Policy"])
    assert rules["default-src"] == "'none'"
    assert rules["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert rules["style-src"] == "'self'"
    assert rules["frame-ancestors"] == "'none'"
    host = f"{client.server.host}:{client.server.port}"
    assert rules["connect-src"] == f"'self' ws://{host} wss://{host}"
    page = await resp.text()
    assert "<script>" not in page and " style=" not in page  # nothing inline
    app = {"/organizer": "organizer", "/door": "door"}.get(path, "attendee")
    assert f'data-app="{app}"' in page
    assert ('data-event="42"' in page) == (path == "/e/42")


async def test_every_file_a_page_names_is_served_for_a_year(client: Any) -> None:
    page = await (await client.get("/organizer")).text()
    urls = re.findall(r'(?:src|href|data-i18n)="([^"]+)"', page)
    build = client.server.app[ASSETS].build
    assert len(urls) == 7 and all(u.startswith(f"/static/{build}/") for u in urls), urls
    assert f"/static/{build}/css/organizer.css" in urls  # its own, after the shared one
    for url in urls:
        if url.endswith("/"):  # the catalogue's base: the page adds the language
            url += "en.json"
        resp = await client.get(url)
        assert resp.status == 200, url
        assert resp.headers["Cache-Control"] == IMMUTABLE
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    js = await client.get(f"/static/{build}/js/bilten.js")
    assert js.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert await js.read() == (STATIC_DIR / "js" / "bilten.js").read_bytes()


async def test_the_door_is_an_installable_app(client: Any) -> None:
    """It names its stylesheet and manifest; its worker may control /door (docs/web.md §Door)."""
    build = client.server.app[ASSETS].build
    page = await (await client.get("/door")).text()
    assert f'<link rel="stylesheet" href="/static/{build}/css/door.css">' in page
    found = re.search(r'<link rel="manifest" href="([^"]+)">', page)
    assert found is not None and found[1] == f"/static/{build}/manifest/door.webmanifest"
    resp = await client.get(found[1])
    assert resp.headers["Content-Type"] == "application/manifest+json; charset=utf-8"
    manifest = json.loads(await resp.text())
    assert manifest["start_url"] == manifest["scope"] == "/door"
    icon = await client.get(urljoin(found[1], manifest["icons"][0]["src"]))
    assert icon.status == 200 and icon.headers["Content-Type"] == "image/svg+xml"

    worker = await client.get("/door/sw.js")
    assert worker.status == 200
    assert worker.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert worker.headers["Service-Worker-Allowed"] == "/door"
    assert worker.headers["Cache-Control"] == REVALIDATE  # a new release is a new worker
    assert "frame-ancestors 'none'" in worker.headers["Content-Security-Policy"]
    source = await worker.read()
    assert source == (STATIC_DIR / "js" / "door" / "sw.js").read_bytes()
    # It keeps every module of the door, so none is missing offline.
    for module in (STATIC_DIR / "js" / "door").glob("*.js"):
        assert module.name == "sw.js" or f'"js/door/{module.name}"'.encode() in source
    # Only the door has a manifest.
    assert 'rel="manifest"' not in await (await client.get("/organizer")).text()


async def test_a_pairing_link_leads_to_the_door(client: Any) -> None:
    resp = await client.get("/pair", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/door"


async def test_another_build_is_served_but_not_kept(client: Any) -> None:
    """A page of an older release still loads; its files are not cached under the old id."""
    resp = await client.get("/static/0123456789abcdef/js/bilten.js")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == REVALIDATE


@pytest.mark.parametrize(
    "path",
    [
        "/static/x/js/nothing.js",
        "/static/x/../pages.py",
        "/static/x/%2e%2e/pages.py",
        "/static/x/js",
        "/e/0",
        "/e/042",
        "/e/abc",
        "/e/99999999999999999999",
    ],
)
async def test_what_is_not_there_is_not_found(client: Any, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 404 and resp.content_type == "application/json"
    assert (await resp.json())["error"]["code"] == "not_found"


async def test_an_app_with_its_own_stylesheet_links_it(client: Any) -> None:
    build = client.server.app[ASSETS].build
    own = f'<link rel="stylesheet" href="/static/{build}/css/attendee.css">'
    for path in ("/e/42", "/signin"):
        assert own in await (await client.get(path)).text(), path
    assert "attendee.css" not in await (await client.get("/organizer")).text()
    assert (await client.get(f"/static/{build}/css/attendee.css")).status == 200


async def test_the_attendee_service_worker_is_served_for_the_event_pages(client: Any) -> None:
    resp = await client.get("/e/sw.js")
    assert resp.status == 200 and resp.content_type == "text/javascript"
    assert resp.headers["Cache-Control"] == REVALIDATE  # a new release replaces it at once
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert await resp.read() == (STATIC_DIR / "js" / "attendee" / "sw.js").read_bytes()


async def test_a_browser_at_the_root_goes_to_the_organizer(client: Any) -> None:
    resp = await client.get("/", headers={"Accept": "text/html,*/*"}, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/organizer"
    assert (await (await client.get("/")).json())["links"]["organizer"] == "/organizer"


def test_the_policy_leaves_out_a_host_it_cannot_trust() -> None:
    assert "connect-src 'self';" in content_security_policy("evil.example; script-src *")
    assert "connect-src 'self';" in content_security_policy(None)
    assert "ws://[::1]:8080 " in content_security_policy("[::1]:8080")


def test_the_build_id_follows_every_file(tmp_path: Any) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "a.js").write_text("1")
    first = load_assets(tmp_path).build
    (tmp_path / "js" / "a.js").write_text("2")
    assert load_assets(tmp_path).build != first
    assert set(load_assets(tmp_path).files) == {"js/a.js"}


# --- the catalogue (docs/web.md §Languages) ---

CATALOGUES = {
    p.stem: json.loads(p.read_text("utf-8")) for p in (STATIC_DIR / "i18n").glob("*.json")
}
STATES = ("idle", "connecting", "open", "reconnecting", "closed")


def used_keys() -> set[str]:
    """Every key the scripts look up: literal `t("…")`, and the few built from a value."""
    literal = set()
    for path in (STATIC_DIR / "js").rglob("*.js"):
        literal |= set(re.findall(r'\bt\("([a-z0-9_.]+)"', path.read_text("utf-8")))
    built = {f"app.{a}" for a in APP_MODULES} | {f"state.{s}" for s in STATES}
    return literal | built | {"language.en", "language.tr"}


def test_english_and_turkish_are_complete() -> None:
    assert set(CATALOGUES) == {"en", "tr"}
    keys = used_keys()
    for language, catalogue in CATALOGUES.items():
        assert set(catalogue) == keys, language
        assert all(isinstance(v, str) and v.strip() for v in catalogue.values()), language
    for key in keys - {"language.en", "language.tr"}:
        placeholders = {lang: set(re.findall(r"\{\w+\}", c[key])) for lang, c in CATALOGUES.items()}
        assert placeholders["en"] == placeholders["tr"], key


def test_the_client_states_are_the_ones_translated() -> None:
    source = (STATIC_DIR / "js" / "bilten.js").read_text("utf-8")
    calls = [line for line in source.splitlines() if "_setState(" in line]
    named = {word for line in calls for word in re.findall(r'"(\w+)"', line)}
    assert named | {"idle"} == set(STATES)


def test_the_client_module_knows_every_error_code() -> None:
    """bilten.js reads a code it does not know as `internal`: it must know all the hub sends."""
    source = (STATIC_DIR / "js" / "bilten.js").read_text("utf-8")
    listed = source.split("export const ERROR_CODES = new Set([", 1)[1].split("]);", 1)[0]
    assert set(re.findall(r'"(\w+)"', listed)) == set(HTTP_STATUS)
