"""Browser and network hardening against a real port-server, over raw sockets (what a browser or
an attacker would send): CSRF, DNS rebinding, CORS, slowloris, bearer tokens."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BIN, ServerProc, make_server
from port_server.client import RegistryClient
from port_server.errors import Unauthorized
from port_server.server.daemon import check_listen_address


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    tmp = tmp_path_factory.mktemp("hard")
    server = make_server(tmp, config='[security]\nrequest_timeout = 1.0\n'
                                     'allowed_hosts = ["ports.example.test"]\n').start()
    try:
        yield server
    finally:
        server.stop()


def raw(srv: ServerProc, method: str, path: str, headers: dict[str, str],
        body: bytes = b"") -> tuple[int, dict[str, str], dict[str, object]]:
    """One HTTP/1.1 request exactly as written; returns (status, headers, JSON body)."""
    head = {"Host": f"127.0.0.1:{srv.port}", "Connection": "close", **headers}
    if body:
        head["Content-Length"] = str(len(body))
    data = (f"{method} {path} HTTP/1.1\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    reply = b"".join(chunks)
    head_bytes, _, payload = reply.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    resp_headers = {k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), resp_headers, json.loads(payload) if payload else {}


ALLOC = json.dumps({"app": "web", "instance": "i", "service": "s"}).encode()


def count(srv: ServerProc) -> int:
    with srv.client() as c:
        return len(c.list())


def test_cross_origin_text_plain_post_is_refused(srv: ServerProc) -> None:
    before = count(srv)
    # what fetch(..., {method: "POST", mode: "no-cors", body}) from a web page sends
    status, _, body = raw(srv, "POST", "/v1/allocations",
                          {"Content-Type": "text/plain;charset=UTF-8",
                           "Origin": "https://evil.example"}, ALLOC)
    assert status == 403 and body["code"] == "origin_not_allowed"
    # without an Origin (curl-like), text/plain is still refused: it is not JSON
    status, _, body = raw(srv, "POST", "/v1/allocations", {"Content-Type": "text/plain"}, ALLOC)
    assert status == 415 and body["code"] == "unsupported_media_type"
    # a form post
    status, _, _ = raw(srv, "POST", "/v1/allocations",
                       {"Content-Type": "application/x-www-form-urlencoded"}, b"app=x")
    assert status == 415
    # JSON from another origin (only possible after a preflight we never grant)
    status, _, _ = raw(srv, "POST", "/v1/allocations",
                       {"Content-Type": "application/json", "Origin": "http://evil.example"},
                       ALLOC)
    assert status == 403
    status, _, _ = raw(srv, "POST", "/v1/allocations",
                       {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
                       ALLOC)
    assert status == 403
    assert count(srv) == before
    # the same request from the server's own origin, or from a non-browser client, is fine
    status, _, body = raw(srv, "POST", "/v1/allocations",
                          {"Content-Type": "application/json",
                           "Origin": f"http://127.0.0.1:{srv.port}"}, ALLOC)
    assert status == 201, body
    status, _, _ = raw(srv, "DELETE", f"/v1/allocations/{body['id']}", {})  # bodiless DELETE
    assert status == 200


def test_no_cors_is_granted(srv: ServerProc) -> None:
    status, headers, _ = raw(srv, "OPTIONS", "/v1/allocations",
                             {"Origin": "https://evil.example",
                              "Access-Control-Request-Method": "POST",
                              "Access-Control-Request-Headers": "content-type"})
    assert status >= 400
    assert not any(h.startswith("access-control-") for h in headers)
    _, headers, _ = raw(srv, "GET", "/v1/allocations", {"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in headers


@pytest.mark.parametrize("host", ["evil.example", "evil.example:51234", "127.0.0.1.nip.io",
                                  "10.0.0.1", ""])
def test_rebinding_host_is_refused(srv: ServerProc, host: str) -> None:
    status, _, body = raw(srv, "GET", "/v1/allocations", {"Host": host})
    assert status == 403 and body["code"] == "host_not_allowed"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]:9", "LOCALHOST:1",
                                  "ports.example.test:8080", "app.localhost"])
def test_loopback_and_configured_hosts_are_accepted(srv: ServerProc, host: str) -> None:
    status, _, _ = raw(srv, "GET", "/healthz", {"Host": host})
    assert status == 200


def test_slowloris_does_not_block_others_and_is_cut_off(srv: ServerProc) -> None:
    slow = []
    for _ in range(40):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"POST /v1/allocations HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ")
        slow.append(s)
    # one more that sends its headers, then trickles its body
    body_slow = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    body_slow.sendall(b"POST /v1/allocations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    slow.append(body_slow)
    stop = threading.Event()

    def trickle() -> None:  # a byte now and then keeps a naive idle timer from firing
        while not stop.wait(0.2):
            for s in slow:
                with contextlib.suppress(OSError):
                    s.sendall(b"a")

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        with RegistryClient(srv.addr, timeout=5) as client:
            for _ in range(5):
                client.health()
            client.list()
        assert time.monotonic() - started < 2.0
        # request_timeout = 1s: every slow connection is closed by the server
        deadline = time.monotonic() + 5
        closed = 0
        for s in slow:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                while s.recv(4096):
                    pass
                closed += 1
            except (ConnectionResetError, BrokenPipeError):
                closed += 1
            except TimeoutError:
                pass
        assert closed == len(slow)
    finally:
        stop.set()
        thread.join()
        for s in slow:
            s.close()


def test_oversized_headers_are_refused(srv: ServerProc) -> None:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            for _ in range(300):
                s.sendall(b"X-Filler: " + b"a" * 1000 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            reply = s.recv(4096)
        except ConnectionResetError:
            reply = b""
        assert reply == b"" or reply.split()[1] in (b"400", b"431")


def test_token_path(tmp_path: Path) -> None:
    token_file = tmp_path / "secret" / "token"
    srv = make_server(tmp_path, args=["--token-file", str(token_file)]).start()
    try:
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600  # created by the server
        token = token_file.read_text().strip()
        assert len(token) >= 32
        with RegistryClient(srv.addr, token="") as anon, pytest.raises(Unauthorized):
            anon.list()
        with RegistryClient(srv.addr, token="x" * len(token)) as wrong, \
                pytest.raises(Unauthorized):
            wrong.list()
        status, headers, _ = raw(srv, "GET", "/healthz", {})
        assert status == 401 and headers.get("www-authenticate") == "Bearer"
        r = srv.portctl("list")
        assert r.returncode == 1 and "bearer token" in r.stderr
        ok = srv.portctl("allocate", "--app", "t", "--instance", "i", "--service", "s",
                         env={"PORT_SERVER_TOKEN": token})
        assert ok.returncode == 0, ok.stderr
        via_file = srv.portctl("--token-file", str(token_file), "list", "--json")
        assert via_file.returncode == 0 and json.loads(via_file.stdout)[0]["app"] == "t"
        # the token holder is trusted like root when the kernel cannot name it
        who = json.loads(srv.portctl("whoami", "--json", env={"PORT_SERVER_TOKEN": token}
                                     ).stdout)
        assert who["uid"] == os.geteuid()  # still identified by the kernel on loopback
    finally:
        srv.stop()


def test_non_loopback_bind_needs_a_token_file(tmp_path: Path) -> None:
    srv = make_server(tmp_path)
    r = subprocess.run([str(BIN / "port-server"), "--host", "0.0.0.0", "--port", str(srv.port)],
                       env=srv.env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--token-file" in r.stderr
    check_listen_address("0.0.0.0", tmp_path / "token")  # allowed with one
    check_listen_address("::1")
