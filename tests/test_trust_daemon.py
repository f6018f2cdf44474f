"""A hostile local user against a real port-server, as they would try it: raw HTTP over loopback
TCP from their own uid, the socket closed right after sending, so that a late identity lookup
finds it orphaned or in time-wait (which the kernel reports as uid 0). Nothing may change, and
the audit log must never name root for it.

Needs root to create a throwaway OS user (useradd) and to run code as that user.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ServerProc, make_server, require_root, require_tool
from port_server.client import RegistryClient
from port_server.models import AllocationRequest

ATTEMPTS = 50


@pytest.fixture(scope="module")
def intruder() -> Iterator[pwd.struct_passwd]:
    require_root("create a throwaway OS user (useradd) and connect as it")
    useradd = require_tool("useradd", "apt-get install passwd", paths=("/usr/sbin/useradd",))
    userdel = require_tool("userdel", "apt-get install passwd", paths=("/usr/sbin/userdel",))
    name = f"psi{secrets.token_hex(3)}"
    subprocess.run([useradd, "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run([userdel, name], capture_output=True)


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[ServerProc]:
    server = make_server(tmp_path, args=["--unix-socket", "none"]).start()
    try:
        yield server
    finally:
        server.stop()


def raw(method: str, path: str, body: dict[str, object] | None = None, host: str = "") -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    return head.encode() + b"\r\n" + data


def as_user(user: pwd.struct_passwd, fn: object) -> str:
    """Run ``fn()`` in a forked child running as ``user``; what it returned, as text."""
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:
        result: object = "child failed"
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            result = fn()  # type: ignore[operator]
        finally:
            os.write(write_fd, str(result).encode())
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        out = fh.read()
    os.waitpid(child, 0)
    return out


def test_send_and_close_at_once_never_acts_as_root(
        srv: ServerProc, intruder: pwd.struct_passwd) -> None:
    with RegistryClient(srv.addr) as root:  # root's own allocations, one of them protected
        prod = root.allocate(AllocationRequest(
            app="shop", instance="prod", service="db", environment="production")).allocation
        mine = root.allocate(AllocationRequest(app="shop", instance="dev", service="web")
                             ).allocation
        team = root.allocate(AllocationRequest(app="team", instance="prod", service="api",
                                               owner="velo", protected=True)).allocation
        before = root.list()
    assert prod.protected and prod.owner == "root" and mine.owner == "root"
    host = srv.addr
    attacks = [raw("DELETE", f"/v1/allocations/{a.id}?force=true", host=host)
               for a in (prod, mine, team)]
    attacks += [raw("PATCH", f"/v1/allocations/{a.id}?force=true",
                    {"owner": intruder.pw_name, "protected": False}, host=host)
                for a in (prod, mine, team)]
    attacks.append(raw("DELETE", "/v1/allocations", {"app": "shop", "force": True}, host=host))
    attacks.append(raw("DELETE", "/v1/allocations", {"app": "team", "force": True}, host=host))
    port = srv.port

    def hit_and_run() -> int:
        """Send each attack and close at once, without waiting for any answer."""
        sent = 0
        for _ in range(ATTEMPTS):
            for request in attacks:
                s = socket.socket()
                s.connect(("127.0.0.1", port))
                s.sendall(request)
                s.close()
                sent += 1
        return sent

    assert as_user(intruder, hit_and_run) == str(ATTEMPTS * len(attacks))
    time.sleep(1.0)  # let the server finish whatever it read
    with RegistryClient(srv.addr) as root:
        assert root.list() == before  # 0 successes: nothing released, re-owned or unprotected
        log = root.log()
    assert [(e.action, e.actor) for e in log] == [("allocate", "root")] * 3
    assert all(e.actor != "root" for e in log if e.action != "allocate")

    def ask_and_read() -> str:
        """The same request from a connection kept open until the whole answer is in."""
        s = socket.socket()
        s.connect(("127.0.0.1", port))
        s.sendall(attacks[0].replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nConnection: close\r\n", 1))
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        s.close()
        return b"".join(chunks).decode()

    answer = as_user(intruder, ask_and_read)  # the intruder is named, and refused
    assert answer.startswith("HTTP/1.1 403"), answer
    assert "only root may release it" in answer and "root or root" not in answer, answer
    with RegistryClient(srv.addr) as root:
        assert root.list() == before
