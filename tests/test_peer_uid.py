"""The kernel's word on who is at the other end of a loopback TCP connection."""

from __future__ import annotations

import os
import socket

import pytest

from conftest import require_root
from port_server.scanners.sock_diag import connection_uid
from port_server.server.peer import tcp_peer_uid


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_uid_of_a_connection_from_another_user(host: str) -> None:
    require_root("connect as another uid (nobody)")
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
                with socket.create_connection(server):
                    os.read(read_fd, 1)
            finally:
                os._exit(0)
        conn, client = listener.accept()
        try:
            assert connection_uid(client[:2], server) == 65534
            assert tcp_peer_uid(client[:2], server) == 65534
            assert connection_uid((host, 1), server) is None  # no such connection
        finally:
            os.write(write_fd, b"x")
            conn.close()
            os.waitpid(child, 0)
