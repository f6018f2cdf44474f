"""portctl run against a real server: the port reaches the child, the registry sees it, signals
pass through, exit codes come back, and --ephemeral frees the port however the child ends."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BIN, ServerProc, make_server
from port_server.models import Allocation


def private_pool() -> str:
    """Config TOML: a default pool at a random spot below the kernel's ephemeral range."""
    base = random.randrange(12000, 31000, 500)
    return f'[pools]\ndefault = "{base}-{base + 499}"\n'


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    # Children bind their ports for real, and other test runs on this machine (other
    # registries) hand out the same low ports: a private pool keeps them from racing us.
    server = make_server(tmp_path_factory.mktemp("run"), config=private_pool()).start()
    try:
        yield server
    finally:
        server.stop()


def _spawn(srv: ServerProc, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(BIN / "portctl"), *args], env=srv.env, cwd=srv.tmp,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_pid(srv: ServerProc, service: str, timeout: float = 20) -> Allocation:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [a for a in srv.client().list() if a.service == service and a.pid]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"{service}: the child's pid was never recorded")


def _fetch(port: int, timeout: float = 20) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                return bytes(resp.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_ephemeral_http_server_serves_and_frees_its_port(srv: ServerProc) -> None:
    (srv.tmp / "hello.txt").write_text("hello from the allocated port\n")
    proc = _spawn(srv, "run", "--app", "demo", "--instance", "dev", "--service", "web",
                  "--ephemeral", "--", sys.executable, "-m", "http.server", "{port}",
                  "--bind", "127.0.0.1")
    try:
        alloc = _wait_for_pid(srv, "web")
        assert alloc.command == (f"{sys.executable} -m http.server {alloc.port}"
                                 " --bind 127.0.0.1")
        assert alloc.source == "run"
        assert b"hello.txt" in _fetch(alloc.port)
        status = srv.client().check_port(alloc.port)
        assert not status.available and status.in_use
        proc.send_signal(signal.SIGINT)  # like Ctrl-C, from a non-terminal sender
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (0, 1, 128 + signal.SIGINT, 130)
    assert all(a.service != "web" for a in srv.client().list())
    # Released in the registry. (The OS may still show the port in TIME_WAIT for a while.)
    assert srv.client().check_port(alloc.port).holder is None


def test_port_in_env_and_placeholders_and_exit_code(srv: ServerProc) -> None:
    r = srv.portctl("run", "--app", "demo", "--instance", "dev", "--service", "job",
                    "--", "sh", "-c", 'echo "env=$PORT arg={port}"; exit 7')
    assert r.returncode == 7, r.stderr
    alloc = srv.client().list()[-1]
    assert alloc.service == "job"
    assert r.stdout.strip() == f"env={alloc.port} arg={alloc.port}"
    assert f"port {alloc.port} (id={alloc.id}) for demo/dev/job" in r.stderr
    # Not ephemeral: the allocation stays, the finished process is cleared from it.
    assert alloc.pid is None and alloc.command == ""
    again = srv.portctl("run", "--app", "demo", "--instance", "dev", "--service", "job",
                        "--env-var", "APP_PORT", "--", "sh", "-c", 'echo "$APP_PORT"')
    assert again.returncode == 0
    assert again.stdout.strip() == str(alloc.port)  # idempotent: the same port again


def test_sigterm_is_forwarded_and_ephemeral_port_released(srv: ServerProc) -> None:
    proc = _spawn(srv, "run", "--app", "demo", "--instance", "dev", "--service", "sleeper",
                  "--ephemeral", "--", sys.executable, "-c",
                  "import signal, sys, time\n"
                  "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
                  "print('ready', flush=True)\n"
                  "time.sleep(60)")
    try:
        alloc = _wait_for_pid(srv, "sleeper")
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"  # its handler is in place
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 42  # the child caught the forwarded SIGTERM and chose its code
    assert all(a.id != alloc.id for a in srv.client().list())


def test_child_killed_by_signal(srv: ServerProc) -> None:
    proc = _spawn(srv, "run", "--app", "demo", "--instance", "dev", "--service", "victim",
                  "--ephemeral", "--", "sleep", "60")
    try:
        alloc = _wait_for_pid(srv, "victim")
        assert alloc.pid is not None
        subprocess.run(["kill", "-KILL", str(alloc.pid)], check=True)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGKILL
    assert all(a.id != alloc.id for a in srv.client().list())


def test_usage_errors(srv: ServerProc, tmp_path: Path) -> None:
    r = srv.portctl("run", "--service", "web")
    assert r.returncode == 2 and "after --" in r.stderr
    r = srv.portctl("run", "--service", "web", "--env-var", "1BAD", "--", "true")
    assert r.returncode == 2 and "--env-var" in r.stderr
    before = srv.client().list()
    r = srv.portctl("run", "--app", "demo", "--instance", "dev", "--service", "missing",
                    "--ephemeral", "--", str(tmp_path / "no-such-program"))
    assert r.returncode == 1 and "cannot run" in r.stderr
    assert srv.client().list() == before


def test_update_pid_and_command_over_http(srv: ServerProc) -> None:
    with srv.client() as c:
        alloc = c.allocate(__import__("port_server.models", fromlist=["x"]).AllocationRequest(
            app="demo", instance="dev", service="patch")).allocation
        updated = c.update(alloc.id, {"pid": 4242, "command": "npm run dev"})
        assert (updated.pid, updated.command) == (4242, "npm run dev")
        cleared = c.update(alloc.id, {"pid": 0, "command": ""})
        assert (cleared.pid, cleared.command) == (None, "")
        status, body = c.request("PATCH", f"/v1/allocations/{alloc.id}", {"pid": -1})
        assert status == 400 and body["field"] == "pid"
        status, body = c.request("PATCH", f"/v1/allocations/{alloc.id}", {"pid": True})
        assert status == 400
    listed = json.loads(srv.portctl("list", "--service", "patch", "--json").stdout)
    assert listed[0]["pid"] is None
