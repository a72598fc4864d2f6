"""Vendor the web pages' browser libraries from the npm registry, and check them.

docs/web.md §Vendored libraries. The pages run on React's UMD builds and
`htm` (tagged templates instead of JSX), committed under hub/static/vendor/
so that no Node.js is needed to install or run Bilten and no CDN is reached
at run time; axe-core, which only the browser tests load, goes to
tests/web/vendor/. `PACKAGES` is the one list of what is taken: each tarball
is checked against the registry's published `integrity` (SHA-512) before a
file is written, and hub/static/vendor/VENDORED.json records each file's
SHA-256, which the test suite compares with the committed files.

    python -m bilten.deploy.vendor_web           # download, verify, write
    python -m bilten.deploy.vendor_web --check   # download, verify, compare only
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
ROOT = Path(__file__).resolve().parent.parent
SERVED = "hub/static/vendor"  # served to browsers by the hub
TESTS = "tests/web/vendor"  # loaded by the browser tests only
MANIFEST = f"{SERVED}/VENDORED.json"
FETCH_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Package:
    """One npm package: which files of its tarball are vendored, under which paths."""

    name: str
    version: str
    licence: str
    integrity: str  # the registry's `dist.integrity` for this version
    files: tuple[tuple[str, str], ...]  # (path in the tarball, path in the repository)

    @property
    def tarball(self) -> str:
        """The tarball's path on the registry."""
        return f"/{self.name}/-/{self.name}-{self.version}.tgz"


PACKAGES = (
    Package(
        "react",
        "18.3.1",
        "MIT",
        "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==",
        (
            ("package/umd/react.production.min.js", f"{SERVED}/react.production.min.js"),
            ("package/LICENSE", f"{SERVED}/LICENSE.react"),
        ),
    ),
    Package(
        "react-dom",
        "18.3.1",
        "MIT",
        "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==",
        (
            ("package/umd/react-dom.production.min.js", f"{SERVED}/react-dom.production.min.js"),
            ("package/LICENSE", f"{SERVED}/LICENSE.react-dom"),
        ),
    ),
    Package(
        "htm",
        "3.1.1",
        "Apache-2.0",
        "sha512-983Vyg8NwUE7JkZ6NmOqpCZ+sh1bKv2iYTlUkzlWmA5JD2acKoxd4KVxbMmxX/85mtfdnDmTFoNKcg5DGAvxNQ==",
        (
            ("package/dist/htm.module.js", f"{SERVED}/htm.module.js"),
            ("package/LICENSE", f"{SERVED}/LICENSE.htm"),
        ),
    ),
    Package(
        "qrcode-generator",
        "2.0.4",
        "MIT",
        "sha512-mZSiP6RnbHl4xL2Ap5HfkjLnmxfKcPWpWe/c+5XxCuetEenqmNFf1FH/ftXPCtFG5/TDobjsjz6sSNL0Sr8Z9g==",
        (("package/dist/qrcode.mjs", f"{SERVED}/qrcode.mjs"),),  # its MIT notice heads the file
    ),
    Package(
        "uplot",
        "1.6.32",
        "MIT",
        "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==",
        (
            ("package/dist/uPlot.esm.js", f"{SERVED}/uPlot.esm.js"),
            ("package/dist/uPlot.min.css", f"{SERVED}/uPlot.min.css"),
            ("package/LICENSE", f"{SERVED}/LICENSE.uplot"),
        ),
    ),
    Package(
        "jsqr-es6",
        "1.2.0",
        "Apache-2.0",
        "sha512-6icCg61Jz8MCVOUtD8gHjw5rc6Tvmu7mPE1x7VsUMEtdKM2lSkZgEtUzfbOWpB6SEgl6zToNGVKx2rVyTa12Gw==",
        (
            ("package/dist/jsQR.js", f"{SERVED}/jsQR.js"),
            ("package/LICENSE", f"{SERVED}/LICENSE.jsqr-es6"),
        ),
    ),
    Package(
        "axe-core",
        "4.14.1",
        "MPL-2.0",
        "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
        (
            ("package/axe.min.js", f"{TESTS}/axe.min.js"),
            ("package/LICENSE", f"{TESTS}/LICENSE.axe-core"),
        ),
    ),
)


