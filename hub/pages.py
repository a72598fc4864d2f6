"""The web pages and their static files, served with a strict Content-Security-Policy.

docs/web.md. Everything under hub/static/ is read once when the app is built
and served from memory, so only files that were there are ever served (no
path is joined at request time). Their URLs carry a build id, a digest of
every file, so a browser may keep each one for a year: a new release has a
new id and new URLs. The app pages (`/organizer`, `/e/{event_id}`, `/signin`, `/door`)
name the current build's files and are never cached.
"""

from __future__ import annotations

import hashlib
import html
import mimetypes
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from aiohttp import web

from bilten.protocol.channels import parse_channel
from bilten.protocol.errors import BadChannel

STATIC_DIR = Path(__file__).resolve().parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# Each app's ES module (docs/web.md §Pages).
APP_MODULES = {
    "organizer": "js/organizer/main.js",
    "attendee": "js/attendee/main.js",
    "door": "js/door.js",
}
# The attendee pages' service worker, served at /e/sw.js (docs/web.md §Attendee page).
ATTENDEE_WORKER = "js/attendee/sw.js"
# The door device's service worker: one stable URL whose scope may cover /door.
DOOR_WORKER = "js/door/sw.js"
# A Host header we are willing to write into the policy: name or address, optional port.
_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file: its bytes and the Content-Type it is served with."""

    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class Assets:
    """The static files by path below hub/static/, and the build id naming this set."""

    files: Mapping[str, Asset]
    build: str

    def url(self, path: str) -> str:
        """The versioned URL of a static file."""
        return f"/static/{self.build}/{path}"


ASSETS = web.AppKey("assets", Assets)


def content_type(path: Path) -> str:
    """The Content-Type of a static file; text without a known type is plain text."""
    guessed = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
    textual = guessed.startswith("text/") or guessed.endswith("json")
    return f"{guessed}; charset=utf-8" if textual else guessed


def load_assets(root: Path = STATIC_DIR) -> Assets:
    """Read every file below `root`; the build id is a digest of their paths and contents."""
    digest = hashlib.sha256()
    files: dict[str, Asset] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        body = path.read_bytes()
        digest.update(name.encode() + b"\0" + hashlib.sha256(body).digest())
        files[name] = Asset(body, content_type(path))
    return Assets(MappingProxyType(files), digest.hexdigest()[:16])


def content_security_policy(host: str | None) -> str:
    """The pages' policy: scripts, styles and connections to this origin only, no framing.

    No inline script or style and no eval. `connect-src` names the WebSocket
    URLs of the host explicitly, since 'self' covers ws: and wss: only in
    newer browsers; a Host header that is not a plain host[:port] is left out.
    """
    sockets = f" ws://{host} wss://{host}" if host and _HOST.fullmatch(host) else ""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self'{sockets}",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def secured(response: web.Response, request: web.Request) -> web.Response:
    """Add the security headers every page and static file carries (docs/web.md §Headers)."""
    response.headers["Content-Security-Policy"] = content_security_policy(request.host)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def static_file(request: web.Request) -> web.Response:
    """GET /static/{build}/{path}: a file kept for a year under this build's id.

    A page of an older build (a hub restarted under it) still gets the file,
    but marked for revalidation, so the new content is not cached under the
    old name for a year.
    """
    assets = request.app[ASSETS]
    asset = assets.files.get(request.match_info["path"])
    if asset is None:
        raise web.HTTPNotFound()
    current = request.match_info["build"] == assets.build
    response = web.Response(body=asset.body, headers={"Content-Type": asset.content_type})
    response.headers["Cache-Control"] = IMMUTABLE if current else REVALIDATE
    return secured(response, request)


def _app_links(assets: Assets, app: str) -> str:
    """An app's own stylesheet (`css/{app}.css`) and web app manifest, when it has them."""
    links = []
    if f"css/{app}.css" in assets.files:
        links.append(f'<link rel="stylesheet" href="{html.escape(assets.url(f"css/{app}.css"))}">')
    if f"manifest/{app}.webmanifest" in assets.files:
        href = html.escape(assets.url(f"manifest/{app}.webmanifest"))
        links.append(f'<link rel="manifest" href="{href}">')
    return "".join(f"{link}\n" for link in links)


