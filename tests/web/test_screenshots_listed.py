"""Every screenshot the READMEs name exists, and every screenshot is named in this
directory's README (docs/screenshots/README.md): none is stale or missing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
PNG = re.compile(r"\(([^()\s]+\.png)\)")  # a Markdown link or image target


def named_in(readme: Path) -> set[Path]:
    return {(readme.parent / target).resolve() for target in PNG.findall(readme.read_text())}


def test_every_named_screenshot_exists() -> None:
    for readme in (ROOT / "README.md", SHOTS / "README.md"):
        missing = sorted(str(p) for p in named_in(readme) if not p.is_file())
        assert missing == [], readme


def test_every_screenshot_is_named_in_its_readme() -> None:
    pictures = {p.resolve() for p in SHOTS.glob("*.png")}
    assert len(pictures) == 14  # seven views, each at phone and laptop size
    assert sorted(str(p) for p in pictures - named_in(SHOTS / "README.md")) == []


def test_the_top_readme_shows_phone_and_laptop() -> None:
    names = {p.name for p in named_in(ROOT / "README.md")}
    assert any(n.endswith("-phone.png") for n in names)
    assert any(n.endswith("-laptop.png") for n in names)
