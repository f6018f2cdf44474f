"""The client on the wire: https:// speaks TLS with the certificate verified (never plain HTTP with
the bearer token in it), tokens that would add header lines are refused before anything is sent,
and a dropped kept-alive connection is retried only for requests that are safe to repeat.

The servers here are small socket servers that record what they receive (a TLS-terminating proxy
in front of port-server, a server that drops connections), so the test sees the bytes on the
wire."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import BIN, isolated_env, require_tool
from port_server.client import RegistryClient
from port_server.errors import InvalidInput, ServerUnreachable

TOKEN = "s3cret-token-0123456789abcdef"
OK = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n"
      b'{"status":"ok"}')


class Recorder:
    """A loopback TCP server that hands each connection to ``handle`` and keeps what it read."""

    def __init__(self, handle: Callable[[socket.socket, Recorder], None],
                 wrap: ssl.SSLContext | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.handle, self.wrap = handle, wrap
        self.received: list[bytes] = []
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            try:
                if self.wrap is not None:
                    conn = self.wrap.wrap_socket(conn, server_side=True)
                conn.settimeout(5)
                self.handle(conn, self)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def read_request(self, conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].lower()
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.startswith(b"content-length:")), 0)
        while len(data.split(b"\r\n\r\n", 1)[1]) < length:
            data += conn.recv(65536)
        self.received.append(data)
        return data

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    openssl = require_tool("openssl", "apt-get install openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[Recorder]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)

    def answer(conn: socket.socket, rec: Recorder) -> None:
        while rec.read_request(conn):
            conn.sendall(OK)

    server = Recorder(answer, wrap=context)
    yield server
    server.close()


def test_https_speaks_tls_and_verifies_the_certificate(
        tls_server: Recorder, certificate: tuple[Path, Path]) -> None:
    addr = f"https://127.0.0.1:{tls_server.port}"
    with RegistryClient(addr, token=TOKEN, ca_file=str(certificate[0])) as client:
        assert client.health() == {"status": "ok"}
        assert client.health() == {"status": "ok"}  # kept alive, over TLS
    assert len(tls_server.received) == 2 and tls_server.connections == 1
    assert f"Authorization: Bearer {TOKEN}".encode() in tls_server.received[0]
    with pytest.raises(ServerUnreachable, match="TLS certificate is not trusted") as err, \
            RegistryClient(addr, token=TOKEN) as client:  # the system's CAs do not know it
        client.health()
    assert "--ca-file" in err.value.message
    assert len(tls_server.received) == 2  # nothing was sent without a verified certificate


def test_https_to_a_plain_listener_never_sends_the_token_in_clear() -> None:
    seen: list[bytes] = []

    def record(conn: socket.socket, rec: Recorder) -> None:
        seen.append(conn.recv(65536))
        conn.sendall(OK)  # plain HTTP back, as a non-TLS server would

    plain = Recorder(record)
    try:
        with pytest.raises(ServerUnreachable, match="TLS handshake failed"), \
                RegistryClient(f"https://127.0.0.1:{plain.port}", token=TOKEN) as client:
            client.health()
    finally:
        plain.close()
    assert seen and seen[0][:1] == b"\x16"  # a TLS handshake record, not "GET /healthz"
    assert TOKEN.encode() not in seen[0] and b"Authorization" not in seen[0]


def test_ca_file_errors_are_clear(tls_server: Recorder, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("nonsense\n")
    with pytest.raises(InvalidInput, match=r"--ca-file .*not-a-ca.pem: cannot load it"), \
            RegistryClient(f"https://127.0.0.1:{tls_server.port}", ca_file=str(bad)) as c:
        c.health()


def test_ssl_is_imported_only_for_https() -> None:
    code = ("import sys; from port_server.client import RegistryClient;"
            " c = RegistryClient('127.0.0.1:9', timeout=0.5)\n"
            "try: c.health()\nexcept Exception: pass\n"
            "print('ssl' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("token", ["abc\r\nX-Admin: yes", "abc\ndef", "abc\x00", "a b"])
def test_tokens_that_would_add_header_lines_are_refused(token: str) -> None:
    with pytest.raises(InvalidInput, match="control character or space") as err:
        RegistryClient("127.0.0.1:9", token=token)
    assert err.value.field == "token"


def test_portctl_refuses_a_crlf_token_before_sending_anything(tmp_path: Path) -> None:
    def answer(conn: socket.socket, rec: Recorder) -> None:
        rec.read_request(conn)
        conn.sendall(OK)

    plain = Recorder(answer)
    try:
        env = isolated_env(tmp_path, PORT_SERVER_ADDR=f"127.0.0.1:{plain.port}",
                           PORT_SERVER_TOKEN="abc\r\nX-Injected: 1")
        r = subprocess.run([str(BIN / "portctl"), "list"], env=env, capture_output=True,
                           text=True, timeout=30)
    finally:
        plain.close()
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("error: PORT_SERVER_TOKEN: the token contains a control"), r.stderr
    assert plain.connections == 0


def dropping_server(answer_first: bool = True) -> Recorder:
    """Answers the first request of each connection (keep-alive), then reads the next request
    and closes without answering: a connection that dropped after the request was sent."""
    def handle(conn: socket.socket, rec: Recorder) -> None:
        if answer_first and rec.read_request(conn):
            conn.sendall(OK)
        rec.read_request(conn)

    return Recorder(handle)


def test_a_dropped_connection_is_not_retried_for_a_post() -> None:
    server = dropping_server()
    try:
        with RegistryClient(f"127.0.0.1:{server.port}") as client:
            client.health()
            with pytest.raises(ServerUnreachable, match="may or may not have been applied"):
                client.call("POST", "/v1/allocations", {"app": "a", "instance": "i",
                                                        "service": "s"})
    finally:
        server.close()
    posts = [r for r in server.received if r.startswith(b"POST")]
    assert len(posts) == 1  # sent once, never repeated


def test_a_dropped_connection_is_retried_for_a_get() -> None:
    server = dropping_server()
    try:
        with RegistryClient(f"127.0.0.1:{server.port}") as client:
            client.health()
            assert client.health() == {"status": "ok"}  # dropped, retried on a new one
    finally:
        server.close()
    assert server.connections == 2 and len(server.received) == 3


def test_a_connection_closed_while_idle_is_replaced_before_sending() -> None:
    """The server closed the idle connection: the POST goes out once, on a fresh one."""
    def answer_once(conn: socket.socket, rec: Recorder) -> None:
        if rec.read_request(conn):
            conn.sendall(OK)

    server = Recorder(answer_once)
    try:
        with RegistryClient(f"127.0.0.1:{server.port}") as client:
            client.health()
            deadline_ok = False
            for _ in range(50):  # wait until our end sees the server's FIN
                if client.transport._sock is None or _readable(client.transport._sock):
                    deadline_ok = True
                    break
                threading.Event().wait(0.02)
            assert deadline_ok
            status, body = client.call("POST", "/v1/x", {"a": 1})
            assert (status, body) == (200, {"status": "ok"})
    finally:
        server.close()
    assert [r.split(b" ", 1)[0] for r in server.received] == [b"GET", b"POST"]
    assert json.loads(server.received[1].split(b"\r\n\r\n", 1)[1]) == {"a": 1}


def _readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])
