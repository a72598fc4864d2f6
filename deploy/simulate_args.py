"""The flags of `bilten simulate` and `bilten up --demo --simulate`, without the simulation.

Every `bilten` command builds its parser from here, so what this imports is
light: the driver, the SDK and the live view load only when a day runs
(deploy/simulate_cli.py). docs/simulate.md.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from bilten.clients.sim_plan import DayConfig
from bilten.protocol.tokens import encode_token, mint_claims

TOKEN_TTL_S = 6 * 3600


def _number(kind: type[int] | type[float], *, zero: bool = False) -> argparse._ActionType:
    """A flag's number: positive, or with `zero` at least 0."""

    def parse(raw: str) -> int | float:
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {raw!r}") from None
        if value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(
                f"must be {'at least 0' if zero else 'positive'}, got {raw}"
            )
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The day's size and the report's place, shared by `simulate` and `up --simulate`."""
    defaults = DayConfig()
    parser.add_argument(
        "--attendees", type=_number(int), default=defaults.attendees, help="ticket buyers"
    )
    parser.add_argument("--gates", type=_number(int), default=defaults.gates, help="entrances")
    parser.add_argument(
        "--duration",
        type=_number(float),
        default=defaults.duration_s,
        help="seconds the whole day is compressed into",
    )
    parser.add_argument(
        "--polls",
        type=_number(int, zero=True),
        default=defaults.polls,
        help="sessions, a poll each",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="the plan's random seed")
    parser.add_argument(
        "--report-dir",
        type=Path,
        help="where simulation.json and simulation.html go "
        "(default: the current directory; `up`: the data directory)",
    )


@dataclass(frozen=True, slots=True)
class Simulation:
    """What `bilten up --demo --simulate` runs once the stack is ready."""

    config: DayConfig
    report_dir: Path | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Simulation:
        """The simulation the flags describe."""
        return cls(config_from(args), args.report_dir)


def config_from(args: argparse.Namespace) -> DayConfig:
    """The `DayConfig` the flags describe."""
    return DayConfig(
        attendees=args.attendees,
        gates=args.gates,
        duration_s=args.duration,
        polls=args.polls,
        seed=args.seed,
    )


def organizer_token(secret: str, org: str) -> str:
    """An organizer token of `org` for every event, signed with the stack's secret."""
    claims = mint_claims(
        sub="sim-organizer",
        org=org,
        role="organizer",
        events="*",
        ttl_s=TOKEN_TTL_S,
        now=time.time(),
    )
    return encode_token(claims, secret)
