"""docs/protocol.md against the code: its tables and every frame example.

The document is the contract for clients in other languages, so it must not
drift from protocol/: each table here is compared with the table in code, and
each JSON example is decoded by the real decoders.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import orjson
import pytest

from bilten.protocol.channels import EVENT_TOPICS, STATEFUL_TOPICS
from bilten.protocol.commands import COMMANDS
from bilten.protocol.disconnects import CLOSE_CODES, reconnect_allowed
from bilten.protocol.errors import HTTP_STATUS
from bilten.protocol.frames import Rejected, decode_client_frames, decode_server_frames
from bilten.protocol.permissions import SUBSCRIBE_TOPICS, SUBSCRIBE_USER
from bilten.protocol.subjects import (
    HDR_EPOCH,
    HDR_EXPECTED_LAST_SUBJECT_SEQUENCE,
    HDR_MSG_ID,
    HDR_OFFSET,
)
from bilten.protocol.tokens import Role

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text("utf-8")
CLIENT_OPS = {"subscribe", "unsubscribe", "rpc", "ping"}
SERVER_OPS = {"subscribed", "unsubscribed", "pub", "result", "error", "pong", "disconnect"}


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.M | re.S)
    assert match, f"docs/protocol.md has no section {title!r}"
    return match.group(1)


def _rows(title: str) -> list[list[str]]:
    """Table rows of a section whose first cell is `code`, with backticks removed."""
    return [
        [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        for line in _section(title).splitlines()
        if line.startswith("| `")
    ]


def _examples() -> list[bytes]:
    blocks = re.findall(r"```json\n(.*?)```", DOC, re.S)
    return [line.encode() for block in blocks for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "title",
    [
        "Connecting",
        "Frames",
        "Channels",
        "Recovery",
        "Snapshots",
        "Errors",
        "Disconnect codes",
        "Tokens & permissions",
        "NATS subjects",
        "REST mirror",
    ],
)
def test_sections(title: str) -> None:
    assert _section(title).strip()


@pytest.mark.parametrize("example", _examples())
def test_examples_decode(example: bytes) -> None:
    value = orjson.loads(example)
    messages = value if isinstance(value, list) else [value]
    ops = {m.get("op") for m in messages}
    if ops <= CLIENT_OPS:
        decoded = decode_client_frames(example)
        assert len(decoded) == len(messages)
        assert not [d for d in decoded if isinstance(d, Rejected)]
    elif ops <= SERVER_OPS:
        assert len(decode_server_frames(example)) == len(messages)
    else:
        assert ops == {None}, f"example mixes directions or has an unknown op: {ops}"


def test_every_op_has_an_example() -> None:
    seen = set()
    for example in _examples():
        value = orjson.loads(example)
        seen |= {m.get("op") for m in (value if isinstance(value, list) else [value])}
    assert CLIENT_OPS | SERVER_OPS <= seen


def test_error_table() -> None:
    assert {code: int(status) for code, status, _ in _rows("Errors")} == HTTP_STATUS


def test_disconnect_table() -> None:
    rows = _rows("Disconnect codes")
    assert {code: int(close) for code, close, _, _ in rows} == dict(CLOSE_CODES)
    for code, _, again, _ in rows:
        assert again.startswith("yes") is reconnect_allowed(code), code


def test_topic_table() -> None:
    rows = [row for row in _rows("Channels") if len(row) == 3 and row[2] in {"yes", "no"}]
    assert {topic for topic, _, _ in rows} == EVENT_TOPICS
    assert {topic for topic, _, stateful in rows if stateful == "yes"} == STATEFUL_TOPICS


def test_permission_table() -> None:
    section = _section("Tokens & permissions")
    header = next(line for line in section.splitlines() if line.startswith("| role |"))
    topics = [cell.strip() for cell in header.strip("|").split("|")][1:-1]
    rows = [row for row in _rows("Tokens & permissions") if len(row) == len(topics) + 2]
    assert {row[0] for row in rows} == set(SUBSCRIBE_TOPICS)
    for role, *cells, users in rows:
        allowed = {topic for topic, cell in zip(topics, cells, strict=True) if cell == "yes"}
        assert allowed == SUBSCRIBE_TOPICS[cast(Role, role)], role
        assert users == SUBSCRIBE_USER[cast(Role, role)], role


def test_headers_are_named() -> None:
    for header in (HDR_OFFSET, HDR_EPOCH, HDR_EXPECTED_LAST_SUBJECT_SEQUENCE, HDR_MSG_ID):
        assert f"`{header}`" in _section("NATS subjects")


def test_command_table() -> None:
    """Every method of the command table has a row, and every row names a real method."""
    documented = {
        method
        for line in _section("Commands").splitlines()
        if line.startswith("| `")
        for method in re.findall(r"`([a-z_.]+)`", line.split("|")[1])
    }
    assert documented == set(COMMANDS)
