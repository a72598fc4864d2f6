"""One NATS request client: send, map the failures to error codes, decode the reply.

Commands, event-owner lookups, channel snapshots and the demo all ask a
worker over NATS request/reply (docs/protocol.md §NATS subjects). No one
listening is `unavailable` (the workers are down or restarting), no answer in
time is `timeout`, a lost or closed connection is `unavailable` (via
`infra/faults.py`), and a reply is `{"result": …}` or an error rebuilt from its
wire form.
"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError

from bilten.infra.faults import faults_as_errors
from bilten.protocol.commands import decode_reply
from bilten.protocol.errors import Timeout, Unavailable


async def request(nc: NATS, subject: str, payload: bytes, *, timeout: float, what: str) -> Any:
    """The result of the reply to `payload` on `subject`; `what` names it in errors."""
    with faults_as_errors():
        try:
            msg = await nc.request(subject, payload, timeout=timeout)
        except NoRespondersError:
            raise Unavailable(f"no worker serves {what} right now") from None
        except TimeoutError:  # nats-py's TimeoutError is one
            raise Timeout(f"{what} did not answer in time") from None
    return decode_reply(msg.data)
