"""Fault tests run on their own embedded servers: they kill, stop and restart them.

The shared servers (BILTEN_TEST_*_URL) serve other test runs in parallel and
must never be signalled, so this package starts its own NATS, PostgreSQL and
Redis on free ports, once for the package, and overrides the `servers` fixture.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bilten.deploy.embedded import EmbeddedStack
from tests.conftest import ServerURLs


@pytest.fixture(scope="package")
def stack() -> Iterator[EmbeddedStack]:
    """This package's own servers; a test that signals one restores it before it ends."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the embedded servers are Linux only")
    with tempfile.TemporaryDirectory(prefix="bilten-faults-") as tmp:
        os.chmod(tmp, 0o755)  # the embedded PostgreSQL may run as another user
        with EmbeddedStack(Path(tmp)) as embedded:
            embedded.start_nats()
            embedded.start_postgres()
            embedded.start_redis()
            yield embedded


@pytest.fixture(scope="package")
def servers(stack: EmbeddedStack) -> ServerURLs:
    """The `settings` fixture's servers: this package's own, never the shared ones."""
    urls = {server.name: server.url for server in stack.servers()}
    return ServerURLs(nats=urls["nats"], database=urls["postgres"], redis=urls["redis"])
