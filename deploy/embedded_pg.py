"""The embedded PostgreSQL's cluster: binaries, OS account, initdb, database, readiness.

PostgreSQL refuses to run as root. When Bilten runs as root (containers, CI),
the cluster belongs to the system user `bilten-pg`, created when missing; its
data directory must then be reachable by that user, and so must the binaries
in the pgserver package (else a copy of them is). Used by
`embedded.EmbeddedStack.start_postgres`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bilten.deploy.embedded_common import (
    EmbeddedServerError,
    die_with_parent,
    log_tail,
    package_dir,
)

log = logging.getLogger(__name__)

PG_USER = "bilten"  # the superuser initdb creates; trust authentication on loopback
PG_DATABASE = "bilten"
PG_SYSTEM_USER = "bilten-pg"  # the OS user PostgreSQL runs as when we are root
COMMAND_TIMEOUT_S = 120.0
# Root-owned home of the binaries' copy when `bilten-pg` cannot reach the installed ones.
INSTALL_CACHE = Path("/var/cache/bilten")
_WHEEL_LIBS = "pgserver.libs"  # beside the package: where the binaries' RPATH points

Account = tuple[int, int]  # (uid, gid)


def bin_dir() -> Path:
    """The PostgreSQL 16 binaries shipped in the pgserver package."""
    path: Path = package_dir("pgserver", "postgres") / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise EmbeddedServerError("postgres", f"no postgres binary in {path}")
    return path


@dataclass(frozen=True, slots=True)
class Cluster:
    """How to run a prepared cluster: which binaries, as which OS account (None: ourselves)."""

    bin_dir: Path
    account: Account | None


def prepare_cluster(pgdata: Path, data_dir: Path, log_path: Path) -> Cluster:
    """Make `pgdata` a cluster PostgreSQL can run, and say how to run it.

    Under root the account is `bilten-pg`'s: the directories leading to
    `pgdata` are made traversable where they are ours to change (`data_dir`
    and below), and an error names the one that is not. The binaries are used
    in place when `bilten-pg` can reach them, else from a readable copy.
    """
    bin_path = bin_dir()
    account = _root_account(pgdata, data_dir)
    if account is not None:
        bin_path = _reachable_install(bin_path.parent, account) / "bin"
    if (pgdata / "PG_VERSION").exists():
        if account is not None:
            _give(pgdata, account)
        return Cluster(bin_path, account)
    if pgdata.exists() and any(pgdata.iterdir()):
        raise EmbeddedServerError(
            "postgres", f"{pgdata} is not empty but holds no cluster (no PG_VERSION); move it away"
        )
    _initdb(bin_path, pgdata, account, log_path)
    return Cluster(bin_path, account)


def is_ready(bin_path: Path, port: int) -> bool:
    """True once the server accepts connections (not while starting or recovering)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            pass
    except OSError:
        return False
    argv = [
        str(bin_path / "pg_isready"),
        "-q",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        PG_USER,
        "-d",
        "postgres",
        "-t",
        "2",
    ]
    try:
        return (
            subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=5.0,
            ).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        return False


def create_database(bin_path: Path, port: int, log_path: Path) -> None:
    """Create the `bilten` database unless it exists (psql from the same installation)."""
    psql = [
        str(bin_path / "psql"),
        "-X",
        "-q",
        "-tA",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        PG_USER,
        "-d",
        "postgres",
        "-c",
    ]
    found = _run(
        [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"], log_path, None
    )
    if found.strip() != "1":
        _run([*psql, f'CREATE DATABASE "{PG_DATABASE}"'], log_path, None)
        log.info("created database %s", PG_DATABASE)


def _initdb(bin_path: Path, pgdata: Path, account: Account | None, log_path: Path) -> None:
    # initdb into a staging directory, renamed when complete: an interrupted
    # initdb must not leave a half-made cluster where the next start looks.
    staging = pgdata.with_name(pgdata.name + ".initdb")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700, parents=True)
    if account is not None:
        os.chown(staging, *account)
    log.info("initializing PostgreSQL cluster in %s", pgdata)
    _run(
        [
            str(bin_path / "initdb"),
            "-D",
            str(staging),
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "-U",
            PG_USER,
        ],
        log_path,
        account,
        cwd=staging,
    )
    if pgdata.exists():
        pgdata.rmdir()  # empty, checked by the caller
    staging.rename(pgdata)


def _run(argv: list[str], log_path: Path, account: Account | None, cwd: Path | None = None) -> str:
    """Run a short PostgreSQL command; stderr goes to the log, stdout is returned."""
    uid, gid = account if account else (None, None)
    offset = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log_file:
        try:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log_file,
                cwd=cwd,
                user=uid,
                group=gid,
                extra_groups=[] if account else None,
                preexec_fn=functools.partial(die_with_parent, signal.SIGKILL),
                timeout=COMMAND_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise EmbeddedServerError(
                "postgres", f"{Path(argv[0]).name} timed out", log_tail(log_path, offset)
            ) from None
    if result.returncode != 0:
        raise EmbeddedServerError(
            "postgres",
            f"{Path(argv[0]).name} failed with status {result.returncode}",
            log_tail(log_path, offset),
        )
    return result.stdout.decode("utf-8", "replace")


