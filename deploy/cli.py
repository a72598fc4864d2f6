"""The `bilten` command: up, status, hub, worker, migrate, replay, analytics, token, scan,
simulate, version.

The entry point is the one place that reads the environment, configures
logging and installs uvloop; everything below gets a `Settings`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from bilten.deploy import simulate_args
from bilten.deploy.secret import find_secret, resolve_secret
from bilten.infra.logs import configure_logging
from bilten.infra.settings import (
    Settings,
    SettingsError,
    default_help,
    flag_for,
    load_settings,
)
from bilten.protocol.errors import BiltenError
from bilten.protocol.tokens import ROLES, encode_token, mint_claims

DESCRIPTION = "Bilten: real-time messaging for live events (WebSocket hub, REST, workers)."


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default when it has one to show (not None, an off switch or [])."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        default = action.default
        if default is None or default is False or default == [] or default == argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _setting(parser: argparse.ArgumentParser, field: str, meaning: str, **kwargs: Any) -> None:
    """A flag overriding a setting; its help names the variable and the default."""
    parser.add_argument(flag_for(field), help=f"{meaning} {default_help(field)}", **kwargs)


def _common(parser: argparse.ArgumentParser) -> None:
    _setting(parser, "nats_url", "NATS URL")
    _setting(parser, "database_url", "PostgreSQL URL")
    _setting(parser, "redis_url", "Redis URL")
    _setting(parser, "data_dir", "data directory: embedded servers' data, development secret")
    _setting(parser, "log_format", "log format", choices=["text", "json"])


def _count(raw: str) -> int:
    """A number of processes for `bilten up`: 1 to 32."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {raw!r}") from None
    if not 1 <= value <= 32:
        raise argparse.ArgumentTypeError(f"must be between 1 and 32, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="bilten", description=DESCRIPTION, formatter_class=_HelpFormatter
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {package_version('bilten')}"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, formatter_class=_HelpFormatter)

    up = command("up", "start the whole stack (embedded servers where no URL is set)")
    _common(up)
    up.add_argument("--demo", action="store_true", help="create a demo event and print links")
    _setting(up, "host", "hub address")
    _setting(up, "port", "hub port")
    up.add_argument(
        "--hubs", type=_count, default=1, help="hub processes, sharing the port (SO_REUSEPORT)"
    )
    up.add_argument("--workers", type=_count, default=1, help="processes of every worker")
    up.add_argument(
        "--nats-cluster",
        type=int,
        choices=[3, 5],
        default=0,
        help="embedded NATS as a cluster of this many nodes, every stream on each",
    )
    up.add_argument(
        "--simulate",
        action="store_true",
        help="with --demo: once ready, run a simulated event day against the stack",
    )
    simulate_args.add_arguments(up)

    status = command("status", "every process of the running `bilten up`: health, connections, lag")
    _setting(status, "data_dir", "data directory of the `bilten up` to show")

    hub = command("hub", "run one hub")
    _common(hub)
    _setting(hub, "host", "address to listen on")
    _setting(hub, "port", "port to listen on")
    hub.add_argument(
        "--reuse-port",
        action="store_true",
        help="share the port with other hubs (SO_REUSEPORT, Linux)",
    )
    hub.add_argument("--own-port", type=int, help="also serve on this port, of this process alone")

    worker = command("worker", "run a worker (or `all`)")
    _common(worker)
    worker.add_argument("name", help="worker name, or `all`")
    worker.add_argument("--metrics-port", type=int, help="serve /healthz /readyz /metrics here")

    migrate = command("migrate", "apply SQL migrations and declare JetStream streams")
    _common(migrate)

    replay = command("replay", "re-publish an event's logged domain events onto the replay stream")
    _common(replay)
    replay.add_argument("--event", type=int, required=True, help="event id")
    replay.add_argument(
        "--from",
        dest="since",
        metavar="T",
        help="only entries at or after this ISO 8601 time (UTC unless it names an offset)",
    )

    analytics = command("analytics", "analytics in ClickHouse (docs/insight.md §Analytics)")
    analytics.add_argument("action", choices=["rebuild"], help="rebuild: from the event log")
    _common(analytics)
    analytics.add_argument("--event", type=int, required=True, help="event id")

    token = command("token", "print a token signed with the stack's secret (development, scripts)")
    _setting(
        token,
        "data_dir",
        "data directory of the `bilten up` whose secret signs, unless BILTEN_SECRET is set",
    )
    token.add_argument("--role", required=True, choices=ROLES)
    token.add_argument("--org", default="demo", help="organization")
    token.add_argument("--sub", help="subject / user id (default: <role>-cli)")
    token.add_argument(
        "--event",
        action="append",
        default=[],
        help='event id (repeatable), or "*" for every event of the org',
    )
    token.add_argument("--gate", action="append", help="allowed gate (repeatable, staff)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")

    scan = command("scan", "scan tickets at a gate (door staff; goes on offline)")
    scan.add_argument("--url", required=True, help="hub URL, e.g. http://127.0.0.1:8080")
    scan.add_argument("--token", help="a staff token for the event (default: the paired one)")
    scan.add_argument(
        "--pair", metavar="CODE", help="pair this scanner with an organizer's one-time code"
    )
    scan.add_argument("--event", type=int, help="event id (default: the pairing's)")
    scan.add_argument("--gate", required=True, help="the gate this scanner stands at")
    scan.add_argument(
        "--direction", choices=["in", "out"], default="in", help="entering or leaving"
    )
    scan.add_argument(
        "--store",
        help="SQLite file: ticket list and offline queue "
        "(default: under the user's data directory)",
    )
    scan.add_argument("--file", help="read codes from this file instead of standard input")
    scan.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        help="seconds to wait for an online verdict before deciding offline",
    )
    scan.add_argument(
        "--retry-interval",
        type=float,
        default=5.0,
        help="seconds between attempts to reach the hub while offline",
    )
    scan.add_argument(
        "--refresh-interval",
        type=float,
        default=300.0,
        help="seconds between ticket list refreshes while online",
    )
    scan.add_argument(
        "--final-sync",
        type=float,
        default=10.0,
        help="at the end of input, seconds to keep trying to sync the queue",
    )

    simulate = command(
        "simulate", "run a simulated event day through a running stack (docs/simulate.md)"
    )
    simulate.add_argument("--url", required=True, help="hub URL, e.g. http://127.0.0.1:8080")
    simulate.add_argument(
        "--token",
        help="an organizer token (default: one signed with the stack's secret, for --org)",
    )
    simulate.add_argument("--org", default="demo", help="organization, without --token")
    _setting(
        simulate,
        "data_dir",
        "data directory of the `bilten up` whose secret signs, unless BILTEN_SECRET is set",
    )
    simulate.add_argument("--no-live", action="store_true", help="no live terminal view")
    simulate_args.add_arguments(simulate)

    command("version", "print the version")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "nats_url": getattr(args, "nats_url", None),
        "database_url": getattr(args, "database_url", None),
        "redis_url": getattr(args, "redis_url", None),
        "data_dir": getattr(args, "data_dir", None),
        "log_format": getattr(args, "log_format", None),
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
    }
    return load_settings(os.environ, **overrides)


