"""The vendored browser libraries are the files recorded, taken only from verified tarballs.

docs/web.md §Vendored libraries. Re-downloading needs the npm registry
(`python -m bilten.deploy.vendor_web --check`); these tests need no network.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from bilten.deploy.vendor_web import (
    MANIFEST,
    PACKAGES,
    ROOT,
    SERVED,
    TESTS,
    Package,
    VendorError,
    extract,
    manifest_of,
    mismatches,
    sha256_of,
)


def tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def package(data: bytes, files: tuple[tuple[str, str], ...]) -> Package:
    return Package("lib", "1.0.0", "MIT", integrity(data), files)


def test_the_committed_files_match_their_recorded_hashes() -> None:
    assert mismatches(ROOT) == []
    recorded = json.loads((ROOT / MANIFEST).read_text())
    assert [(p["name"], p["licence"]) for p in recorded["packages"]] == [
        ("react", "MIT"),
        ("react-dom", "MIT"),
        ("htm", "Apache-2.0"),
        ("qrcode-generator", "MIT"),
        ("uplot", "MIT"),
        ("jsqr-es6", "Apache-2.0"),
        ("axe-core", "MPL-2.0"),
    ]
    files = {p.name: {n: (ROOT / n).read_bytes() for _, n in p.files} for p in PACKAGES}
    assert recorded == manifest_of(files)


def test_a_changed_or_missing_file_is_reported(tmp_path: Path) -> None:
    for directory in (SERVED, TESTS):
        shutil.copytree(ROOT / directory, tmp_path / directory)
    (tmp_path / SERVED / "htm.module.js").write_bytes(b"export default 1;")
    (tmp_path / TESTS / "axe.min.js").unlink()
    assert mismatches(tmp_path) == [
        f"{SERVED}/htm.module.js does not match its recorded sha256",
        f"{TESTS}/axe.min.js is missing",
    ]


def test_files_come_out_of_a_tarball_that_matches_its_integrity() -> None:
    data = tarball({"package/dist/lib.js": b"export default 42;", "package/LICENSE": b"MIT"})
    wanted = (("package/dist/lib.js", "lib.js"), ("package/LICENSE", "LICENSE.lib"))
    assert extract(package(data, wanted), data) == {
        "lib.js": b"export default 42;",
        "LICENSE.lib": b"MIT",
    }
    assert sha256_of(b"MIT") == hashlib.sha256(b"MIT").hexdigest()


def test_a_tampered_tarball_or_a_missing_file_is_refused() -> None:
    data = tarball({"package/dist/lib.js": b"export default 42;"})
    wanted = (("package/dist/lib.js", "lib.js"),)
    tampered = tarball({"package/dist/lib.js": b"export default evil;"})
    with pytest.raises(VendorError, match="integrity mismatch"):
        extract(package(data, wanted), tampered)
    with pytest.raises(VendorError, match=r"no file package/dist/other\.js"):
        extract(package(data, (("package/dist/other.js", "other.js"),)), data)
