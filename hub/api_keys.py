"""API keys as REST bearer credentials: resolved by the accounts worker, cached briefly.

docs/accounts.md §API keys. The hub sends the worker the key's id and the
SHA-256 of its secret, never the secret, and keeps what the key grants for
API_KEY_CACHE_S (keyed by the id and that digest): a revoked key is refused within that
time, and the worker, which records the key's last use, is asked at most
that often per key and hub. WebSockets take tokens only.
"""

from __future__ import annotations

import hashlib
import time

from nats.aio.client import Client as NATS

from bilten.infra import rpc
from bilten.protocol.api_keys import (
    API_KEY_CACHE_S,
    INTERNAL_API_KEY,
    key_claims,
    parse_key,
)
from bilten.protocol.commands import CommandRequest, encode_request
from bilten.protocol.subjects import Subjects
from bilten.protocol.tokens import Claims, mint_claims


class ApiKeys:
    """What keys grant, as the accounts worker last said, for API_KEY_CACHE_S each."""

    def __init__(self, nc: NATS, subjects: Subjects, timeout: float, size: int = 10_000) -> None:
        self._nc = nc
        self._subjects = subjects
        self._timeout = timeout
        self._size = size
        self._known: dict[str, tuple[float, Claims]] = {}
        self._claims = mint_claims(
            sub="hub", org="bilten", role="service", events="*", ttl_s=366 * 86400, now=time.time()
        )

    async def claims(self, credential: str) -> Claims:
        """The claims a key's request carries; Unauthorized for a malformed, unknown or
        revoked key."""
        key_id, secret = parse_key(credential)
        digest = hashlib.sha256(secret.encode()).hexdigest()
        now = time.monotonic()
        known = f"{key_id}:{digest}"  # the id too: the worker checks both, so must the cache
        cached = self._known.get(known)
        if cached is not None and cached[0] > now:
            return cached[1]
        request = CommandRequest(
            INTERNAL_API_KEY, self._claims, {"key_id": key_id, "digest": digest}
        )
        grant = await rpc.request(
            self._nc,
            self._subjects.command(INTERNAL_API_KEY),
            encode_request(request),
            timeout=self._timeout,
            what="an API key",
        )
        claims = key_claims(key_id, grant["org"], grant["role"], grant["events"], time.time())
        if len(self._known) >= self._size:
            self._known = {d: c for d, c in self._known.items() if c[0] > now}
            if len(self._known) >= self._size:
                self._known.clear()
        self._known[known] = (now + API_KEY_CACHE_S, claims)
        return claims