def _token(args: argparse.Namespace, settings: Settings) -> str:
    events: tuple[int, ...] | str
    if args.event == ["*"]:
        events = "*"
    else:
        try:
            events = tuple(int(e) for e in args.event)
        except ValueError:
            raise SettingsError("--event", 'event ids are integers, or "*"') from None
    claims = mint_claims(
        sub=args.sub or f"{args.role}-cli",
        org=args.org,
        role=args.role,
        events=events,
        gates=tuple(args.gate) if args.gate else None,
        ttl_s=args.ttl,
        now=time.time(),
    )
    return encode_token(claims, find_secret(settings))


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from bilten.deploy import simulate_cli

    secret = None if args.token else find_secret(settings)
    organizer = args.token or simulate_args.organizer_token(find_secret(settings), args.org)
    code, lines = _run(
        simulate_cli.simulate(
            args.url,
            organizer,
            simulate_args.config_from(args),
            args.report_dir or Path.cwd(),
            secret=secret,
            org=args.org,
            live=not args.no_live,
        )
    )
    print("\n".join(lines))
    return int(code)


def _run(coro_main: object) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is absent on Windows only
        return asyncio.run(coro_main)  # type: ignore[arg-type]
    else:
        return uvloop.run(coro_main)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, dispatch, and turn configuration errors into one clear line."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "version":
            print(package_version("bilten"))
            return 0
        if args.command == "scan":  # a client: no server settings needed
            from bilten.clients import scan_pair

            return int(_run(scan_pair.main(args, os.environ)))
        settings = _settings(args)
        if args.command == "token":
            print(_token(args, settings))
            return 0
        if args.command == "simulate":
            return _simulate(args, settings)
        configure_logging(settings.log_format, settings.log_level)
        if args.command == "up":
            from bilten.deploy import up
            from bilten.deploy.up_processes import Scale

            if args.simulate and not args.demo:
                raise SettingsError("--simulate", "runs on the demo stack: add --demo")
            scale = Scale(args.hubs, args.workers, args.nats_cluster)
            day = simulate_args.Simulation.from_args(args) if args.simulate else None
            return up.main(settings, demo=args.demo, scale=scale, simulation=day)
        if args.command == "status":
            from bilten.deploy import status

            return int(_run(status.main(settings)))
        settings = resolve_secret(settings)
        if args.command == "hub":
            from bilten.hub import main as hub_main

            _run(hub_main.main(settings, reuse_port=args.reuse_port, own_port=args.own_port))
        elif args.command == "worker":
            from bilten.workers import main as worker_main
            from bilten.workers.registry import WORKERS

            if args.name != "all" and args.name not in WORKERS:
                raise SettingsError(
                    "worker",
                    f"unknown worker {args.name!r}; one of {', '.join(sorted(WORKERS))} or all",
                )
            _run(worker_main.main(settings, args.name, args.metrics_port))
        elif args.command == "replay":
            from bilten.deploy import replay_cli

            print(_run(replay_cli.main(settings, args.event, replay_cli.parse_since(args.since))))
        elif args.command == "analytics":
            from bilten.deploy import analytics_cli

            print(_run(analytics_cli.rebuild(settings, args.event)))
        elif args.command == "migrate":
            from bilten.infra.bootstrap import prepare

            _run(prepare(settings))
        return 0
    except BiltenError as error:
        print(f"bilten: {error.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
