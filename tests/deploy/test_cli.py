"""The `bilten` command line: token, version and configuration errors."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from bilten.infra.settings import Settings


def bilten(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bilten.deploy.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_version_prints_the_package_version() -> None:
    from importlib.metadata import version

    result = bilten("version")
    assert result.returncode == 0
    assert result.stdout.strip() == version("bilten")


def test_bad_configuration_fails_fast_naming_the_variable() -> None:
    result = bilten("migrate", env={"BILTEN_PORT": "nope", "PATH": "/usr/bin"})
    assert result.returncode == 2
    assert "BILTEN_PORT" in result.stderr


async def test_token_output_is_accepted_by_the_hub(hub_server: Any, workers: Settings,
                                                    aiohttp_client: Any) -> None:
    env = {"BILTEN_SECRET": workers.require_secret(), "PATH": "/usr/bin"}
    result = bilten("token", "--role", "organizer", "--org", "acme", "--event", "*", env=env)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n"  # the token and nothing else
    client = await aiohttp_client(hub_server)
    resp = await client.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["events"] == []
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    resp = await client.get("/api/v1/events", headers={"Authorization": f"Bearer {forged}"})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"


def test_token_uses_the_development_secret_of_the_data_dir(tmp_path: Any) -> None:
    env = {"BILTEN_DATA_DIR": str(tmp_path), "PATH": "/usr/bin"}
    first = bilten("token", "--role", "attendee", "--event", "7", env=env)
    second = bilten("token", "--role", "attendee", "--event", "7", env=env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr
    secret = (tmp_path / "secret").read_text()
    assert len(secret) >= 32
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    import time

    from bilten.protocol.tokens import decode_token

    claims = decode_token(first.stdout.strip(), secret, now=time.time())
    assert claims.role == "attendee" and claims.events == (7,)
