"""The command table's rows for door devices (docs/accounts.md §Door devices).

An organization's owners and managers create pairings and list and revoke
devices with their session; a device redeems its pairing code with no
credential (the code is the credential, single use, minutes long, and
redemptions are rate limited per address). All run in the accounts worker;
the hub mints the device token the redemption grants (hub/sessions.py).
"""

from __future__ import annotations

from typing import Any

from bilten.protocol import results
from bilten.protocol.checkin import GATE
from bilten.protocol.command_shape import Command
from bilten.protocol.devices import PAIRING_CODE
from bilten.protocol.params import MAX_ID
from bilten.protocol.tokens import MAX_GATES

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_IDENT = {"type": "string", "pattern": GATE.pattern}
_GATES = {"type": ["array", "null"], "minItems": 1, "maxItems": MAX_GATES, "items": _IDENT}
_NAME = {"type": "string", "minLength": 1, "maxLength": 100}
_CODE = {"type": "string", "pattern": f"^{PAIRING_CODE.pattern}$"}

PAIRING = results.obj(
    code=results.TEXT,
    url=results.TEXT,
    qr_svg=results.TEXT,
    name=results.TEXT,
    event_id=results.ID,
    gates=results.nullable(results.array(results.TEXT)),
    expires_at=results.TIME,
)
DEVICE_TOKEN = results.obj(
    token=results.TEXT,
    expires_at=results.ID,
    device_id=results.ID,
    org=results.TEXT,
    event_id=results.ID,
    gates=results.nullable(results.array(results.TEXT)),
)
DEVICE = results.obj(
    id=results.ID,
    name=results.TEXT,
    event_id=results.ID,
    gates=results.nullable(results.array(results.TEXT)),
    paired_at=results.TIME,
    last_seen_at=results.nullable(results.TIME),
    scans=results.COUNT,
    revoked_at=results.nullable(results.TIME),
)


def _session(method: str, summary: str, http: Any, path: str, **more: Any) -> Command:
    return Command(method, summary, frozenset(), http, path, "accounts", auth="session", **more)


DEVICE_COMMANDS: tuple[Command, ...] = (
    _session(
        "orgs.devices.pair",
        "A one-time pairing code and QR for a door device at an event (owners, managers).",
        "POST",
        "/api/v1/orgs/{org}/devices/pairings",
        created=True,
        params={"org": _IDENT, "event_id": _ID, "gates": _GATES, "name": _NAME},
        required=("event_id", "name"),
        result=PAIRING,
    ),
    _session(
        "orgs.devices.list",
        "The organization's paired devices: last seen, scans made (owners, managers).",
        "GET",
        "/api/v1/orgs/{org}/devices",
        params={"org": _IDENT},
        result=results.obj(devices=results.array(DEVICE)),
    ),
    _session(
        "orgs.devices.revoke",
        "Revoke a device: its token is refused and its sockets closed at once.",
        "DELETE",
        "/api/v1/orgs/{org}/devices/{device_id}",
        params={"org": _IDENT, "device_id": _ID},
        result=DEVICE,
    ),
    Command(
        "devices.redeem",
        "Redeem a pairing code for the device's long-lived token (once; rate limited).",
        frozenset(),
        "POST",
        "/api/v1/devices/redeem",
        "accounts",
        auth="public",
        created=True,
        params={"code": _CODE},
        required=("code",),
        result=DEVICE_TOKEN,
    ),
)
