"""Shared fixtures. Every test is isolated: HOME, the data dir and the server are its own.

- ``fresh_store``: an SQLiteStore on a temp file.
- ``service``: a RegistryService over ``fresh_store`` (in process, real probe).
- ``api``: starlette's TestClient over ``create_app(service, settings)`` (in process).
- ``server``: a real ``port-server`` subprocess on a free port with a temp data dir.
- ``portctl``: runs the real ``portctl`` executable against ``server``.

Optional system tools (nginx, Chromium, zsh, fish, PostgreSQL, root...) are asked for with
``require_tool`` / ``require_root`` / ``require_env_dir``: a missing one skips the test with one
line naming it and how to get it, and ``PORT_SERVER_TEST_STRICT=1`` (set by ``.ci/run``) turns
that skip into a failure, so CI runs everything while ``make test`` passes on a bare machine.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from port_server.client import RegistryClient
from port_server.errors import Unauthorized
from port_server.service import RegistryService
from port_server.settings import Settings, load_settings
from port_server.store.sqlite import SQLiteStore

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
#: Fixture modules beside this file: ``proxied`` and ``backend`` for the proxy tests.
pytest_plugins = ["proxy_helpers"]
STRICT_VAR = "PORT_SERVER_TEST_STRICT"
#: Every skip for something missing starts with this, so the end-of-run summary can find them.
MISSING = "missing "


def strict() -> bool:
    return os.environ.get(STRICT_VAR, "") not in ("", "0")


def missing(what: str, how: str) -> NoReturn:
    """Skip (or, in strict mode, fail) for want of ``what``; ``how`` says how to get it."""
    line = f"{MISSING}{what}: {how}"
    if strict():
        pytest.fail(f"{line} ({STRICT_VAR}=1 needs it)", pytrace=False)
    pytest.skip(line)


def require_tool(name: str, how: str, paths: Sequence[str] = ()) -> str:
    """The path of program ``name`` (on PATH or one of ``paths``), else skip naming ``how``."""
    found = shutil.which(name) or next((p for p in paths if os.access(p, os.X_OK)), None)
    if found is None:
        missing(name, how)
    return found


def require_module(name: str, how: str) -> Any:
    """An optional Python package, imported, else skip naming ``how`` (e.g. the extra)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"Python package {name}", how)


def require_root(why: str) -> None:
    if os.geteuid() != 0:
        missing("root", f"run the tests as root to {why}")


def require_env_dir(var: str, what: str) -> Path:
    """A data folder named by environment variable ``var`` (``.ci/run`` sets it)."""
    value = os.environ.get(var, "")
    if not value or not Path(value).is_dir():
        missing(what, f"set {var} to its folder")
    return Path(value)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per missing thing: how many tests it cost and how to get it."""
    counts: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        reason = reason.removeprefix("Skipped: ")
        if reason.startswith(MISSING):
            counts[reason] = counts.get(reason, 0) + 1
    if counts:
        terminalreporter.section("skipped: something this machine lacks")
        for reason, n in sorted(counts.items()):
            terminalreporter.write_line(f"{n:4d} test(s) {reason}")
        terminalreporter.write_line(f"{STRICT_VAR}=1 turns these skips into failures.")


def documentation() -> str:
    """The README and every page of docs/: where a command's documentation may live."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    return "\n".join(p.read_text() for p in pages)


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def isolated_env(tmp: Path, **extra: str) -> dict[str, str]:
    """An environment whose HOME, XDG dirs and data dir all live under ``tmp``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PORT_SERVER", "PORT_REGISTRY", "XDG_"))}
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update({
        "HOME": str(home),
        "PORT_SERVER_HOME": str(tmp / "data"),
        "XDG_RUNTIME_DIR": str(tmp / "run"),
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    })
    (tmp / "run").mkdir(exist_ok=True, mode=0o700)
    env.update(extra)
    return env


@dataclass
class ServerProc:
    """A real port-server process and the environment to talk to it."""

    tmp: Path
    port: int
    env: dict[str, str]
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return Path(self.env["PORT_SERVER_HOME"])

    def start(self, timeout: float = 20.0, healthy: bool = True) -> ServerProc:
        """Start and wait until /healthz answers: with 200, or with anything when not
        ``healthy`` (e.g. 503 while the database is down)."""
        log = self.tmp / f"server-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as fh:
            self.proc = subprocess.Popen(
                [str(BIN / "port-server"), "--port", str(self.port), *self.args],
                env=self.env, stdout=fh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"port-server exited: {log.read_text()}")
            try:
                with RegistryClient(self.addr, timeout=2) as c:
                    if healthy:
                        c.health()
                    else:
                        c.request("GET", "/healthz")
                return self
            except Unauthorized:  # up, and wants a bearer token (--token-file)
                return self
            except Exception:
                time.sleep(0.05)
        raise RuntimeError(f"port-server did not answer: {log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    def client(self, **kw: Any) -> RegistryClient:
        return RegistryClient(self.addr, **kw)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def portctl(self, *args: str, input: str | None = None, cwd: Path | None = None,
                prog: str = "portctl", env: dict[str, str] | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / prog), *args], env={**self.env, **(env or {})}, input=input,
            capture_output=True, text=True, cwd=cwd or self.tmp, timeout=timeout)

    def portman(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.portctl(*args, prog="portman", **kw)


def make_server(tmp: Path, args: Sequence[str] = (), config: str | None = None,
                env: dict[str, str] | None = None) -> ServerProc:
    """A configured (not yet started) server under ``tmp``; ``config`` is TOML text."""
    port = free_port()
    environ = isolated_env(tmp, PORT_SERVER_ADDR=f"127.0.0.1:{port}", **(env or {}))
    data = Path(environ["PORT_SERVER_HOME"])
    data.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (data / "config.toml").write_text(config)
    return ServerProc(tmp=tmp, port=port, env=environ, args=list(args))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProc]:
    srv = make_server(tmp_path).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    """One real server for a whole module, for tests that do not mind each other's data."""
    srv = make_server(tmp_path_factory.mktemp("module")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def portctl(server: ServerProc) -> Any:
    return server.portctl


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    env = isolated_env(tmp_path)
    return load_settings(env=env, config_path=tmp_path / "none.toml")


@pytest.fixture
def fresh_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "registry.db")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def service(fresh_store: SQLiteStore, settings: Settings) -> RegistryService:
    return RegistryService(fresh_store, settings)


