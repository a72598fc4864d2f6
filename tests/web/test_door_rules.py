"""The door's offline rule in the browser agrees with the Python one.

docs/checkin.md §Offline bundle: a device decides offline as the worker
decides online. `js/door/bundle.js` `decide` is checked against
`protocol.checkin.decide` on every kind of ticket state, and
`js/door/tickets.js` against `protocol.tickets` on real and spoiled codes.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.async_api import Browser

from bilten.hub.app import create_app
from bilten.infra.settings import Settings
from bilten.protocol.checkin import TicketState, decide
from bilten.protocol.tickets import TicketRef, public_key_text, sign_code
from tests.web.conftest import open_page

AT = datetime(2027, 6, 1, 19, 2, tzinfo=UTC)
# Runs in the door page: the door's modules, imported from this build.
RUN = """
async ([cases, key, codes]) => {
  const base = document.body.dataset.i18n.replace(/i18n\\/$/, "js/door/");
  const rules = await import(`${base}bundle.js`);
  const tickets = await import(`${base}tickets.js`);
  const decisions = cases.map(([ticket, direction, allowedGates, allowReentry]) => {
    const d = rules.decide(ticket, direction, "north", "later", { allowedGates, allowReentry });
    return [d.status, d.reason, d.previous?.gate ?? null];
  });
  const publicKey = await tickets.importPublicKey(key);
  const verified = [];
  for (const code of codes) {
    const ref = await tickets.verifyCode(code, publicKey);
    verified.push(ref && [Number(ref.eventId), Number(ref.ticketId)]);
  }
  return { decisions, verified };
}
"""


def states() -> list[tuple[bool, bool, bool]]:
    """(valid, inside, entered before): every consistent combination."""
    return [
        (valid, inside, entered)
        for valid, inside, entered in itertools.product((True, False), repeat=3)
        if entered or not inside
    ]


async def test_the_browser_decides_and_verifies_as_the_server(
    browser: Browser, settings: Settings, aiohttp_server: Any
) -> None:
    cases: list[Any] = []
    expected: list[Any] = []
    for (valid, inside, entered), direction, allowed, reentry in itertools.product(
        states(), ("in", "out"), (None, ["north"], ["south"]), (True, False)
    ):
        gate = "south" if entered else None
        state = TicketState(valid, inside, int(entered), gate, AT if entered else None)
        ticket = {"revoked": not valid, "insideGate": gate if inside else None}
        ticket |= {"entered": entered, "lastGate": gate, "lastAt": AT.isoformat() if gate else None}
        cases.append([ticket, direction, allowed, reentry])
        python = decide(
            state,
            direction,
            "north",
            AT,
            allowed_gates=None if allowed is None else tuple(allowed),
            allow_reentry=reentry,
        )
        previous = python.previous.gate if python.previous else None
        expected.append([python.status, python.reason, previous])

    key = Ed25519PrivateKey.generate()
    good = sign_code(key, TicketRef(7, 300))
    forged = sign_code(Ed25519PrivateKey.generate(), TicketRef(7, 300))
    last = good[-1]
    spoiled = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    codes = [
        good,
        sign_code(key, TicketRef(8, 2**40)),  # another event, a large id
        forged,  # signed by another key
        good + "=",  # padded
        good.replace("-", "+").replace("_", "/"),  # the other alphabet (when it differs)
        good[:-1] + spoiled[(spoiled.index(last) + 1) % 64],  # trailing bits or signature
        good[:-4],  # truncated
        "",
    ]
    differs = good != codes[4]

    server = await aiohttp_server(create_app(settings))
    watched = await open_page(browser, str(server.make_url("")).rstrip("/"))
    await watched.page.goto("/door")
    result = await watched.page.evaluate(RUN, [cases, public_key_text(key.public_key()), codes])
    assert result["decisions"] == expected
    assert len(expected) == 72
    assert result["verified"] == [
        [7, 300],
        [8, 2**40],
        None,
        None,
        None if differs else [7, 300],
        None,
        None,
        None,
    ]
    await watched.assert_clean()
