#!/usr/bin/env python3
"""Bootstrap for a machine with only Python 3.11+: the README's two commands.

    python3 dev.py up [bilten up flags]   install (+ analytics) into .venv, run `bilten up --demo`
    python3 dev.py test [pytest args]     install with test extras, lint, run the suite
    python3 dev.py test --faults          the same, only the fault tests (marker `faults`)
    python3 dev.py bench [names]          install, run the benchmark suite

Tests and benchmarks share one environment with the `test` and `bench` extras:
the benchmarks' smoke tests run the picows baseline too. The whole stack needs
the `analytics` extra (the analytics worker's ClickHouse); `test` includes it.

Everything goes into ./.venv (created on first use); the install step is
skipped when pyproject.toml has not changed since the last one. The browser
tests drive the machine's own Chromium: `test` installs Debian's `chromium`
package when it is missing and this runs as root with apt-get (Playwright
never downloads a browser); elsewhere those tests skip, saying why.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def ensure_env(extras: str) -> None:
    """Create .venv and install the project (editable) with the given extras."""
    if sys.version_info < (3, 11):
        sys.exit(f"Bilten needs Python 3.11 or newer, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".installed-{extras or 'base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    target = f"{ROOT}[{extras}]" if extras else str(ROOT)
    print(f"installing bilten{'[' + extras + ']' if extras else ''} into {VENV}", flush=True)
    subprocess.run(
        [
            str(BIN / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--editable",
            target,
        ],
        check=True,
    )
    stamp.write_text(digest)


def ensure_browser() -> None:
    """Install Debian's Chromium for the browser tests when it is missing and we may."""
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return
    apt = shutil.which("apt-get")
    if apt is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        print("no Chromium, and no root apt-get to install it: the browser tests skip", flush=True)
        return
    print("installing Debian's chromium package for the browser tests", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(*args: str) -> int:
        return subprocess.run([apt, *args], env=env, stdout=subprocess.DEVNULL).returncode

    install = ("install", "-y", "-q", "--no-install-recommends", "chromium")
    if apt_get(*install) != 0 and (apt_get("update", "-q") != 0 or apt_get(*install) != 0):
        print("could not install chromium: the browser tests skip", flush=True)


DEV_EXTRAS = "test,bench"
RUN_EXTRAS = "analytics"  # `bilten up` runs every worker, the analytics worker too
PACKAGES = ("infra", "deploy", "hub", "workers", "clients", "protocol")


def run(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Run a command from .venv/bin and return its exit code."""
    return subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], cwd=ROOT, env={**os.environ, **(env or {})}
    ).returncode


def typecheck() -> int:
    """mypy over the `bilten` packages.

    The directories map to `bilten.*` through setuptools' import hook, which
    mypy cannot follow, so it reads them through a tree of symlinks instead.
    """
    tree = VENV / "mypy-path" / "bilten"
    tree.mkdir(parents=True, exist_ok=True)
    for name in PACKAGES:
        link = tree / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name, target_is_directory=True)
    packages = [arg for name in PACKAGES for arg in ("-p", f"bilten.{name}")]
    return run(["mypy", *packages], env={"MYPYPATH": str(tree.parent)})


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"up", "test", "bench"}:
        print(__doc__)
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "test" and "--faults" in rest:
        # The whole suite, CI's run, includes them; the flag runs them alone.
        rest = [arg for arg in rest if arg != "--faults"] + ["-m", "faults"]
    if command == "up":
        ensure_env(RUN_EXTRAS)
        os.execv(str(BIN / "bilten"), [str(BIN / "bilten"), "up", "--demo", *rest])
    if command == "bench":
        ensure_env(DEV_EXTRAS)
        return run(["python", "-m", "benchmarks", *rest])
    ensure_env(DEV_EXTRAS)
    ensure_browser()
    gates = (
        ("ruff check", lambda: run(["ruff", "check", "."])),
        ("ruff format", lambda: run(["ruff", "format", "--check", "."])),
        ("mypy", typecheck),
    )
    for name, gate in gates:
        code = gate()
        if code:
            print(f"{name} failed", file=sys.stderr)
            return code
    # One pytest worker per core (each with its own embedded servers when none are given):
    # the suite mostly waits on servers and subprocesses, so two cores halve its time. Two per
    # core ran it in 809 s instead of about 1,370 s on a quiet machine, but with both cores
    # kept busy by other work a browser page twice took over a minute to show its first form.
    code = run(["pytest", "--numprocesses=auto", "--maxprocesses=4", *rest])
    # pytest exits 5 when it collected nothing; an empty run is a failure here.
    return 1 if code == 5 else code


if __name__ == "__main__":
    sys.exit(main())