def render_page(assets: Assets, app: str, event_id: int | None) -> str:
    """The HTML of an app page: no inline script, everything else comes from the catalogue."""
    event = "" if event_id is None else f' data-event="{event_id}"'
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Bilten</title>
<link rel="icon" href="{html.escape(assets.url("icon.svg"))}" type="image/svg+xml">
<link rel="stylesheet" href="{html.escape(assets.url("css/bilten.css"))}">
{_app_links(assets, app)}\
<script defer src="{html.escape(assets.url("vendor/react.production.min.js"))}"></script>
<script defer src="{html.escape(assets.url("vendor/react-dom.production.min.js"))}"></script>
<script type="module" src="{html.escape(assets.url(APP_MODULES[app]))}"></script>
</head>
<body data-app="{app}"{event} data-i18n="{html.escape(assets.url("i18n/"))}">
<main id="root"></main>
<noscript>Bilten needs JavaScript.</noscript>
</body>
</html>
"""


def _page(app: str, event_id: int | None, request: web.Request) -> web.Response:
    response = web.Response(
        text=render_page(request.app[ASSETS], app, event_id), content_type="text/html"
    )
    response.headers["Cache-Control"] = REVALIDATE
    return secured(response, request)


async def organizer_page(request: web.Request) -> web.Response:
    """GET /organizer (and /join, /reset: its mailed links): the organizer's console."""
    return _page("organizer", None, request)


async def door_page(request: web.Request) -> web.Response:
    """GET /door: the door device."""
    return _page("door", None, request)


async def signin_page(request: web.Request) -> web.Response:
    """GET /signin: where an attendee's mailed sign-in link lands (docs/accounts.md §Attendees)."""
    return _page("attendee", None, request)


def service_worker(
    path: str, allowed: str | None = None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A handler serving the service worker at `path` from a URL outside /static/.

    A worker's scope is at most its own directory, so one under /static/{build}/
    could not control the pages; its URL stays the same across builds (the
    browser compares its bytes to update it). `allowed`, as
    `Service-Worker-Allowed`, widens the scope beyond the URL's directory.
    """

    async def serve(request: web.Request) -> web.Response:
        asset = request.app[ASSETS].files[path]
        response = web.Response(body=asset.body, headers={"Content-Type": asset.content_type})
        response.headers["Cache-Control"] = REVALIDATE
        if allowed is not None:
            response.headers["Service-Worker-Allowed"] = allowed
        return secured(response, request)

    return serve


async def pairing_link(request: web.Request) -> web.Response:
    """GET /pair: where an organizer's pairing QR leads (docs/accounts.md §Door devices).

    The code rides in the URL's fragment, which the browser keeps across the
    redirect and never sends, so the door page reads it and pairs.
    """
    raise web.HTTPFound("/door")


async def attendee_page(request: web.Request) -> web.Response:
    """GET /e/{event_id}: an attendee's page of one event; an id no channel could name is 404."""
    raw = request.match_info["event_id"]
    try:
        event_id = int(parse_channel(f"event.{raw}.announcements").event_id or 0)
    except BadChannel:
        raise web.HTTPNotFound() from None
    return _page("attendee", event_id, request)


def add_routes(app: web.Application) -> None:
    """Serve the static files and the app pages; the assets are read here, once."""
    app[ASSETS] = load_assets()
    app.router.add_get("/static/{build}/{path:.+}", static_file)
    app.router.add_get("/organizer", organizer_page)
    # The organizer's mailed links (docs/accounts.md §Flows) open the console.
    app.router.add_get("/join", organizer_page)
    app.router.add_get("/reset", organizer_page)
    app.router.add_get("/door", door_page)
    # Before /e/{event_id}, which would 404; the attendee worker's scope is /e/, the door's /door.
    app.router.add_get("/e/sw.js", service_worker(ATTENDEE_WORKER))
    app.router.add_get("/door/sw.js", service_worker(DOOR_WORKER, allowed="/door"))
    app.router.add_get("/pair", pairing_link)
    app.router.add_get("/e/{event_id}", attendee_page)
    app.router.add_get("/signin", signin_page)
