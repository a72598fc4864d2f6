"""Live publications of one channel, framed once per round and written to every socket.

A WebSocket frame from the server is unmasked (RFC 6455 §5.1), so a batch of
publications is the same bytes for every subscriber: the hub builds the frame
once (header and payload) and hands it to each socket's transport with one
`write`. What stays per socket is what depends on it: its position in the
channel and whether something is already queued ahead (docs/protocol.md
§Batching). A connection with replies queued, in recovery, or off the
channel's sequence takes the careful path instead, one message at a time
through `Connection.send` and the recovery rules (hub/fanout.py), as before.

Publications that arrive while a round is being written wait for the next
round and go out together, so a busy channel writes each socket once per
round, not once per publication. A round writes `CHUNK` sockets per loop
callback, letting NATS traffic in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bilten.hub.connection import CHUNK, Connection, Flusher, SubState
from bilten.protocol.frames import join_frames
from bilten.protocol.wsframe import frame_header

# (connection, its state, offset, epoch, message): one publication down the careful path.
Careful = Callable[[Connection, SubState, int, str, bytes], None]


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive publications of one epoch: `first`…`last`, and the frame carrying them."""

    first: int
    last: int
    epoch: str
    messages: list[bytes]
    frame: bytes


def runs_of(arrived: list[tuple[int, str, list[bytes]]]) -> list[Run]:
    """Merge what arrived (first offset, epoch, messages) into runs, each framed once."""
    merged: list[tuple[int, str, list[bytes]]] = []
    for first, epoch, messages in arrived:
        if merged:
            start, last_epoch, run = merged[-1]
            if last_epoch == epoch and start + len(run) == first:
                run.extend(messages)
                continue
        merged.append((first, epoch, list(messages)))
    out = []
    for first, epoch, messages in merged:
        payload = join_frames(messages)
        frame = frame_header(len(payload)) + payload
        out.append(Run(first, first + len(messages) - 1, epoch, messages, frame))
    return out


class Delivery:
    """Writes a channel's live publications to its members, one round at a time."""

    def __init__(
        self, members: dict[Connection, SubState], flusher: Flusher, careful: Careful
    ) -> None:
        self._members = members
        self._flusher = flusher
        self._careful = careful
        self._arrived: list[tuple[int, str, list[bytes]]] = []
        self._busy = False  # a round is scheduled or being written

    def add(self, first: int, epoch: str, messages: list[bytes]) -> None:
        """Queue publications `first`, `first + 1`, … for the next round."""
        self._arrived.append((first, epoch, messages))
        if not self._busy:
            self._busy = True
            self._flusher.loop.call_soon(self._start)

    def _start(self) -> None:
        runs, self._arrived = runs_of(self._arrived), []
        self._write(runs, list(self._members), 0)

    def _write(self, runs: list[Run], targets: list[Connection], start: int) -> None:
        loop = self._flusher.loop
        try:
            self._flusher.messages_out += self._write_chunk(runs, targets[start : start + CHUNK])
        finally:  # a failure is the loop's to log; the channel's later rounds still go out
            if start + CHUNK < len(targets):
                loop.call_soon(self._write, runs, targets, start + CHUNK)
            elif self._arrived:
                loop.call_soon(self._start)
            else:
                self._busy = False

    def _write_chunk(self, runs: list[Run], chunk: list[Connection]) -> int:
        """Write `runs` to the sockets of `chunk`; how many messages went out at once."""
        members, careful = self._members, self._careful
        now = time.monotonic()
        written = 0
        # Run by run, then socket by socket: each socket still gets the runs in order.
        for run in runs:
            before, last, epoch, frame, messages = (
                run.first - 1,
                run.last,
                run.epoch,
                run.frame,
                run.messages,
            )
            for conn in chunk:
                state = members.get(conn)
                if state is None:  # left the channel since the round began
                    continue
                # classify()'s "next" (protocol/recovery.py), inlined: the hot path's one case.
                if state.offset == before and state.buffer is None and state.epoch == epoch:
                    state.offset = last
                    if conn.write_now(frame, now):
                        written += len(messages)
                    else:
                        for message in messages:
                            conn.send(message)
                else:
                    for n, message in enumerate(messages, before + 1):
                        careful(conn, state, n, epoch, message)
        return written
