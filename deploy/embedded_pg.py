"""The embedded PostgreSQL's cluster: binaries, OS account, initdb, database, readiness.

PostgreSQL refuses to run as root. When Bilten runs as root (containers, CI),
the cluster belongs to the system user `bilten-pg`, created when missing; its
data directory must then be reachable by that user, and so must the binaries
in the pgserver package. Used by `embedded.EmbeddedStack.start_postgres`.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
from pathlib import Path

from bilten.deploy.embedded import EmbeddedServerError, die_with_parent, log_tail, package_dir

log = logging.getLogger(__name__)

PG_USER = "bilten"  # the superuser initdb creates; trust authentication on loopback
PG_DATABASE = "bilten"
PG_SYSTEM_USER = "bilten-pg"  # the OS user PostgreSQL runs as when we are root
COMMAND_TIMEOUT_S = 120.0

Account = tuple[int, int]  # (uid, gid)


def bin_dir() -> Path:
    """The PostgreSQL 16 binaries shipped in the pgserver package."""
    path: Path = package_dir("pgserver", "postgres") / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise EmbeddedServerError("postgres", f"no postgres binary in {path}")
    return path


def prepare_pgdata(bin_path: Path, pgdata: Path, data_dir: Path, log_path: Path) -> Account | None:
    """Make `pgdata` a cluster PostgreSQL can run; returns the account to run it as.

    None means "as ourselves". Under root it is `bilten-pg`'s: the directories
    leading to `pgdata` are made traversable where they are ours to change
    (`data_dir` and below), and an error names the one that is not.
    """
    account = _root_account(bin_path, pgdata, data_dir)
    if (pgdata / "PG_VERSION").exists():
        if account is not None:
            _give(pgdata, account)
        return account
    if pgdata.exists() and any(pgdata.iterdir()):
        raise EmbeddedServerError("postgres", f"{pgdata} is not empty but holds no cluster "
                                  "(no PG_VERSION); move it away")
    _initdb(bin_path, pgdata, account, log_path)
    return account


def is_ready(bin_path: Path, port: int) -> bool:
    """True once the server accepts connections (not while starting or recovering)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            pass
    except OSError:
        return False
    argv = [str(bin_path / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port),
            "-U", PG_USER, "-d", "postgres", "-t", "2"]
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=5.0).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def create_database(bin_path: Path, port: int, log_path: Path) -> None:
    """Create the `bilten` database unless it exists (psql from the same installation)."""
    psql = [str(bin_path / "psql"), "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1",
            "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, "-d", "postgres", "-c"]
    found = _run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"],
                 log_path, None)
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
    _run([str(bin_path / "initdb"), "-D", str(staging), "--auth=trust", "--encoding=UTF8",
          "--locale=C", "-U", PG_USER], log_path, account, cwd=staging)
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
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log_file,
                cwd=cwd, user=uid, group=gid, extra_groups=[] if account else None,
                preexec_fn=functools.partial(die_with_parent, signal.SIGKILL),
                timeout=COMMAND_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise EmbeddedServerError("postgres", f"{Path(argv[0]).name} timed out",
                                      log_tail(log_path, offset)) from None
    if result.returncode != 0:
        raise EmbeddedServerError(
            "postgres", f"{Path(argv[0]).name} failed with status {result.returncode}",
            log_tail(log_path, offset))
    return result.stdout.decode("utf-8", "replace")


def _root_account(bin_path: Path, pgdata: Path, data_dir: Path) -> Account | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    account = _system_account(PG_SYSTEM_USER)
    for path in (pgdata.parent, *pgdata.parent.parents):
        if _permits(path, account, stat.S_IXOTH):
            continue
        if not path.is_relative_to(data_dir):
            raise EmbeddedServerError(
                "postgres", f"as root, PostgreSQL runs as {PG_SYSTEM_USER!r}, which cannot "
                f"enter {path}; choose another BILTEN_DATA_DIR (one whose parent directories "
                "others may traverse)")
        path.chmod(path.stat().st_mode | stat.S_IXOTH)
        log.info("made %s traversable for %s", path, PG_SYSTEM_USER)
    _check_install(bin_path.parent.parent, account)
    return account


def _system_account(name: str) -> Account:
    import pwd  # POSIX only, like running as root

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None:
            raise EmbeddedServerError("postgres", f"as root, PostgreSQL needs the system user "
                                      f"{name!r}, and there is no useradd to create it") from None
        result = subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
        )
        try:  # also covers a concurrent useradd that won the race
            entry = pwd.getpwnam(name)
        except KeyError:
            raise EmbeddedServerError("postgres", f"useradd {name} failed: "
                                      f"{result.stderr.strip()}") from None
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


def _check_install(package: Path, account: Account) -> None:
    """The pgserver binaries must be usable by `account`; fixed inside the package only."""
    for path in package.parents:
        if not _permits(path, account, stat.S_IXOTH):
            raise EmbeddedServerError(
                "postgres", f"as root, PostgreSQL runs as {PG_SYSTEM_USER!r}, which cannot "
                f"enter {path} to reach {package}; install Bilten where others can read it")
    rx = stat.S_IROTH | stat.S_IXOTH
    install = package / "pginstall"
    needed = [package, install, install / "bin", install / "lib", install / "share",
              install / "bin" / "postgres", install / "bin" / "initdb"]
    if all(_permits(path, account, rx) for path in needed if path.exists()):
        return
    log.warning("making %s readable for %s", package, PG_SYSTEM_USER)
    for root, _dirs, files in os.walk(package):
        _widen(Path(root), directory=True)
        for name in files:
            _widen(Path(root) / name, directory=False)


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
