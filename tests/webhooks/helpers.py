"""A real HTTPS receiver for webhook tests, with a certificate made for the test, and a
stack of workers and hub running with webhook settings of the test's choosing."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from tests.ready import workers_running


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, its own CA, and its key: (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bilten test receiver")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "receiver.pem", directory / "receiver.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Received:
    """One request the receiver took."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTPS server on 127.0.0.1 that records every request and answers with the status
    `answer(request)` gives (or a future of it, to hold the answer back)."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    answer: Callable[[Received], Any] = lambda _r: 200

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        """This receiver's URL."""
        return f"https://{host}:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        """The requests made to `path`."""
        return [r for r in self.received if r.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        got = Received(request.path, dict(request.headers), await request.read())
        self.received.append(got)
        status = self.answer(got)
        if asyncio.isfuture(status):
            status = await status
        return web.Response(status=status, text=f"answered {status}")


@asynccontextmanager
async def receiving(cert: Path, key: Path) -> AsyncIterator[Receiver]:
    """A running `Receiver` with `cert`, stopped on exit."""
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    receiver.port = runner.addresses[0][1]
    try:
        yield receiver
    finally:
        await runner.cleanup()


WORKERS = ["checkin", "events", "tickets", "webhooks"]


def running(settings: Settings, names: list[str] = WORKERS) -> AbstractAsyncContextManager[None]:
    """The named workers with `settings`, in this process, until the block ends."""
    return workers_running(settings, names)


class Api:
    """REST calls to a hub by command name, with a bearer token."""

    def __init__(self, client: Any, token: str) -> None:
        self.client = client
        self.token = token

    async def raw(self, method: str, token: str | None = None, **params: Any) -> tuple[int, Any]:
        from bilten.protocol.commands import COMMANDS, path_params

        command = COMMANDS[method]
        path = command.path
        for name in path_params(command):
            path = path.replace(f"{{{name}}}", str(params.pop(name)))
        get = command.http == "GET"
        resp = await self.client.request(
            command.http,
            path,
            json=None if get else params,
            params={k: str(v) for k, v in params.items()} if get else None,
            headers={"Authorization": f"Bearer {token or self.token}"},
        )
        return resp.status, await resp.json()

    async def __call__(self, method: str, token: str | None = None, **params: Any) -> Any:
        status, body = await self.raw(method, token, **params)
        assert status < 300, (method, status, body)
        return body

    async def error(self, method: str, token: str | None = None, **params: Any) -> dict[str, Any]:
        status, body = await self.raw(method, token, **params)
        assert status >= 400, (method, status, body)
        error: dict[str, Any] = body["error"]
        return error


@asynccontextmanager
async def hub(settings: Settings, aiohttp_client: Any, token: str) -> AsyncIterator[Api]:
    """An `Api` on a hub with `settings`."""
    yield Api(await aiohttp_client(create_app(settings)), token)
