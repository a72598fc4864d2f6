"""API keys as REST bearer credentials: resolved by the accounts worker, cached briefly.

docs/accounts.md §API keys. The hub sends the worker the key's id and the
SHA-256 of its secret, never the secret, and keeps what the key grants for
API_KEY_CACHE_S (with that digest), so the worker, which records the key's
last use, is asked at most that often per key and hub. Only grants are kept:
a refusal is asked again. Revoking a key is pushed to every hub
(hub/revocation.py), which forgets the key at once, so its next request goes
to the worker and is refused. WebSockets take tokens only.
"""

from __future__ import annotations

import hashlib
import time

from nats.aio.client import Client as NATS

from bilten.infra import rpc
from bilten.protocol.api_keys import (
    API_KEY_CACHE_S,
    INTERNAL_API_KEY,
    api_key_of,
    key_claims,
    parse_key,
)
from bilten.protocol.commands import CommandRequest, encode_request
from bilten.protocol.subjects import Subjects
from bilten.protocol.tokens import Claims, mint_claims


class ApiKeys:
    """What keys grant, as the accounts worker last said, for API_KEY_CACHE_S each
    or until the key's revocation arrives."""

    def __init__(self, nc: NATS, subjects: Subjects, timeout: float, size: int = 10_000) -> None:
        self._nc = nc
        self._subjects = subjects
        self._timeout = timeout
        self._size = size
        # key id -> (digest of its secret, when the answer ends, its claims)
        self._known: dict[int, tuple[str, float, Claims]] = {}
        self._forgotten = 0  # revocations seen: an answer asked before one is not kept
        self._claims = mint_claims(
            sub="hub", org="bilten", role="service", events="*", ttl_s=366 * 86400, now=time.time()
        )

    async def claims(self, credential: str) -> Claims:
        """The claims a key's request carries; Unauthorized for a malformed, unknown or
        revoked key."""
        key_id, secret = parse_key(credential)
        digest = hashlib.sha256(secret.encode()).hexdigest()
        now = time.monotonic()
        cached = self._known.get(key_id)
        if cached is not None and cached[0] == digest and cached[1] > now:
            return cached[2]
        forgotten = self._forgotten
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
        if forgotten != self._forgotten:
            # A revocation arrived while the worker answered: it may be this key's,
            # so the answer serves this request and is not kept.
            return claims
        if len(self._known) >= self._size:
            self._known = {k: c for k, c in self._known.items() if c[1] > now}
            if len(self._known) >= self._size:
                self._known.clear()
        self._known[key_id] = (digest, now + API_KEY_CACHE_S, claims)
        return claims

    def forget(self, bearer: str) -> None:
        """Drop what a revoked bearer (`org|sub`) was granted, if it is a key."""
        key_id = api_key_of(bearer.partition("|")[2])
        if key_id is not None:
            self._forgotten += 1
            self._known.pop(key_id, None)
