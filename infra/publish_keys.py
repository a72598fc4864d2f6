"""Claims on publication keys, so keyed publications can be group-committed.

docs/protocol.md §Publishing exactly once. JetStream de-duplicates whole
messages by `Nats-Msg-Id`, but a batch is one message holding many
publications. So each keyed publication first *claims* its key: a small
message on `<prefix>.key.<digest>` in the keys stream, published with the key
as its `Nats-Msg-Id` and naming a random *tag*. The publication then joins a
batch whose `Bilten-Tags` header lists the tags it holds.

A claim that JetStream reports as a duplicate is a repeat: the channel log
looks for the claim's tags in the channel's history, and if the first attempt
never got stored it *takes the claim over* (a new tag, written only if nobody
changed the claim since it was read), then stores the publication itself with
the channel's exact expected sequence, which fences the older attempt out for
good. A batch whose claims may have been taken over checks them before
storing (`owned`).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import orjson
from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from bilten.protocol.errors import Unavailable
from bilten.protocol.subjects import HDR_EXPECTED_LAST_SUBJECT_SEQUENCE, HDR_MSG_ID, Subjects

# JetStream's error code for "wrong last sequence" (expected-last-subject-sequence failed).
WRONG_LAST_SEQUENCE = 10071


@dataclass(frozen=True, slots=True)
class Claim:
    """A key this publisher holds: the tag its publication carries, the claim's sequence."""

    tag: str
    seq: int


@dataclass(frozen=True, slots=True)
class Marker:
    """A key's current claim as read back: every tag it ever named, and since when."""

    tags: tuple[str, ...]
    since: datetime | None
    seq: int


def new_tag() -> str:
    """A fresh publication tag (12 hex characters)."""
    return secrets.token_hex(6)


class PublishKeys:
    """Claims, reads and takes over publication keys in the keys stream."""

    def __init__(self, js: JetStreamContext, subjects: Subjects, *, timeout: float) -> None:
        self._js = js
        self._subjects = subjects
        self._timeout = timeout

    def _subject(self, key: str) -> str:
        return self._subjects.key(hashlib.sha256(key.encode()).hexdigest()[:40])

    async def claim(self, key: str) -> Claim | None:
        """Claim `key` for a new publication; None if it was claimed within the window."""
        tag = new_tag()
        ack = await self._js.publish(
            self._subject(key),
            orjson.dumps({"tags": [tag]}),
            timeout=self._timeout,
            headers={HDR_MSG_ID: key},
        )
        return None if ack.duplicate else Claim(tag, ack.seq)

    async def read(self, key: str) -> Marker | None:
        """The key's current claim, or None if it has expired."""
        try:
            msg = await self._js.get_last_msg(
                self._subjects.keys_stream, self._subject(key), direct=True
            )
        except NotFoundError:
            return None
        body = orjson.loads(msg.data or b"{}")
        since = datetime.fromisoformat(body["since"]) if "since" in body else msg.time
        return Marker(tuple(body.get("tags", ())), since, msg.seq or 0)

    async def take_over(self, key: str, marker: Marker) -> Claim | None:
        """Claim `key` anew with one more tag, unless someone changed it since `marker`."""
        tag = new_tag()
        body: dict[str, object] = {"tags": [*marker.tags, tag]}
        if marker.since is not None:
            body["since"] = marker.since.isoformat()
        try:
            ack = await self._js.publish(
                self._subject(key),
                orjson.dumps(body),
                timeout=self._timeout,
                headers={HDR_EXPECTED_LAST_SUBJECT_SEQUENCE: str(marker.seq)},
            )
        except APIError as error:
            if error.err_code == WRONG_LAST_SEQUENCE:
                return None
            raise Unavailable(f"key store refused the claim: {error}") from None
        return Claim(tag, ack.seq)

    async def owned(self, claims: list[tuple[str, Claim]]) -> list[bool]:
        """Whether each (key, claim) is still the key's current claim (not taken over)."""

        async def one(key: str, claim: Claim) -> bool:
            marker = await self.read(key)
            return marker is not None and marker.seq == claim.seq

        return list(await asyncio.gather(*(one(key, claim) for key, claim in claims)))
