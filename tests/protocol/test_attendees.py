"""The attendee rules and command rows (protocol/attendees.py, protocol/attendee_commands.py)."""

from __future__ import annotations

import pytest

from bilten.protocol.accounts import account_sub
from bilten.protocol.attendee_commands import ATTENDEE_COMMANDS
from bilten.protocol.attendees import LINK_LIMITS, SIGNIN_LINK_TTL_S, attendee_sub
from bilten.protocol.command_shape import Command
from bilten.protocol.commands import ANONYMOUS, resolve
from bilten.protocol.errors import Forbidden


@pytest.mark.parametrize("number", [1, 7, 2**40])
def test_an_attendee_is_never_an_account(number: int) -> None:
    # Tokens, revocations and user channels are keyed by `sub`: the kinds never meet.
    assert attendee_sub(number) != account_sub(number)
    assert attendee_sub(number) == f"attendee-{number}"


def test_links_expire_in_minutes_and_limits_are_sane() -> None:
    assert 60 <= SIGNIN_LINK_TTL_S <= 3600
    assert set(LINK_LIMITS) == {"email", "address"}
    # A shared client address gets more room than one mailbox.
    assert LINK_LIMITS["address"].count > LINK_LIMITS["email"].count >= 1


@pytest.mark.parametrize("command", ATTENDEE_COMMANDS, ids=lambda c: c.method)
def test_attendee_commands_are_rest_only_with_their_own_credential(command: Command) -> None:
    assert command.worker == "accounts" and not command.roles
    assert command.auth == ("public" if command.method.startswith("auth.") else "attendee")
    with pytest.raises(Forbidden):  # never a WebSocket rpc, whatever the token
        resolve(command.method, ANONYMOUS)