def _root_account(pgdata: Path, data_dir: Path) -> Account | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    account = _system_account(PG_SYSTEM_USER)
    for path in (pgdata.parent, *pgdata.parent.parents):
        if _permits(path, account, stat.S_IXOTH):
            continue
        if not path.is_relative_to(data_dir):
            raise EmbeddedServerError(
                "postgres",
                f"as root, PostgreSQL runs as {PG_SYSTEM_USER!r}, which cannot "
                f"enter {path}; choose another BILTEN_DATA_DIR (one whose parent directories "
                "others may traverse)",
            )
        path.chmod(path.stat().st_mode | stat.S_IXOTH)
        log.info("made %s traversable for %s", path, PG_SYSTEM_USER)
    return account


def _system_account(name: str) -> Account:
    import pwd  # POSIX only, like running as root

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None:
            raise EmbeddedServerError(
                "postgres",
                f"as root, PostgreSQL needs the system user "
                f"{name!r}, and there is no useradd to create it",
            ) from None
        result = subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        try:  # also covers a concurrent useradd that won the race
            entry = pwd.getpwnam(name)
        except KeyError:
            raise EmbeddedServerError(
                "postgres", f"useradd {name} failed: {result.stderr.strip()}"
            ) from None
        log.info("created system user %s for the embedded PostgreSQL", name)
    return entry.pw_uid, entry.pw_gid


def _permits(path: Path, account: Account, other_bits: int) -> bool:
    """Whether `account` has the permission `other_bits` (given as S_I*OTH) on `path`."""
    st = path.stat()
    if st.st_uid == account[0]:
        shift = 6
    elif st.st_gid == account[1]:
        shift = 3
    else:
        shift = 0
    return (st.st_mode >> shift) & other_bits == other_bits


def _reachable_install(install: Path, account: Account) -> Path:
    """`install` (pgserver's `pginstall`) or a copy of it that `account` can read and run.

    A clone made by root with mode 0700 (`mkdtemp`, a private home) hides the
    virtual environment from `bilten-pg`; its parents are not ours to open up,
    so the binaries are copied to a root-owned directory everyone may read.
    Inside the package, missing read bits are added in place.
    """
    if not all(_permits(path, account, stat.S_IXOTH) for path in install.parents):
        return _copied_install(install, account)
    rx = stat.S_IROTH | stat.S_IXOTH
    needed = [
        install.parent,
        install,
        install / "bin",
        install / "lib",
        install / "share",
        install / "bin" / "postgres",
        install / "bin" / "initdb",
    ]
    if not all(_permits(path, account, rx) for path in needed if path.exists()):
        log.warning("making %s readable for %s", install.parent, PG_SYSTEM_USER)
        _widen_tree(install.parent)
    return install


def _copied_install(install: Path, account: Account) -> Path:
    """A copy of `install`'s bin, lib and share under INSTALL_CACHE, made once per build.

    The wheel's bundled libraries (`pgserver.libs`, beside the package) come
    along in the same relative place, where the binaries' RPATH looks. The
    copy is named by a digest of the files' names, sizes and times, so an
    upgraded pgserver gets a new one; it is staged and renamed into place, so a
    concurrent start either finds a complete copy or makes its own.
    """
    for path in (INSTALL_CACHE.parent, *INSTALL_CACHE.parent.parents):
        if not _permits(path, account, stat.S_IXOTH):
            raise EmbeddedServerError(
                "postgres",
                f"as root, PostgreSQL runs as {PG_SYSTEM_USER!r}, which can reach "
                f"neither {install} nor {INSTALL_CACHE} (blocked at {path}); install Bilten "
                "where others can read it",
            )
    site = install.parent.parent
    parts = [install.relative_to(site) / part for part in ("bin", "lib", "share")]
    parts += [Path(_WHEEL_LIBS)] if (site / _WHEEL_LIBS).is_dir() else []
    digest = hashlib.sha256()
    for part in parts:
        for path in sorted((site / part).rglob("*")):
            st = path.lstat()
            digest.update(f"{path.relative_to(site)} {st.st_size} {st.st_mtime_ns}\n".encode())
    target = INSTALL_CACHE / f"pginstall-{digest.hexdigest()[:16]}"
    copied = target / install.relative_to(site)
    if (copied / "bin" / "postgres").exists():
        return copied
    log.warning(
        "%s cannot reach %s; copying the PostgreSQL binaries to %s", PG_SYSTEM_USER, install, target
    )
    INSTALL_CACHE.mkdir(mode=0o755, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=INSTALL_CACHE, prefix=".pginstall-"))
    try:
        for part in parts:
            shutil.copytree(site / part, staging / part, symlinks=True)
        _widen_tree(staging)
        staging.rename(target)
    except OSError:
        if not (copied / "bin" / "postgres").exists():  # not a concurrent copy that won
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return copied


def _widen_tree(root: Path) -> None:
    for directory, _dirs, files in os.walk(root):
        _widen(Path(directory), directory=True)
        for name in files:
            _widen(Path(directory) / name, directory=False)


def _widen(path: Path, *, directory: bool) -> None:
    mode = path.stat().st_mode
    extra = stat.S_IRGRP | stat.S_IROTH
    if directory or mode & stat.S_IXUSR:
        extra |= stat.S_IXGRP | stat.S_IXOTH
    if mode & extra != extra:
        path.chmod(mode | extra)


def _give(pgdata: Path, account: Account) -> None:
    """Hand an existing cluster to `account` (e.g. made by an earlier non-root run)."""
    if pgdata.stat().st_uid != account[0]:
        log.warning("giving %s to %s", pgdata, PG_SYSTEM_USER)
        for root, dirs, files in os.walk(pgdata):
            for name in (root, *(os.path.join(root, n) for n in dirs + files)):
                os.chown(name, *account, follow_symlinks=False)
    pgdata.chmod(0o700)
