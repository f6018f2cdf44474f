"""A throwaway PostgreSQL cluster from the machine's binaries, for tests and benchmarks.

``PgCluster.start()`` runs ``initdb`` in a temp dir and ``pg_ctl start`` on a free loopback port;
``stop()`` stops it and removes the dir. PostgreSQL refuses to run as root, so when we are root the
cluster runs as the ``postgres`` user (created with ``useradd`` when missing). The binaries are
looked up on PATH, then in ``/usr/lib/postgresql/*/bin`` (where Debian's package puts them).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "porttest"
#: A password the tests look for in logs and error messages (it must never show up there).
PASSWORD = "pw-s3cret-9x7"
RUN_AS = "postgres"


def pg_bin(name: str) -> str:
    """A PostgreSQL program, from the same installation as initdb (Debian's /usr/bin/psql is a
    wrapper that needs its cluster config)."""
    found = shutil.which("initdb")
    dirs = [str(Path(os.path.realpath(found)).parent)] if found else []
    dirs += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for directory in dirs:
        candidate = Path(directory) / name
        if candidate.is_file():
            return str(candidate)
    if shutil.which(name):
        return str(shutil.which(name))
    raise RuntimeError(
        f"{name} not found on PATH or in /usr/lib/postgresql/*/bin; install the postgresql"
        " package (apt-get install postgresql); .ci/run does this when initdb is missing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as_user() -> str | None:
    """The user to run PostgreSQL as: None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", RUN_AS], check=True)
    return RUN_AS


@dataclass
class PgCluster:
    root: Path
    port: int
    user: str | None
    _db_count: int = 0
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.root / "postgres.log"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @classmethod
    def start(cls, settings: dict[str, str] | None = None) -> PgCluster:
        user = _run_as_user()
        root = Path(tempfile.mkdtemp(prefix="port-server-pg-"))
        if user is not None:
            shutil.chown(root, user)
        cluster = cls(root=root, port=_free_port(), user=user)
        pwfile = root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if user is not None:
            shutil.chown(pwfile, user)
        cluster._run([pg_bin("initdb"), "-D", str(cluster.data), "-U", SUPERUSER,
                      f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
                      "--auth-local=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
        conf = {"listen_addresses": "'127.0.0.1'", "port": str(cluster.port),
                "unix_socket_directories": f"'{root}'", "fsync": "off",
                "full_page_writes": "off", "max_connections": "200",
                **(settings or {})}
        with (cluster.data / "postgresql.conf").open("a") as fh:
            for key, value in conf.items():
                fh.write(f"{key} = {value}\n")
        cluster.pg_start()
        return cluster

    def _run(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, user=self.user, capture_output=True, text=True, check=check,
                              cwd=self.root, timeout=120)

    def pg_start(self) -> None:
        r = self._run([pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                       "-t", "60", "start"], check=False)
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {r.stdout}{r.stderr}\n{self.log_text()}")

    def pg_stop(self, mode: str = "fast") -> None:
        self._run([pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60",
                   "stop"], check=False)

    def stop(self) -> None:
        self.pg_stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def url(self, dbname: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        r = self._run([pg_bin("psql"), "-h", str(self.root), "-p", str(self.port), "-U",
                       SUPERUSER, "-d", dbname, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                       "-c", sql], check=False)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr}")
        return r.stdout.strip()

    def new_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; returns its URL."""
        self._db_count += 1
        name = f"{prefix}_{os.getpid()}_{self._db_count}_{int(time.time() * 1000) % 100000}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)
