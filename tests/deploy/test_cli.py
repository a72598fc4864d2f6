"""The `bilten` command line: token, version, help and configuration errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bilten.deploy.secret import resolve_secret
from bilten.infra.settings import Settings, load_settings
from bilten.protocol.tokens import decode_token


def bilten(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bilten.deploy.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version_prints_the_package_version() -> None:
    from importlib.metadata import version

    result = bilten("version")
    assert result.returncode == 0
    assert result.stdout.strip() == version("bilten")


def test_bad_configuration_fails_fast_naming_the_variable() -> None:
    result = bilten("migrate", env={"BILTEN_PORT": "nope", "PATH": "/usr/bin"})
    assert result.returncode == 2
    assert "BILTEN_PORT" in result.stderr


async def test_token_output_is_accepted_by_the_hub(
    hub_server: Any, workers: Settings, aiohttp_client: Any
) -> None:
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


def test_token_signs_with_the_stacks_secret_from_another_directory(tmp_path: Path) -> None:
    stack_dir = tmp_path / "stack" / ".bilten"
    secret = resolve_secret(load_settings({}, data_dir=stack_dir)).require_secret()  # as `up`
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    by_env = bilten(
        "token",
        "--role",
        "attendee",
        "--event",
        "7",
        cwd=elsewhere,
        env={"BILTEN_DATA_DIR": str(stack_dir), "PATH": "/usr/bin"},
    )
    by_flag = bilten(
        "token",
        "--role",
        "attendee",
        "--event",
        "7",
        "--data-dir",
        str(stack_dir),
        cwd=elsewhere,
        env={"PATH": "/usr/bin"},
    )
    for result in (by_env, by_flag):
        assert result.returncode == 0, result.stderr
        claims = decode_token(result.stdout.strip(), secret, now=time.time())
        assert claims.role == "attendee" and claims.events == (7,)
    assert list(elsewhere.iterdir()) == []


def test_token_mints_every_role_the_hub_accepts() -> None:
    """docs/protocol.md §Tokens: `bilten token` and `tokens.create` mint the same roles."""
    secret = "s" * 32
    result = bilten(
        "token",
        "--role",
        "viewer",
        "--event",
        "*",
        env={"BILTEN_SECRET": secret, "PATH": "/usr/bin"},
    )
    assert result.returncode == 0, result.stderr
    claims = decode_token(result.stdout.strip(), secret, now=time.time())
    assert (claims.role, claims.events) == ("viewer", "*")


def test_token_without_a_secret_fails_and_creates_none(tmp_path: Path) -> None:
    result = bilten(
        "token", "--role", "organizer", "--event", "*", cwd=tmp_path, env={"PATH": "/usr/bin"}
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "BILTEN_SECRET" in result.stderr and "BILTEN_DATA_DIR" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_token_with_meaningless_claims_is_a_clean_error() -> None:
    result = bilten(
        "token",
        "--role",
        "organizer",
        "--event",
        "*",
        "--ttl",
        "0",
        env={"BILTEN_SECRET": "s" * 32, "PATH": "/usr/bin"},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("bilten: ttl_s") and "Traceback" not in result.stderr


def test_version_flag() -> None:
    from importlib.metadata import version

    result = bilten("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"bilten {version('bilten')}")


def test_bad_flag_is_named_as_typed() -> None:
    result = bilten(
        "migrate", "--log-format", "json", "--nats-url", "http://x", env={"PATH": "/usr/bin"}
    )
    assert result.returncode == 2
    assert result.stderr.startswith("bilten: --nats-url: expected a nats/tls URL")
    result = bilten("up", "--port", "nope", env={"PATH": "/usr/bin"})
    assert (result.returncode, result.stderr) == (
        2,
        "bilten: --port: expected an integer, got 'nope'\n",
    )


def test_help_shows_defaults_not_docstrings() -> None:
    top = bilten("--help")
    assert top.returncode == 0
    assert "entry point" not in top.stdout and "Settings" not in top.stdout
    up = " ".join(bilten("up", "--help").stdout.split())  # unwrapped
    assert "hub port (BILTEN_PORT, default: 8080)" in up
    assert "NATS URL (BILTEN_NATS_URL; unset: embedded by `bilten up`)" in up
    scan = " ".join(bilten("scan", "--help").stdout.split())
    assert "(default: 2.0)" in scan and "(default: in)" in scan


def test_up_on_an_unusable_data_dir_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = bilten("up", "--data-dir", str(blocker / "data"), env={"PATH": "/usr/bin"})
    assert result.returncode == 2
    assert f"BILTEN_DATA_DIR: cannot use {blocker / 'data'}: Not a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_refuses_a_nats_cluster_beside_a_nats_url_and_bad_counts(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin", "BILTEN_DATA_DIR": str(tmp_path)}
    result = bilten("up", "--nats-cluster", "3", "--nats-url", "nats://127.0.0.1:4222", env=env)
    assert (result.returncode, result.stderr) == (
        2,
        "bilten: --nats-cluster: starts NATS embedded; BILTEN_NATS_URL is set\n",
    )
    assert not list(tmp_path.iterdir())  # refused before anything started
    for flag, value in (("--hubs", "0"), ("--workers", "33"), ("--nats-cluster", "2")):
        result = bilten("up", flag, value, env=env)
        assert result.returncode == 2 and flag in result.stderr, result.stderr


def test_up_refuses_a_hub_port_in_use_even_with_reuse_port(tmp_path: Path) -> None:
    """Hubs sharing a port must not join another listener on it (another stack's hubs)."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        env = {"PATH": "/usr/bin", "BILTEN_DATA_DIR": str(tmp_path)}
        result = bilten("up", "--hubs", "2", "--port", str(port), env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"bilten: BILTEN_PORT: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


def test_starting_a_command_does_not_load_the_simulation() -> None:
    """Every hub and worker process starts through this parser: the simulation's driver, SDK
    and live view load only when a day runs."""
    probe = (
        "import sys, bilten.deploy.cli as cli; cli.build_parser(); "
        "print(sorted(m for m in ('rich', 'bilten.clients.sdk', 'bilten.deploy.simulate_cli')"
        " if m in sys.modules))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert shown.stdout.strip() == "[]"
