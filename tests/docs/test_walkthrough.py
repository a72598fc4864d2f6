"""docs/first-event.md runs as written: every `sh` block, in order, in one bash shell,
against a live hub with workers (curl, jq and the project's .venv, as a reader has)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "first-event.md").read_text("utf-8")


def test_the_doc_has_its_steps() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", DOC, re.S)
    assert len(blocks) == 8
    for path in (
        "/events",
        "/ticket-types",
        "/gates",
        "/seats",
        "/tickets",
        "/checkins",
        "/inside",
        "/tokens",
    ):
        assert any(path in block for block in blocks), path


async def test_walkthrough_runs_against_a_live_hub(hub_server: Any, make_token: Any) -> None:
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the walkthrough needs {', '.join(missing)}")
    script = "set -euo pipefail\n" + "\n".join(re.findall(r"```sh\n(.*?)```", DOC, re.S))
    # HUB and TOKEN given: the doc's defaults (port 8080, `bilten token`) stay unused.
    env = {
        **os.environ,
        "HUB": str(hub_server.make_url("")).rstrip("/"),
        "TOKEN": make_token("organizer", ttl_s=86400),
    }
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    text = out.decode()
    assert process.returncode == 0, f"{text}\n{err.decode()}"
    lines = text.splitlines()
    assert re.fullmatch(r'\{"id":\d+,"name":"Sarajevo Jazz Night",.*\}', lines[0]), lines[0]
    assert '"gates":["north","south"],"allow_reentry":true' in lines[1]
    assert lines[2:4] == [
        '{"name":"1","ids":[[1,10]],"states":"10a"}',
        '{"name":"2","ids":[[11,10]],"states":"10a"}',
    ]
    assert lines[4] == "[1]"  # the Parter ticket got the first seat
    assert lines[5:7] == [
        '{"name":"Stajanje","sold":2,"remaining":298}',
        '{"name":"Parter","sold":1,"remaining":19}',
    ]
    assert [line.split(",")[1] for line in lines[7:9]] == ['"holder":"Amra Hadžić"'] * 2
    assert lines[9:11] == [
        '{"status":"ok","reason":null,"inside":1}',
        '{"status":"rejected","reason":"already_inside","inside":1}',
    ]
    assert lines[11].startswith('{"holder":"Amra Hadžić","gate":"north","since":"')
    assert lines[12:] == ["live: ok Amra Hadžić inside: 2"]
