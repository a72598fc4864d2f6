"""The token signing key: BILTEN_SECRET, or a development key kept in the data dir."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from bilten.infra.settings import Settings, SettingsError


def secret_path(settings: Settings) -> Path:
    """Where the development key of `settings.data_dir` lives."""
    return Path(settings.data_dir) / "secret"


def resolve_secret(settings: Settings) -> Settings:
    """Settings with `secret` set: the configured one, else `<data_dir>/secret`.

    The development key is generated once (0600) and reused, so tokens minted
    by `bilten token` keep working across restarts of `bilten up`.
    """
    if settings.secret:
        return settings
    path = secret_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
    return settings.replace(secret=path.read_text().strip())


def find_secret(settings: Settings) -> str:
    """The key a running stack signs with, never a new one (`bilten token`).

    A key made up on the spot would sign tokens the hub refuses, so a missing
    one is an error that says where the stack's key is looked for.
    """
    if settings.secret:
        return settings.secret
    path = secret_path(settings)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise SettingsError(
            "BILTEN_SECRET",
            (
                f"not set, and no development secret at {path.absolute()}; set BILTEN_SECRET to "
                "the stack's secret, or BILTEN_DATA_DIR (--data-dir) to the data directory of "
                "the `bilten up` that runs it"
            ),
        ) from None
