"""The token signing key: BILTEN_SECRET, or a development key kept in the data dir."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from bilten.infra.settings import Settings


def resolve_secret(settings: Settings) -> Settings:
    """Settings with `secret` set: the configured one, else `<data_dir>/secret`.

    The development key is generated once (0600) and reused, so tokens minted
    by `bilten token` keep working across restarts of `bilten up`.
    """
    if settings.secret:
        return settings
    path = Path(settings.data_dir) / "secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
    return settings.replace(secret=path.read_text().strip())
