"""A hostile local user against a real port-server, as they would try it: raw HTTP over loopback
TCP from their own uid, the socket closed right after sending, so that a late identity lookup
finds it orphaned or in time-wait (which the kernel reports as uid 0). Nothing may change, and
the audit log must never name root for it.

Needs root to create a throwaway OS user (useradd) and to run code as that user.
"""

from __future__ import annotations

import json
import pwd
import shutil
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ServerProc, make_server
from os_users import portctl_as, run_as, throwaway_users
from port_server.client import RegistryClient
from port_server.models import AllocationRequest

ATTEMPTS = 50


@pytest.fixture(scope="module")
def intruder() -> Iterator[pwd.struct_passwd]:
    with throwaway_users(1, prefix="psi") as users:
        yield users[0]


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


def settled_mutation_statuses(srv: ServerProc) -> list[int] | None:
    """The status of every DELETE/PATCH the server answered (from /metrics), once the count has
    stopped growing; None when the metrics extra is not installed (then: wait a moment)."""
    def metrics() -> tuple[int, str]:
        with RegistryClient(srv.addr) as client:
            status, body = client.transport.exchange("GET", "/metrics", [], b"")
        return status, body.decode()

    if metrics()[0] != 200:
        time.sleep(1.0)
        return None
    last: list[int] = []
    stable_since = time.monotonic()
    while time.monotonic() - stable_since < 1.0:
        time.sleep(0.2)
        text = metrics()[1]
        now: list[int] = []
        for line in text.splitlines():
            if line.startswith("port_server_http_requests_total{") and (
                    'method="DELETE"' in line or 'method="PATCH"' in line):
                status = int(line.split('status="')[1].split('"')[0])
                now += [status] * int(float(line.split()[-1]))
        if sorted(now) != sorted(last):
            last, stable_since = now, time.monotonic()
    return last


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

    assert run_as(intruder, hit_and_run) == str(ATTEMPTS * len(attacks))
    answered = settled_mutation_statuses(srv)  # what the server did with what it read
    if answered is not None:
        assert answered and not [s for s in answered if s < 400], answered
        print(f"answered: {sorted(Counter(answered).items())}")
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

    answer = run_as(intruder, ask_and_read)  # the intruder is named, and refused
    assert answer.startswith("HTTP/1.1 403"), answer
    assert "only root may release it" in answer and "root or root" not in answer, answer
    with RegistryClient(srv.addr) as root:
        assert root.list() == before


def test_import_force_owner_and_sync_as_another_user(
        tmp_path: Path, intruder: pwd.struct_passwd) -> None:
    """`portctl import --force`, `allocate --owner root` and a Dokploy sync, each run by a
    non-admin OS user through the real CLI/client: refused, nothing changed; a configured sync
    user may sync, and the audit log names them."""
    srv = make_server(tmp_path, args=["--unix-socket", "none"],
                      config=f'[security]\nsync_users = ["{intruder.pw_name}"]\n').start()
    try:
        with RegistryClient(srv.addr) as root:
            prod = root.allocate(AllocationRequest(
                app="shop", instance="prod", service="db", environment="production")).allocation
            root.sync_dokploy([AllocationRequest(app="site", instance="prod", service="web",
                                                 port=41977, source="dokploy")])
            before = root.list()
        shared = Path(tempfile.mkdtemp(prefix="psi-"))  # readable by the intruder
        shared.chmod(0o755)
        registry = shared / "takeover.json"
        registry.write_text(json.dumps({"allocations": [
            {"app": "evil", "instance": "i", "service": "s", "port": prod.port}]}))
        registry.chmod(0o644)
        r = portctl_as(srv, intruder, "import", str(registry), "--force")
        shutil.rmtree(shared)
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert r.stderr.startswith(f"error: permission denied: port {prod.port} is owned by root;"
                                   " only root may replace it"), r.stderr
        assert "--force replaces only allocations you may change" in r.stderr
        r = portctl_as(srv, intruder, "allocate", "--app", "evil", "--instance", "i",
                       "--service", "t", "--owner", "root")
        assert r.returncode == 1 and "owner: root is another OS user" in r.stderr, r.stderr
        with RegistryClient(srv.addr) as root:
            assert root.list() == before

        def sync_nothing() -> str:
            with RegistryClient(srv.addr) as client:
                return json.dumps(client.sync_dokploy([])["summary"])

        assert json.loads(run_as(intruder, sync_nothing))["remove"] == 1  # a sync user may
        with RegistryClient(srv.addr) as root:
            log = root.log()
        assert (log[-1].action, log[-1].actor) == ("sync", f"{intruder.pw_name} via dokploy-sync")
        assert all(e.actor != "root" for e in log if e.action != "allocate")
    finally:
        srv.stop()


def test_sync_needs_admin_or_a_sync_user(srv: ServerProc, intruder: pwd.struct_passwd) -> None:
    with RegistryClient(srv.addr) as root:
        root.sync_dokploy([AllocationRequest(app="site", instance="prod", service="web",
                                             port=41978, source="dokploy")])
        before = root.list()

    def sync_nothing() -> str:
        from port_server.errors import PortServerError

        try:
            with RegistryClient(srv.addr) as client:
                client.sync_dokploy([])
        except PortServerError as exc:
            return f"{exc.code}: {exc.message}"
        return "synced"

    answer = run_as(intruder, sync_nothing)
    assert answer.startswith("permission_denied: permission denied: only root may sync dokploy"), \
        answer
    with RegistryClient(srv.addr) as root:
        assert root.list() == before
