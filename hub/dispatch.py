"""Command execution, shared by WebSocket rpc and REST: one path, no logic twice.

`execute` resolves the method in the command table, checks the role, checks
that an `event_id` parameter names an event the token covers, then runs the
hub's own handler or forwards the request to the worker's queue group.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import orjson

from bilten.hub.runtime import Hub
from bilten.infra.faults import faults_as_errors
from bilten.infra.rpc import request
from bilten.protocol.channels import parse_channel
from bilten.protocol.command_shape import Command
from bilten.protocol.commands import (
    MAX_TOKEN_TTL_S,
    CommandRequest,
    check_params,
    encode_request,
    resolve,
)
from bilten.protocol.errors import (
    BadRequest,
    BiltenError,
    Forbidden,
    NotFound,
    Timeout,
    TooLarge,
    Unavailable,
)
from bilten.protocol.events import parse_event_id
from bilten.protocol.permissions import check_publish
from bilten.protocol.tokens import (
    Claims,
    check_mint,
    default_ttl_s,
    encode_token,
    mint_claims,
)

LocalHandler = Callable[[Hub, Claims, dict[str, Any]], Awaitable[Any]]
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")  # a header value: no spaces, no controls
RETRY_ATTEMPTS = 3


async def check_event(hub: Hub, claims: Claims, event_id: int) -> str:
    """The event's organization, if the token covers the event; else NotFound/Forbidden."""
    org = await hub.owners.org_of(event_id)
    if org is None:
        raise NotFound(f"no event {event_id}")
    if claims.role != "service" and not claims.covers_event(event_id, org):
        raise Forbidden(f"token does not cover event {event_id}")
    return org


async def create_token(hub: Hub, claims: Claims, params: dict[str, Any]) -> dict[str, Any]:
    """tokens.create: mint a token within the caller's own grant (docs/protocol.md §Minting).

    The claims are validated (`mint_claims`), kept within the caller's
    (`check_mint`), and each listed event must exist and belong to the new
    token's organization, so that the token reaches every event it names.
    """
    now = time.time()
    minted = mint_claims(
        sub=params.get("sub"),
        org=params.get("org", claims.org),
        role=params.get("role"),
        events=params.get("events", []),
        gates=params.get("gates"),
        ttl_s=params.get("ttl_s", default_ttl_s(claims, now)),
        now=now,
    )
    if minted.exp - minted.iat > MAX_TOKEN_TTL_S:
        raise BadRequest(f"ttl_s must be at most {MAX_TOKEN_TTL_S}", field="ttl_s")
    check_mint(claims, minted)
    if minted.events != "*":
        for event_id in minted.events:
            if await check_event(hub, claims, event_id) != minted.org:
                raise BadRequest(
                    f"event {event_id} is not an event of {minted.org}", field="events"
                )
    return {
        "token": encode_token(minted, hub.settings.require_secret()),
        "expires_at": minted.exp,
        "role": minted.role,
        "sub": minted.sub,
    }


async def publish(hub: Hub, claims: Claims, params: dict[str, Any]) -> dict[str, Any]:
    """channels.publish: the server publish API (announcements, integrations)."""
    name = params.get("channel")
    if not isinstance(name, str):
        raise BadRequest("channel is required")
    channel = parse_channel(name)
    if "data" not in params:
        raise BadRequest("data is required")
    org = await check_event(hub, claims, channel.event_id) if channel.event_id else None
    check_publish(claims, channel, org)
    data = orjson.dumps(params["data"])
    if len(data) > hub.settings.max_frame_bytes:
        raise TooLarge(len(data), hub.settings.max_frame_bytes)
    key = params.get("idempotency_key")
    if key is None:
        key = uuid.uuid4().hex
    elif not isinstance(key, str) or not IDEMPOTENCY_KEY.fullmatch(key):
        raise BadRequest(
            "idempotency_key must be 1 to 128 visible ASCII characters", field="idempotency_key"
        )
    # Scoped to the caller and channel: another client's equal key is another publication.
    msg_id = f"api:{claims.org}:{claims.sub}:{channel.name}:{key}"
    try:
        position = await hub.channel_log.publish(channel.name, data, msg_id=msg_id)
    except (Unavailable, Timeout) as error:  # it may be stored yet: retry with this key
        raise type(error)(error.message, **error.details, idempotency_key=key) from error
    return {
        "channel": channel.name,
        "offset": position.offset,
        "epoch": position.epoch,
        "idempotency_key": key,
    }


async def presence(hub: Hub, claims: Claims, params: dict[str, Any]) -> dict[str, Any]:
    """presence.get: online users per role at an event, across hubs."""
    event_id = parse_event_id(params)
    await check_event(hub, claims, event_id)
    return {"event_id": event_id, "online": await hub.presence.counts(event_id)}


LOCAL: dict[str, LocalHandler] = {
    "tokens.create": create_token,
    "channels.publish": publish,
    "presence.get": presence,
}


async def forward(
    hub: Hub,
    claims: Claims,
    command: Command,
    params: dict[str, Any],
    *,
    session: str | None = None,
    address: str | None = None,
) -> Any:
    """Send the command to its worker's queue group and return the worker's answer.

    `session` (a digest) and `address` go with session and public commands (hub/sessions.py).

    A retry-safe command (idempotent by its nonce) that times out, say because
    its worker died mid-request, is sent again, to whichever worker of the
    queue group takes it, within the same overall time budget.
    """
    method = command.method
    if command.retry and "nonce" not in params:
        params = {**params, "nonce": f"hub:{uuid.uuid4().hex}"}
    attempts = RETRY_ATTEMPTS if command.retry else 1
    budget = max(command.timeout_s or 0.0, hub.settings.request_timeout_s) / attempts
    payload = encode_request(
        CommandRequest(method, claims, params, session, address, budget, time.time())
    )
    failure: BiltenError = Timeout(f"{method} did not complete in time")
    for _ in range(attempts):
        if isinstance(failure, Unavailable):
            await asyncio.sleep(budget / 4)  # workers may be restarting: give them a moment
        try:
            return await request(
                hub.deps.nc, hub.deps.subjects.command(method), payload, timeout=budget, what=method
            )
        except (Unavailable, Timeout) as error:
            failure = error
    raise failure


async def execute(
    hub: Hub, claims: Claims, method: str, params: dict[str, Any], *, text: Collection[str] = ()
) -> Any:
    """Run one command for `claims`; raises BiltenError with a stable code on refusal.

    The params are checked against the command's declaration before anything
    runs; `text` names those that arrived as text (REST path and query).
    """
    command = resolve(method, claims)
    params = check_params(command, params, text=text)
    with faults_as_errors():  # a server's fault is `unavailable`/`timeout`, not `internal`
        if "event_id" in params and method != "events.create":
            await check_event(hub, claims, parse_event_id(params))
        local = LOCAL.get(command.method)
        if local is not None:
            return await local(hub, claims, params)
        return await forward(hub, claims, command, params)