class VendorError(Exception):
    """A tarball or a vendored file is not what was recorded."""


def sha256_of(data: bytes) -> str:
    """The hex SHA-256 of `data`, as VENDORED.json records it."""
    return hashlib.sha256(data).hexdigest()


def check_integrity(package: Package, tarball: bytes) -> None:
    """Refuse a tarball whose SHA-512 differs from the registry's recorded `integrity`."""
    algorithm, _, expected = package.integrity.partition("-")
    if algorithm != "sha512":
        raise VendorError(f"{package.name}: unsupported integrity {algorithm!r}")
    actual = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if actual != expected:
        raise VendorError(f"{package.name}@{package.version}: tarball integrity mismatch")


def extract(package: Package, tarball: bytes) -> dict[str, bytes]:
    """The vendored files of a verified tarball, by vendored name."""
    check_integrity(package, tarball)
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for inner, name in package.files:
            try:
                member = archive.extractfile(inner)
            except KeyError:
                member = None
            if member is None:  # absent, or not a regular file
                raise VendorError(f"{package.name}@{package.version}: no file {inner}")
            found[name] = member.read()
    return found


def manifest_of(files: dict[str, dict[str, bytes]]) -> dict[str, object]:
    """VENDORED.json's content for the extracted files of every package."""
    return {
        "registry": "npm",
        "packages": [
            {
                "name": p.name,
                "version": p.version,
                "licence": p.licence,
                "tarball": p.tarball,
                "integrity": p.integrity,
                "files": {name: sha256_of(data) for name, data in sorted(files[p.name].items())},
            }
            for p in PACKAGES
        ],
    }


def fetch(registry: str, package: Package) -> bytes:
    """Download one tarball."""
    url = registry.rstrip("/") + package.tarball
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:
        data: bytes = response.read()
    return data


def download(registry: str = REGISTRY) -> dict[str, dict[str, bytes]]:
    """Every package's vendored files, each tarball checked against its integrity."""
    return {p.name: extract(p, fetch(registry, p)) for p in PACKAGES}


def write(root: Path, files: dict[str, dict[str, bytes]]) -> None:
    """Write the files and VENDORED.json below the repository root `root`."""
    for per_package in files.values():
        for name, data in per_package.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
    text = json.dumps(manifest_of(files), indent=2) + "\n"
    (root / MANIFEST).write_text(text)


def mismatches(root: Path) -> list[str]:
    """What below `root` differs from VENDORED.json and from `PACKAGES` (empty: all match)."""
    recorded = json.loads((root / MANIFEST).read_text())
    problems = []
    listed = [(p["name"], p["version"], p["integrity"]) for p in recorded["packages"]]
    wanted = [(p.name, p.version, p.integrity) for p in PACKAGES]
    if listed != wanted:
        problems.append(f"{MANIFEST} lists {listed}, PACKAGES says {wanted}")
    for package in recorded["packages"]:
        for name, digest in package["files"].items():
            path = root / name
            if not path.is_file():
                problems.append(f"{name} is missing")
            elif sha256_of(path.read_bytes()) != digest:
                problems.append(f"{name} does not match its recorded sha256")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Download and write the vendored files, or with --check compare them with a fresh download."""
    parser = argparse.ArgumentParser(prog="vendor_web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare only; write nothing")
    parser.add_argument("--registry", default=REGISTRY)
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository to write into")
    args = parser.parse_args(argv)
    try:
        files = download(args.registry)
    except (OSError, VendorError, tarfile.TarError) as error:
        print(f"vendor_web: {error}", file=sys.stderr)
        return 1
    if args.check:
        expected = manifest_of(files)
        recorded = json.loads((args.root / MANIFEST).read_text())
        problems = mismatches(args.root)
        if recorded != expected:
            problems.append(f"{MANIFEST} differs from what the registry serves")
        for problem in problems:
            print(f"vendor_web: {problem}", file=sys.stderr)
        return 1 if problems else 0
    write(args.root, files)
    print(f"vendor_web: wrote {sum(map(len, files.values()))} files below {args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
