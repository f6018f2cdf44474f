"""The proxy end to end: a real port-server runs the real Caddy on free ports; real backends.

Names are resolved to 127.0.0.1 here (SNI and Host carry the name), certificates are verified
against Caddy's own root, and HTTP/2 must be negotiated.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import BIN, ServerProc, free_port, make_server, require_module, require_tool

CADDY_HOW = "pip install 'port-server[proxy]' (a packaged Caddy 2.11), or caddy on PATH"


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


def test_status_ca_and_restart_keeps_the_proxy(proxied: ServerProc, backend: int) -> None:
    allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
             "--port", str(backend), "--force")
    ca = proxied.portctl("proxy", "ca")
    assert ca.returncode == 0 and Path(ca.stdout.strip()).is_file()
    root = proxied.data_dir / "proxy/caddy/pki/authorities/local/root.crt"
    assert Path(ca.stdout.strip()) == root
    assert "BEGIN CERTIFICATE" in Path(ca.stdout.strip()).read_text()
    text = proxied.portctl("proxy", "status").stdout
    assert "web.dev.shop.localhost" in text and "proxy running" in text
    proxied.stop()
    proxied.start()
    assert status(proxied)["running"] is True
    assert fetch(proxied, "web.dev.shop.localhost").status_code == 200
    stopped = proxied.portctl("proxy", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert status(proxied)["running"] is False


def test_name_collision_and_invalid_name_are_clear_errors(proxied: ServerProc) -> None:
    allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "my_web",
             "--type", "web")
    clash = proxied.portctl("allocate", "--app", "shop", "--instance", "dev", "--service",
                            "my-web", "--type", "web")
    assert clash.returncode == 1
    assert clash.stderr.startswith("error: shop/dev/my-web would answer at"
                                   " my-web.dev.shop.localhost, which shop/dev/my_web")
    bad = proxied.portctl("allocate", "--app", "shop", "--instance", "dev", "--service",
                          "ab--cd", "--type", "web")
    assert bad.returncode == 2
    assert "service: 'ab--cd' cannot be part of a proxy name" in bad.stderr
    # Nothing was created by either, and --no-http is the way out.
    services = [a["service"] for a in json.loads(proxied.portctl("list", "--json").stdout)]
    assert services == ["my_web"]
    ok = proxied.portctl("allocate", "--app", "shop", "--instance", "dev", "--service",
                         "ab--cd", "--type", "web", "--no-http")
    assert ok.returncode == 0, ok.stderr


def test_hosts_block_written_safely(proxied: ServerProc, backend: int, tmp_path: Path) -> None:
    allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
             "--port", str(backend), "--force")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n::1 localhost\n")
    hosts.chmod(0o644)
    r = proxied.portctl("proxy", "hosts", "--write", "--file", str(hosts))
    assert r.returncode == 0, r.stderr
    text = hosts.read_text()
    assert text.startswith("127.0.0.1 localhost\n::1 localhost\n")
    assert "127.0.0.1 web.dev.shop.localhost\n" in text
    assert hosts.stat().st_mode & 0o777 == 0o644
    proxied.portctl("release", "--app", "shop")
    proxied.portctl("proxy", "hosts", "--write", "--file", str(hosts))
    assert hosts.read_text() == "127.0.0.1 localhost\n::1 localhost\n"


def test_mcp_allocate_and_list_json_carry_the_url(proxied: ServerProc) -> None:
    from port_server.mcp_server import call_tool

    port = proxied.https_port  # type: ignore[attr-defined]
    ok, result = call_tool(proxied.addr, "allocate", {"app": "shop", "instance": "dev",
                                                      "service": "api", "type": "api"})
    assert ok, result
    assert result["proxy_url"] == f"https://api.dev.shop.localhost:{port}/"
    ok, result = call_tool(proxied.addr, "allocate", {"app": "shop", "instance": "dev",
                                                      "service": "db", "type": "db"})
    assert ok and result["proxy_url"] == "" and result["http"] is False
    listed = json.loads(proxied.portctl("list", "--json").stdout)
    assert [a["proxy_url"] for a in listed] == [f"https://api.dev.shop.localhost:{port}/", ""]
    # With the proxy off, no URL is promised.
    proxied.portctl("proxy", "stop")
    listed = json.loads(proxied.portctl("list", "--json").stdout)
    assert [a["proxy_url"] for a in listed] == ["", ""]


def test_doctor_checks_the_proxy(proxied: ServerProc, backend: int) -> None:
    allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
             "--port", str(backend), "--force")
    checks = {c["name"]: c for c in json.loads(proxied.portctl("doctor", "--json").stdout)}
    assert checks["proxy"]["status"] == "ok", checks["proxy"]
    assert "answered 200" in checks["proxy"]["message"]
    # Nobody ran `portctl proxy trust` here: the system does not trust Caddy's root yet.
    assert checks["proxy CA"]["status"] == "warn"
    assert "portctl proxy trust" in checks["proxy CA"]["message"]
    proxied.portctl("proxy", "stop")
    checks = {c["name"]: c for c in json.loads(proxied.portctl("doctor", "--json").stdout)}
    assert checks["proxy"]["status"] == "ok" and "not started" in checks["proxy"]["message"]
    trust = proxied.portctl("proxy", "trust")
    assert trust.returncode == 1 and "portctl proxy start" in trust.stderr


def test_up_and_run_print_the_url(proxied: ServerProc) -> None:
    port = proxied.https_port  # type: ignore[attr-defined]
    project = proxied.tmp / "shop"
    project.mkdir()
    (project / "docker-compose.yml").write_text(
        'services:\n  web:\n    image: nginx\n    ports:\n      - "${WEB_PORT:-3000}:80"\n'
        '  postgres:\n    image: postgres\n    ports:\n      - "${PG_PORT:-5432}:5432"\n')
    (project / ".portctl.toml").write_text(
        '[env]\nOAUTH_REDIRECT = "{web.url}/auth/callback"\nDB_URL = "{postgres.url}"\n')
    up = proxied.portctl("up", str(project), "--app", "shop", "--instance", "dev", "--json")
    assert up.returncode == 0, up.stderr
    urls = {o["service"]: o["proxy_url"] for o in json.loads(up.stdout)}
    assert urls == {"web": f"https://web.dev.shop.localhost:{port}/", "postgres": ""}
    env = (project / ".env").read_text()
    assert f"OAUTH_REDIRECT=https://web.dev.shop.localhost:{port}/auth/callback\n" in env
    assert "DB_URL=http://localhost:" in env  # no name: the port on localhost
    again = proxied.portctl("up", str(project), "--app", "shop", "--instance", "dev")
    assert "web WEB_PORT=" in again.stdout
    assert f"https://web.dev.shop.localhost:{port}/" in again.stdout
    run = proxied.portctl("run", "--app", "blog", "--instance", "main", "--service", "web",
                          "--type", "web", "--", "true")
    assert run.returncode == 0, run.stderr
    assert f"blog/main/web answers at https://web.main.blog.localhost:{port}/" in run.stderr


def test_config_start_runs_the_proxy_with_the_server(tmp_path: Path) -> None:
    require_tool("caddy", CADDY_HOW, paths=[str(BIN / "caddy")])
    https_port, http_port = free_port(), free_port()
    srv = make_server(tmp_path, config=f"[proxy]\nstart = true\nhttps_port = {https_port}\n"
                                        f"http_port = {http_port}\n").start()
    try:
        data = status(srv)
        assert data["running"] is True and data["https_port"] == https_port
        assert data["index"] == f"https://localhost:{https_port}/"
    finally:
        srv.stop()  # the server stops the Caddy it started
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", https_port))  # free again: Caddy is gone


def test_bad_proxy_config_is_refused_naming_the_key(tmp_path: Path) -> None:
    srv = make_server(tmp_path, config="[proxy]\nhttps_prot = 2443\n")
    with pytest.raises(RuntimeError, match=r"proxy\.https_prot: unknown key"):
        srv.start(timeout=10)
    from port_server.errors import InvalidInput
    from port_server.settings import proxy_from_config

    with pytest.raises(InvalidInput, match=r"proxy\.https_prot: unknown key"):
        proxy_from_config({"https_prot": 2443})
    with pytest.raises(InvalidInput, match=r"proxy\.https_port: use a port"):
        proxy_from_config({"https_port": 70000})


def test_a_killed_server_leaves_caddy_to_the_next_one(proxied: ServerProc, backend: int) -> None:
    allocate(proxied, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
             "--port", str(backend), "--force")
    pid = status(proxied)["pid"]
    proxied.kill9()
    assert fetch(proxied, "web.dev.shop.localhost").status_code == 200  # Caddy still serves
    proxied.start()
    data = status(proxied)
    assert data["running"] is True and data["pid"] == pid  # adopted, not a second Caddy
    proxied.portctl("release", "--app", "shop")
    wait_for(proxied, "web.dev.shop.localhost", 404)  # the adopted Caddy got the new routes
    assert proxied.portctl("proxy", "stop").returncode == 0
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()


def test_other_hosts_are_routed_only_with_all_hosts(tmp_path: Path, backend: int) -> None:
    """Two servers share one registry file as two hosts; the proxy of one routes the other's
    allocations only when started with --all-hosts, and follows their changes."""
    require_tool("caddy", CADDY_HOW, paths=[str(BIN / "caddy")])
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    https_port = free_port()
    a = make_server(tmp_path / "a", ["--store", store, "--host-id", "box1"],
                    config=f"[proxy]\nhttps_port = {https_port}\nhttp_port = {free_port()}\n")
    # The other host's id is an address this test can dial: 127.0.0.1.
    b = make_server(tmp_path / "b", ["--store", store, "--host-id", "127.0.0.1"])
    a.https_port = https_port  # type: ignore[attr-defined]
    a.start()
    b.start()
    try:
        allocate(b, "--app", "shop", "--instance", "dev", "--service", "web", "--type", "web",
                 "--port", str(backend), "--force")
        name = "web.dev.shop.127-0-0-1.localhost"
        assert a.portctl("proxy", "start").returncode == 0
        assert status_code(a, name) == 404
        started = a.portctl("proxy", "start", "--all-hosts", "--json")
        assert started.returncode == 0, started.stderr
        assert json.loads(started.stdout)["all_hosts"] is True
        assert fetch(a, name).json()["server"] == "web"
        listed = json.loads(a.portctl("list", "--all-hosts", "--json").stdout)
        assert listed[0]["proxy_url"] == f"https://{name}:{https_port}/"
        assert b.portctl("release", "--app", "shop").returncode == 0
        since = time.monotonic()
        while status_code(a, name) != 404:  # b's change reaches a's proxy by its refresh
            assert time.monotonic() - since < 4, "the other host's release was not seen"
            time.sleep(0.05)
    finally:
        a.portctl("proxy", "stop")
        a.stop()
        b.stop()
        stop_leftover_caddy(a)