class AsPeer:
    """An ASGI app whose every connection carries kernel identity ``uid`` (None: unknown), as
    the daemon's protocol puts it there when it accepts a connection (server/peer.py)."""

    def __init__(self, app: Any, uid: int | None) -> None:
        self.app, self.uid = app, uid

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from port_server.server.peer import PEER_EXTENSION, Peer

        scope.setdefault("extensions", {})[PEER_EXTENSION] = Peer("tcp", uid=self.uid)
        await self.app(scope, receive, send)


def in_process_client(service: RegistryService, settings: Settings,
                      uid: int | None) -> Any:
    """starlette's TestClient over ``create_app(service, settings)``, calling as ``uid``."""
    from starlette.testclient import TestClient

    from port_server.server.app import create_app

    # A loopback base URL: the app refuses other Host names (DNS rebinding guard).
    return TestClient(AsPeer(create_app(service, settings), uid), base_url="http://127.0.0.1",
                      raise_server_exceptions=False)


@pytest.fixture
def api(service: RegistryService, settings: Settings) -> Iterator[Any]:
    """The app in process, called as this test's own user (as a local portctl would be)."""
    with in_process_client(service, settings, os.geteuid()) as client:
        yield client


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """One throwaway PostgreSQL cluster for the whole session (initdb + pg_ctl, free port);
    ``pg_cluster.new_database()`` gives each test its own empty database."""
    from pg_cluster import PgCluster, pg_bin

    try:
        pg_bin("initdb")
    except RuntimeError:
        missing("PostgreSQL server binaries (initdb, pg_ctl)", "apt-get install postgresql")
    cluster = PgCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


# -- the whole stack in process: CLI -> client -> app -> service -> SQLite ----------------------

class AppTransport:
    """A client ``Transport`` that calls the ASGI app through starlette's TestClient."""

    via = "in-process"

    def __init__(self, test_client: Any) -> None:
        self.test_client = test_client

    def exchange(self, method: str, path: str, headers: Sequence[tuple[str, str]],
                 payload: bytes) -> tuple[int, bytes]:
        answer = self.test_client.request(method, path, headers=dict(headers),
                                          content=payload or None)
        return answer.status_code, answer.content

    def close(self) -> None:
        pass


@dataclass
class InProcess:
    """portctl and portman run in this process against ``create_app`` (no sockets, no
    subprocess): the same arguments and the same CompletedProcess as ``ServerProc.portctl``."""

    tmp: Path
    client: RegistryClient
    service: RegistryService
    monkeypatch: pytest.MonkeyPatch

    def portctl(self, *args: str, input: str | None = None, cwd: Path | None = None,
                prog: str = "portctl", env: dict[str, str] | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        import contextlib
        import io

        from port_server.cli import main as portctl_main
        from port_server.cli.portman import main as portman_main

        entry = portman_main if prog == "portman" else portctl_main
        out, err = io.StringIO(), io.StringIO()
        with self.monkeypatch.context() as patch:
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            patch.chdir(cwd or self.tmp)
            patch.setattr(sys, "stdin", io.StringIO(input or ""))
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = entry(list(args), client=self.client)
                except SystemExit as exc:  # argparse: --help, usage errors
                    code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
        return subprocess.CompletedProcess([prog, *args], code, out.getvalue(), err.getvalue())

    def portman(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.portctl(*args, prog="portman", **kw)


def as_local_user(app: Any) -> Any:
    """The app, with every request arriving as this process's user over the Unix socket (what
    the daemon records when it accepts a connection), so ownership works as with a real CLI."""
    from port_server.server.peer import PEER_EXTENSION, Peer

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("extensions", {})[PEER_EXTENSION] = Peer(
                "unix", uid=os.getuid(), pid=os.getpid())
        await app(scope, receive, send)

    return wrapped


@pytest.fixture
def inproc(tmp_path: Path, service: RegistryService, settings: Settings,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess]:
    """portctl/portman in process over ``create_app`` (isolated HOME and data dir, like
    ``server``). Override ``settings`` in a test module to configure the server."""
    from starlette.testclient import TestClient

    from port_server.server.app import create_app

    for name in list(os.environ):
        if name.startswith(("PORT_SERVER", "PORT_REGISTRY", "XDG_")):
            monkeypatch.delenv(name)
    for name, value in isolated_env(tmp_path).items():
        if name != "PATH":
            monkeypatch.setenv(name, value)
    app = create_app(service, settings)
    with TestClient(as_local_user(app), base_url="http://127.0.0.1",
                    raise_server_exceptions=False) as test_client:
        client = RegistryClient("127.0.0.1:1", transport=AppTransport(test_client))
        yield InProcess(tmp_path, client, service, monkeypatch)
