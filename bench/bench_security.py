"""The security checks' costs: the caller lookup per connection, allocate over TCP vs Unix socket.

The TCP lookup asks the kernel for the client's socket over netlink (sock_diag, an exact lookup)
once per connection, when it is accepted; the Unix socket's SO_PEERCRED likewise.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import median_ms, running_server, table
from port_server.client import RegistryClient
from port_server.models import AllocationRequest
from port_server.server.peer import tcp_peer_uid


def lookup_ms(extra_sockets: int) -> float:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(extra_sockets + 8)
    held = []
    for _ in range(extra_sockets):
        c = socket.create_connection(server.getsockname())
        held.append((c, server.accept()[0]))
    client = socket.create_connection(server.getsockname())
    conn, addr = server.accept()
    try:
        assert tcp_peer_uid(addr, conn.getsockname()) == os.geteuid()
        return median_ms(lambda: tcp_peer_uid(addr, conn.getsockname()), 200)
    finally:
        for a, b in held:
            a.close()
            b.close()
        client.close()
        conn.close()
        server.close()


def allocate_ms(client: RegistryClient, tag: str) -> float:
    counter = iter(range(10**6))
    return median_ms(lambda: client.allocate(AllocationRequest(
        app=f"bench{tag}", instance="i", service=f"s{next(counter)}")), 200)


def fresh_health(addr: str) -> None:
    """One request on a connection of its own: the accept-time identity lookup included."""
    with RegistryClient(addr) as client:
        client.health()


def main() -> None:
    rows: list[tuple[object, ...]] = [
        (f"TCP peer uid lookup (sock_diag), {n} other connections", f"{lookup_ms(n):.3f}")
        for n in (0, 500)]
    with running_server() as (addr, env):
        with RegistryClient(addr) as tcp:
            rows.append(("allocate over loopback TCP (kept-alive)", f"{allocate_ms(tcp, 't'):.2f}"))
        rows.append(("new TCP connection + GET /healthz (uid read at accept)",
                     f"{median_ms(lambda: fresh_health(addr), 100):.2f}"))
        sock = str(Path(env["PORT_SERVER_HOME"]) / "port-server.sock")
        if "XDG_RUNTIME_DIR" in os.environ:
            sock = str(Path(os.environ["XDG_RUNTIME_DIR"]) / "port-server.sock")
        if Path(sock).exists():
            with RegistryClient(f"unix:{sock}") as unix:
                rows.append(("allocate over the Unix socket (kept-alive)",
                             f"{allocate_ms(unix, 'u'):.2f}"))
        with RegistryClient(addr) as tcp:
            log_ms = median_ms(lambda: tcp.log(), 50)
            rows.append(("GET /v1/log (all ~400 entries)", f"{log_ms:.2f}"))
    table(("operation", "median ms"), rows)


if __name__ == "__main__":
    main()
