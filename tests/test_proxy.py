"""The proxy end to end: a real port-server runs the real Caddy on free ports; real backends.

Names are resolved to 127.0.0.1 here (SNI and Host carry the name), certificates are verified
against Caddy's own root, and HTTP/2 must be negotiated.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from conftest import ServerProc, require_module
from proxy_helpers import (
    allocate,
    fetch,
    tls_context,
    wait_for,
)


def test_name_answers_over_https_with_http2_and_verified_cert(proxied: ServerProc,
                                                              backend: int) -> None:
    alloc = allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "web",
                     "--type", "web", "--port", str(backend), "--force")
    port = proxied.https_port  # type: ignore[attr-defined]
    assert alloc["http"] is True
    assert alloc["proxy_url"] == f"https://web.dev.shop.localhost:{port}/"
    resp = fetch(proxied, "web.dev.shop.localhost", "/hello")
    assert resp.status_code == 200
    assert resp.http_version == "HTTP/2"
    assert resp.json()["server"] == "web" and resp.json()["path"] == "/hello"
    # The backend sees the name (OAuth redirect URIs and cookies need it).
    assert resp.json()["host"].startswith("web.dev.shop.localhost")
    # The instance's and the app's default service (web) answer at the shorter names.
    assert fetch(proxied, "dev.shop.localhost").json()["server"] == "web"
    assert fetch(proxied, "shop.localhost").json()["server"] == "web"


def test_allocate_prints_url_and_route_answers_within_a_second(proxied: ServerProc,
                                                               backend: int) -> None:
    r = proxied.portctl("allocate", "--app", "shop", "--instance", "dev", "--service", "web",
                        "--type", "web", "--port", str(backend), "--force")
    returned = time.monotonic()
    assert r.returncode == 0, r.stderr
    port = proxied.https_port  # type: ignore[attr-defined]
    assert f"url: https://web.dev.shop.localhost:{port}/" in r.stdout
    wait_for(proxied, "web.dev.shop.localhost", 200, since=returned, http2=False)
    listed = proxied.portctl("list")
    assert f"https://web.dev.shop.localhost:{port}/" in listed.stdout


def test_release_makes_the_name_404_within_a_second(proxied: ServerProc, backend: int) -> None:
    allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
             "--port", str(backend), "--force")
    allocate(proxied, "--app", "blog", "--instance", "main", "--service", "api",
             "--type", "api")
    assert fetch(proxied, "web.dev.shop.localhost").status_code == 200
    r = proxied.portctl("release", "--app", "shop")
    released = time.monotonic()
    assert r.returncode == 0, r.stderr
    wait_for(proxied, "web.dev.shop.localhost", 404, since=released)
    resp = fetch(proxied, "web.dev.shop.localhost")
    # The 404 page lists the names that exist, and routes nowhere else.
    assert "api.main.blog.localhost" in resp.text
    assert "web.dev.shop.localhost" not in resp.text


def test_unknown_name_is_404_listing_names_and_http_redirects(proxied: ServerProc,
                                                              backend: int) -> None:
    allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
             "--port", str(backend), "--force")
    resp = fetch(proxied, "nothing.here.localhost")
    assert resp.status_code == 404
    assert "web.dev.shop.localhost" in resp.text
    index = fetch(proxied, "localhost")
    assert index.status_code == 200 and "web.dev.shop.localhost" in index.text
    http_port = proxied.http_port  # type: ignore[attr-defined]
    https_port = proxied.https_port  # type: ignore[attr-defined]
    with socket.create_connection(("127.0.0.1", http_port), timeout=5) as sock:
        sock.sendall(b"GET /a?b=1 HTTP/1.1\r\nHost: web.dev.shop.localhost\r\n"
                     b"Connection: close\r\n\r\n")
        head = sock.recv(4096).decode()
    assert head.startswith("HTTP/1.1 308")
    assert f"Location: https://web.dev.shop.localhost:{https_port}/a?b=1" in head


def test_websocket_round_trip(proxied: ServerProc) -> None:
    require_module("websockets", "pip install websockets (uvicorn[standard] brings it)")
    from websockets.sync.client import connect
    from websockets.sync.server import serve

    def echo(conn: Any) -> None:
        for message in conn:
            conn.send(f"echo: {message}")

    with serve(echo, "127.0.0.1", 0) as ws_server:
        threading.Thread(target=ws_server.serve_forever, daemon=True).start()
        ws_port = ws_server.socket.getsockname()[1]
        allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "ws",
                 "--http", "--port", str(ws_port), "--force")
        port = proxied.https_port  # type: ignore[attr-defined]
        ctx = tls_context(proxied)
        ctx.set_alpn_protocols(["http/1.1"])
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        with connect(f"wss://ws.dev.shop.localhost:{port}/", sock=sock, ssl=ctx,
                     open_timeout=5) as ws:
            ws.send("hello")
            assert ws.recv(timeout=5) == "echo: hello"
        ws_server.shutdown()


def test_server_sent_events_are_not_buffered(proxied: ServerProc, backend: int) -> None:
    allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
             "--port", str(backend), "--force")
    fetch(proxied, "web.dev.shop.localhost")
    port = proxied.https_port  # type: ignore[attr-defined]
    ctx = tls_context(proxied)
    ctx.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with ctx.wrap_socket(raw, server_hostname="web.dev.shop.localhost") as sock:
        start = time.monotonic()
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: web.dev.shop.localhost\r\n\r\n")
        seen = b""
        while b"tick 0" not in seen:
            seen += sock.recv(4096)
        # The first event arrives before the backend has finished (it takes 1.2 s).
        assert time.monotonic() - start < 0.8
        assert b"text/event-stream" in seen


def test_no_http_has_no_name_and_update_http_adds_it(proxied: ServerProc, backend: int) -> None:
    alloc = allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "web",
                     "--type", "web", "--no-http", "--port", str(backend), "--force")
    assert alloc["http"] is False and alloc["proxy_url"] == ""
    assert fetch(proxied, "web.dev.shop.localhost").status_code == 404
    r = proxied.portctl("update", "--id", str(alloc["id"]), "--http")
    assert r.returncode == 0, r.stderr
    wait_for(proxied, "web.dev.shop.localhost", 200)
