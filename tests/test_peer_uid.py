"""The kernel's word on who is at the other end of a loopback TCP connection, and when that word
is no identity at all (no match, an orphaned socket, time-wait): then the caller is unknown,
never root."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import require_root
from port_server.models import Actor
from port_server.server.peer import (
    PEER_EXTENSION,
    Peer,
    _proc_hex,
    accepted_peer,
    caller_of,
    proc_peer_uid,
    tcp_peer_uid,
    trusted_uid,
)
from port_server.system.sock_diag import connection_owner


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s


def in_child_as(uid: int, fn: object) -> None:
    """Run ``fn()`` in a forked child with ``uid``; wait for it."""
    child = os.fork()
    if child == 0:
        try:
            os.setuid(uid)
            fn()  # type: ignore[operator]
        finally:
            os._exit(0)
    os.waitpid(child, 0)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_uid_of_a_connection_from_another_user(host: str) -> None:
    require_root("connect as another uid (nobody, 65534)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as listener:
        listener.bind((host, 0))
        listener.listen()
        server = listener.getsockname()[:2]
        read_fd, write_fd = os.pipe()
        child = os.fork()
        if child == 0:  # connect as uid 65534, wait until the parent has looked, exit
            try:
                os.setuid(65534)
                with socket.socket(family) as c:
                    c.connect(server)
                    os.read(read_fd, 1)
            finally:
                os._exit(0)
        conn, client = listener.accept()
        try:
            owner = connection_owner(client[:2], server)
            assert owner is not None and owner.uid == 65534 and owner.inode != 0
            assert tcp_peer_uid(client[:2], server) == 65534
            assert accepted_peer(conn, client, conn.getsockname()).uid == 65534
            assert connection_owner((host, 1), server) is None  # no such connection
            assert tcp_peer_uid((host, 1), server) is None
        finally:
            os.write(write_fd, b"x")
            conn.close()
            os.waitpid(child, 0)


def test_a_client_that_sent_and_closed_before_accept_is_unknown(listener: socket.socket) -> None:
    """The attack: connect, send, close at once. Its socket is orphaned (inode 0); the kernel's
    uid for it is 0 on older kernels. That is nobody, not root."""
    server = listener.getsockname()

    def hit_and_run() -> None:
        c = socket.socket()
        c.connect(server)
        c.sendall(b"DELETE /v1/allocations/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        c.close()

    if os.geteuid() == 0:
        in_child_as(65534, hit_and_run)
    else:
        hit_and_run()
    conn, client = listener.accept()
    with conn:
        owner = connection_owner(client, server)
        assert owner is not None and owner.inode == 0
        assert tcp_peer_uid(client, server) is None
        assert accepted_peer(conn, client, conn.getsockname()) == Peer("tcp", uid=None)


def test_a_time_wait_socket_is_unknown(listener: socket.socket) -> None:
    server = listener.getsockname()
    client_sock = socket.create_connection(server)
    conn, client = listener.accept()
    assert tcp_peer_uid(client, server) == os.geteuid()  # alive: the kernel vouches
    client_sock.close()  # the client closes first ...
    time.sleep(0.05)
    conn.close()  # ... then we do: the client's end waits in TIME_WAIT, uid 0, inode 0
    deadline = time.monotonic() + 5
    owner = connection_owner(client, server)
    while owner is not None and owner.state != 6 and time.monotonic() < deadline:
        time.sleep(0.05)
        owner = connection_owner(client, server)
    assert owner is not None and owner.state == 6 and owner.inode == 0, owner
    assert owner.uid == 0  # what the old code took for root
    assert tcp_peer_uid(client, server) is None


def test_trusted_uid_rules() -> None:
    assert trusted_uid(1, 1000, 4242) == 1000  # established, held by a process
    assert trusted_uid(1, 0, 4242) == 0  # really root
    assert trusted_uid(4, 0, 0) is None  # orphaned (closed, FIN_WAIT)
    assert trusted_uid(6, 0, 0) is None  # time-wait
    assert trusted_uid(6, 1000, 77) is None  # time-wait, whatever it says


def proc_line(client: tuple[str, int], server: tuple[str, int], state: int, uid: int,
              inode: int) -> str:
    return (f"   0: {_proc_hex(*client)} {_proc_hex(*server)} {state:02X} 00000000:00000000"
            f" 00:00000000 00000000 {uid:5d}        0 {inode} 1 0000000000000000 20 4 30 10 -1\n")


def test_proc_fallback_edge_cases(tmp_path: Path) -> None:
    client, server = ("127.0.0.1", 40000), ("127.0.0.1", 51234)
    table = tmp_path / "tcp"
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt" \
             "   uid  timeout inode\n"
    other = proc_line(("127.0.0.1", 40001), server, 1, 1000, 99)
    cases = [
        (proc_line(client, server, 1, 1000, 1234), 1000),  # established, held
        (proc_line(client, server, 6, 0, 0), None),  # time-wait
        (proc_line(client, server, 4, 0, 0), None),  # orphaned after close
        (proc_line(client, server, 1, 0, 0), None),  # inode 0 whatever the state
        ("", None),  # no match
        ("   0: garbage\n", None),  # a malformed line
    ]
    for line, expected in cases:
        table.write_text(header + other + line)
        assert proc_peer_uid(str(table), client, server) == expected, line
    assert proc_peer_uid(str(tmp_path / "missing"), client, server) is None
    six = ("::1", 40000), ("::1", 51234)
    table.write_text(header + proc_line(*six, 1, 1000, 5))
    assert proc_peer_uid(str(table), *six) == 1000


def test_non_loopback_and_nonsense_addresses_are_unknown() -> None:
    assert tcp_peer_uid(("192.0.2.7", 40000), ("192.0.2.1", 51234)) is None
    assert tcp_peer_uid(("testclient", 50000), ("127.0.0.1", 80)) is None
    assert accepted_peer(None, None, None) == Peer("tcp")
    assert accepted_peer(None, ("127.0.0.1",), ("127.0.0.1", 1)) == Peer("tcp")


def test_dual_stack_listener_sees_ipv4_clients_as_mapped_addresses() -> None:
    with socket.socket(socket.AF_INET6) as listener:
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listener.bind(("::", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            conn, client = listener.accept()
            with conn:
                assert client[0] == "::ffff:127.0.0.1"
                assert tcp_peer_uid(client[:2], conn.getsockname()[:2]) == os.geteuid()


def test_unix_socket_peer_is_the_kernels_credentials() -> None:
    a, b = socket.socketpair()
    with a, b:
        peer = accepted_peer(a, "", "")
        assert peer.kind == "unix" and peer.uid == os.geteuid() and peer.pid == os.getpid()


def test_caller_of_never_looks_up_late_and_never_defaults_to_root() -> None:
    live = {"client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}
    assert caller_of(live, token_ok=False) == Actor("unknown", uid=None, via="tcp")
    assert caller_of(live, token_ok=True) == Actor("token", uid=None, admin=True, via="token")
    unknown = {**live, "extensions": {PEER_EXTENSION: Peer("tcp", uid=None)}}
    assert caller_of(unknown, token_ok=False).uid is None
    known = {**live, "extensions": {PEER_EXTENSION: Peer("unix", uid=0)}}
    assert caller_of(known, token_ok=False) == Actor("root", uid=0, via="unix")


@pytest.mark.parametrize("impl", ["httptools", "h11"])
def test_both_http_protocols_carry_the_accept_time_identity(impl: str, tmp_path: Path) -> None:
    """The daemon's protocol (httptools with its deadlines, or h11 where httptools is missing)
    puts the identity read at accept time on every request of the connection."""
    import asyncio
    import json
    import threading

    import uvicorn

    from conftest import isolated_env
    from port_server.server.app import create_app
    from port_server.server.daemon import hardened_protocol, peer_protocol
    from port_server.service import RegistryService
    from port_server.settings import load_settings
    from port_server.store.sqlite import SQLiteStore

    if impl == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        protocol = peer_protocol(H11Protocol)
    else:
        protocol = hardened_protocol(5.0)
    settings = load_settings(env=isolated_env(tmp_path), config_path=tmp_path / "none.toml")
    store = SQLiteStore(tmp_path / "r.db")
    app = create_app(RegistryService(store, settings), settings)
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=protocol, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        with socket.create_connection(sock.getsockname()) as c:
            c.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := c.recv(65536):
                answer += chunk
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert (body["uid"], body["via"]) == (os.geteuid(), "tcp"), body
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        store.close()
