"""Benchmarks: each measures one path of Bilten against a baseline run in the same process.

A benchmark is a module of this package listed in `BENCHMARKS` with:

- `NAME` and `SUMMARY` (strings),
- `add_arguments(parser)`: its own options (the runner adds `--quick`,
  `--timeout` and `--json` to every benchmark),
- `quick(args)`: shrink the options to a smoke run,
- `run(args) -> int`: run, print a table, return an exit code.

`python -m benchmarks` runs every benchmark present; `python -m benchmarks
NAME …` runs the named ones. Results are cited in benchmarks/README.md with the
command that reproduces them.
"""

from __future__ import annotations

# In the order `python -m benchmarks` runs them; a name without a module is skipped.
BENCHMARKS: tuple[str, ...] = (
    "fanout",
    "checkin",
    "allocation",
    "engagement",
    "eventlog",
    "dashboard",
    "eventday",
)
