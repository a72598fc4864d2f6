"""The embedded mail server of `bilten up`: SMTP (aiosmtpd) in, the development mailbox out.

Started when BILTEN_SMTP_URL is not set, like the other embedded servers
(deploy/embedded.py), and stopped after the workers, so a message sent while
they drain still arrives. It runs on an event loop in a thread of its own:
`bilten up` keeps its own loop for supervising children, and stops servers
from synchronous code after that loop has ended. Both listeners are on the
loopback address: the mailbox shows sign-in links meant for one person.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from aiohttp import web
from aiosmtpd.smtp import SMTP

from bilten.deploy.mailbox import Mailbox, SmtpHandler, mailbox_app

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 8.0
MAX_MESSAGE_BYTES = 1 << 20  # far beyond any message Bilten sends


class EmbeddedMail:
    """An SMTP server keeping messages in a `Mailbox`, and the mailbox's pages.

    `start` returns once both listen; `smtp_url` and `mailbox_url` say where.
    """

    def __init__(self, host: str = "127.0.0.1", *, mailbox: Mailbox | None = None) -> None:
        self.host = host
        self.mailbox = mailbox or Mailbox()
        self.smtp_url = ""
        self.mailbox_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._runner: web.AppRunner | None = None

    def start(self, *, smtp_port: int = 0, page_port: int = 0) -> EmbeddedMail:
        """Listen for SMTP and serve the pages (port 0: any free one); idempotent."""
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="bilten-mail", daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(smtp_port, page_port), loop)
        try:
            future.result(START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        return self

    async def _listen(self, smtp_port: int, page_port: int) -> None:
        loop = asyncio.get_running_loop()
        handler = SmtpHandler(self.mailbox)
        self._server = await loop.create_server(
            lambda: SMTP(
                handler,
                hostname="bilten-mailbox",
                data_size_limit=MAX_MESSAGE_BYTES,
                enable_SMTPUTF8=True,
                loop=loop,
            ),
            self.host,
            smtp_port,
        )
        port = self._server.sockets[0].getsockname()[1]
        self.smtp_url = f"smtp://{self.host}:{port}"
        self._runner = web.AppRunner(mailbox_app(self.mailbox), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, page_port).start()
        self.mailbox_url = f"http://{self.host}:{self._runner.addresses[0][1]}/"

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        """Stop listening and end the thread; safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(STOP_TIMEOUT_S)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(STOP_TIMEOUT_S)
            if not thread.is_alive():
                loop.close()

    def __enter__(self) -> EmbeddedMail:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
