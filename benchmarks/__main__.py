"""`python -m benchmarks [NAME …] [options]`: run the named benchmarks, or all present.

Options after the names go to every benchmark run, e.g.
`python -m benchmarks --quick` or `python -m benchmarks fanout --subscribers 500`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType, ModuleType

from benchmarks import BENCHMARKS

DEFAULT_TIMEOUT_S = 900.0


def present() -> list[str]:
    """The benchmarks that have a module in this checkout."""
    return [name for name in BENCHMARKS if importlib.util.find_spec(f"benchmarks.{name}")]


def parser_for(module: ModuleType) -> argparse.ArgumentParser:
    """The benchmark's own options plus the ones every benchmark takes."""
    parser = argparse.ArgumentParser(
        prog=f"python -m benchmarks {module.NAME}", description=module.SUMMARY
    )
    parser.add_argument(
        "--quick", action="store_true", help="a small, fast smoke run (numbers are not meaningful)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"stop everything after this many seconds ({DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    module.add_arguments(parser)
    return parser


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`: children are stopped


def main(argv: Sequence[str] | None = None) -> int:
    """Split argv into names and options, run each named benchmark, return the worst code."""
    args = list(sys.argv[1:] if argv is None else argv)
    available = present()
    names: list[str] = []
    while args and not args[0].startswith("-"):
        name = args.pop(0)
        if name not in available:
            print(f"unknown benchmark {name!r}; present: {', '.join(available)}", file=sys.stderr)
            return 2
        names.append(name)
    if args in (["-h"], ["--help"]) and not names:
        print(__doc__)
        print(f"benchmarks present: {', '.join(available)}")
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _terminate)
    code = 0
    for name in names or available:
        module = importlib.import_module(f"benchmarks.{name}")
        options = parser_for(module).parse_args(args)
        if options.quick:
            module.quick(options)
        print(f"== {name}: {module.SUMMARY}", file=sys.stderr, flush=True)
        try:
            code = max(code, module.run(options))
        except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as error:
            print(f"benchmark {name} failed: {error}", file=sys.stderr)
            code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
